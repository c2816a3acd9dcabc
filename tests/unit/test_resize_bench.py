"""The resizer benchmark's own measurements (bench/resize_bench.py, bench/resize_worker.py): what it reports
must be true."""

import json
import re
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
BENCH = ROOT / "bench" / "resize_bench.py"
WORKER = ROOT / "bench" / "resize_worker.py"
PHOTOS = ROOT.parent / "shared" / "photos"

pytestmark = pytest.mark.skipif(not PHOTOS.is_dir(), reason="needs ../shared/photos")


def _worker_report_from_a_large_parent(parent_mb: int) -> dict:
    """Run one benchmark worker from a parent process that has touched `parent_mb` MB first."""
    parent = (
        "import subprocess, sys\n"
        f"ballast = bytearray({parent_mb} * 1024 * 1024)\n"
        "for i in range(0, len(ballast), 4096): ballast[i] = 1\n"
        f"options = {json.dumps({'photo': str(PHOTOS / 'jolla.jpg'), 'iterations': 2})!r}\n"
        f"command = [sys.executable, {str(WORKER)!r}, options]\n"
        "print(subprocess.run(command, capture_output=True, text=True, check=True).stdout)\n"
    )
    completed = subprocess.run([sys.executable, "-c", parent], capture_output=True, text=True, check=True)
    return json.loads(completed.stdout)


def test_a_worker_reports_its_own_peak_memory_not_its_parents() -> None:
    # Linux carries a parent's peak RSS across fork and exec into getrusage's ru_maxrss: a worker
    # started by a 300 MB driver would claim 300 MB. The resizer itself needs a few tens of MB.
    report = _worker_report_from_a_large_parent(300)
    assert report["max_rss_kb"] < 150 * 1024
    assert len(report["cpu_ms"]) == 2
    assert all(size > 0 for size in report["bytes"].values())


def test_a_worker_loads_the_resizer_and_none_of_the_drivers_modules() -> None:
    # Its peak RSS is reported as the resizer's process: numpy (the driver's SSIM) or the driver's own
    # modules would add megabytes that a Lambda running the resizer does not have.
    code = (
        "import runpy, sys\n"
        f"sys.argv = [{str(WORKER)!r}, {json.dumps({'photo': str(PHOTOS / 'jolla.jpg'), 'iterations': 1})!r}]\n"
        f"runpy.run_path({str(WORKER)!r}, run_name='__main__')\n"
        "print(' '.join(sorted(sys.modules)))\n"
    )
    completed = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    report_line, modules_line = completed.stdout.strip().splitlines()
    modules = set(modules_line.split())
    assert "happypath_workflow.imaging" in modules
    assert not modules & {"numpy", "resize_bench", "argparse", "statistics", "tempfile", "shutil"}
    report = json.loads(report_line)
    assert 0 < report["ready_rss_kb"] <= report["first_rss_kb"] <= report["max_rss_kb"]


def test_the_quality_reference_of_a_heic_is_upright_and_converted_to_srgb() -> None:
    from PIL import Image, ImageChops, ImageStat

    sys.path.insert(0, str(BENCH.parent))
    try:
        import resize_bench
    finally:
        sys.path.remove(str(BENCH.parent))
    data = (PHOTOS / "iphone_13_pro_max.HEIC").read_bytes()
    reference = resize_bench.reference_images(data)
    assert reference["tile"].size == (400, 400)
    assert reference["scaled"].size == (600, 800)  # portrait: libheif applied the container's rotation

    import io

    unconverted = Image.open(io.BytesIO(data)).convert("RGB").resize((600, 800), Image.Resampling.LANCZOS)
    # Display P3 -> sRGB moves saturated colours by several levels; an unconverted reference would not.
    difference = ImageStat.Stat(ImageChops.difference(reference["scaled"], unconverted)).mean
    assert max(difference) > 1.0


def test_the_benchmark_runs_to_the_end() -> None:
    # The benchmark is the resizer's evidence and nothing else runs it: a change that broke its driver once
    # went unseen until the next full run. A smoke run (jolla.jpg, every measurement once, sharp installed
    # from npm as for a real run) must print every report and the goals.
    completed = subprocess.run(
        [sys.executable, str(BENCH), "--smoke"], capture_output=True, text=True, timeout=900, cwd=ROOT, check=False
    )
    assert completed.returncode == 0, completed.stderr[-4000:]
    report = completed.stdout
    lines = [line.strip() for line in report.splitlines()]
    for table_row in ("jolla.jpg", "sharp-one", "sharp-usual"):
        assert any(line.startswith(table_row + " ") for line in lines), table_row
    parts = ("noise:", "wall latency", "HEIC (", "progressive 4:4:4", "as deployed", "import time", "goals:")
    for report_part in parts:
        assert report_part in report, report_part
    # The function's process as deployed: each photo's line, with a figure before the first decode.
    deployed = report[report.index("as deployed") :]
    for photo in ("42_IndexError.jpg (12 MP JPEG)", "iphone_13_pro_max.HEIC", "progressive 4:2:0"):
        assert re.search(rf"{re.escape(photo)}: [\d.]+ / [\d.]+ MB; [\d.]+ MB before the first decode", deployed), photo
