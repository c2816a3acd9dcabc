"""Fixtures for the unit tests."""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from types import ModuleType

import pytest


@pytest.fixture
def unloadable_library(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[[ModuleType], None]]:
    """Points a native library's module (`LIBRARY`, cached `_library`) at a file that is no library for this
    machine, as a build for another system would be; its cache is cleared again afterwards."""
    pointed: list[ModuleType] = []

    def point(module: ModuleType) -> None:
        not_a_library = tmp_path / module.LIBRARY.name
        not_a_library.write_bytes(b"\x7fELF built for something else")
        monkeypatch.setattr(module, "LIBRARY", not_a_library)
        module._library.cache_clear()
        pointed.append(module)

    yield point
    for module in pointed:
        module._library.cache_clear()
