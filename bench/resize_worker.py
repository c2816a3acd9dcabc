"""One benchmark worker: render a photo N times with the Pillow resizer and print the figures as JSON.

Started by bench/resize_bench.py, one process per photo and round. It imports what a Lambda running the
resizer imports and little else (no numpy, none of the driver's modules), so its peak RSS is the resizer's
process: the interpreter, Pillow, the resizer and the upload.

    python bench/resize_worker.py '{"photo": PATH, "iterations": N, "workers": N, "decode_only": false}'

With "as_deployed": true (run by a venv holding only the functions' requirements), the process is the resize
function's as Lambda runs it: its handler module (pydantic, Powertools, the S3 object client) and its TLS context
are loaded before the upload is read, as in a warm function.

(One JSON argument rather than argparse, which would load shutil, bz2 and lzma into the process measured.)
"""

from __future__ import annotations

import json
import sys
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
SOURCE_PATHS = [ROOT / "backend" / "shared", ROOT / "workflows" / "functions"]


def peak_rss_kb() -> int:
    """This process's own peak RSS.

    Not `ru_maxrss`: Linux carries the parent's peak (the driver's, with numpy loaded) across fork and exec,
    so every worker would report at least the driver's size. VmHWM belongs to the address space exec made.
    """
    try:
        with open("/proc/self/status") as status:
            for line in status:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1])
    except OSError:  # not Linux
        pass
    import resource

    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss


def add_source_paths() -> None:
    """Make the project's Lambda code (the resizer and the shared package) importable."""
    for path in reversed(SOURCE_PATHS):
        sys.path.insert(0, str(path))


def main(argv: list[str]) -> None:
    if len(argv) != 1:
        sys.exit(__doc__)
    options: dict[str, Any] = json.loads(argv[0])
    iterations: int = options.get("iterations", 5)
    workers: int = options.get("workers", 1)

    add_source_paths()
    if options.get("as_deployed"):
        import happypath_workflow.handlers  # noqa: F401  (the module Lambda loads for the resize function)
        from happypath import s3_objects

        s3_objects.tls_context()  # made at the first upload's read, kept by a warm function (no request is sent here)
    data = Path(options["photo"]).read_bytes()
    if options.get("decode_only"):  # HEIC: libheif's tile decodes alone, every tile decoded as the resizer decodes it
        from happypath_workflow import libheif

        def run() -> Any:
            with libheif.HeifImage(data) as heif:
                for row in range(heif.tiling.rows):
                    for column in range(heif.tiling.columns):
                        heif.tile(column, row, planar=heif.ycbcr_420).close()
            return None
    else:
        from happypath_workflow import imaging

        def run() -> Any:
            return imaging.render(data, workers=workers)

    ready_rss_kb = peak_rss_kb()  # before any decode: interpreter, Pillow, the resizer, the upload (and the handler's)
    run()  # warm-up
    first_rss_kb = peak_rss_kb()
    cpu_ms, wall_ms, result = [], [], None
    for _ in range(iterations):
        cpu0, wall0 = time.process_time(), time.perf_counter()
        result = run()
        wall_ms.append((time.perf_counter() - wall0) * 1000)
        cpu_ms.append((time.process_time() - cpu0) * 1000)
    report: dict[str, Any] = {
        "cpu_ms": cpu_ms,
        "wall_ms": wall_ms,
        "max_rss_kb": peak_rss_kb(),
        "first_rss_kb": first_rss_kb,
        "ready_rss_kb": ready_rss_kb,
    }
    if result is not None:
        report["bytes"] = {
            "tile_jpeg": len(result["tile"].jpeg),
            "tile_webp": len(result["tile"].webp),
            "scaled_jpeg": len(result["scaled"].jpeg),
            "scaled_webp": len(result["scaled"].webp),
        }
    print(json.dumps(report))


if __name__ == "__main__":
    main(sys.argv[1:])
