"""The project's native libraries (`workflows/native`, built by `make native`), loaded through ctypes."""

from __future__ import annotations

import ctypes
import logging
import os
from pathlib import Path

__all__ = ["library_path", "load"]

logger = logging.getLogger(__name__)


def library_path(name: str) -> Path:
    """Where `make native` puts library `name` for this machine (x86_64, or aarch64: Lambda's arm64). Named
    `.so.1`: `sam build`'s Python builder leaves `*.so` files out of the bundle (it expects them from wheels)."""
    return Path(__file__).with_name(f"_{name}.{os.uname().machine}.so.1")


def load(path: Path, instead: str) -> ctypes.CDLL | None:
    """The library at `path`, or None if it is not built or does not load here (logged, with what the caller
    does `instead`)."""
    if not path.exists():
        return None
    try:
        return ctypes.CDLL(str(path))
    except OSError as exc:  # built for another system
        logger.warning("%s not loaded, %s: %s", path.name, instead, exc)
        return None
