"""Benchmark the Pillow resizer (happypath_workflow.imaging.render) against sharp.

    python bench/resize_bench.py [--rounds N] [--iterations N] [--quick | --smoke] [--cpu N]

What it does (see bench/README.md for the goals and the latest results):
- installs sharp from npm into bench/.sharp (a throwaway, git-ignored folder) unless it is there;
- runs each implementation -- the Python resizer, sharp the usual way (one pipeline per output) and
  sharp's fastest form (one decode) -- in its own worker process pinned to one core with taskset,
  photo by photo, interleaved in rounds (the order of the implementations rotates every round);
  each worker does one unmeasured warm-up and then N measured iterations and reports per-iteration
  CPU time (process-wide, all threads), wall time and its peak RSS;
- prints per photo the median and minimum CPU ms, the ratios to both sharp forms, the SSIM of the
  tile and the scaled image before encoding against a full-resolution LANCZOS reference, the output
  sizes and the peak RSS, then how noisy the run was and whether each goal holds;
- then wall latency with two cores (Python 1 vs 2 workers, sharp with 2 threads), the HEIC figures
  (decode share, two-core wall time, SSIM, peak RSS), the 12 MP photo saved as PNG (CPU and peak RSS,
  ours and sharp's), the peak RSS of the resize function's process as deployed (its handler's imports and TLS
  context, in a venv of the functions' requirements only: bench/.function-venv) and the import time of the
  resizer module.

The Python workers are bench/resize_worker.py: it imports only the resizer (never numpy, none of this
driver's modules), from bytecode as `make build` deploys it, so its peak RSS is the resizer's process.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import Any

from resize_worker import SOURCE_PATHS, add_source_paths  # bench/ is on sys.path: this file runs as a script from there

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PHOTOS = ROOT.parent / "shared" / "photos"
SHARP_DIR = BENCH / ".sharp"
FUNCTION_VENV = BENCH / ".function-venv"  # only what the deployed functions install (throwaway, git-ignored)
FUNCTION_REQUIREMENTS = [
    ROOT / "backend" / "shared" / "requirements.txt",
    ROOT / "workflows" / "functions" / "requirements.txt",
]
WORKER = BENCH / "resize_worker.py"

PILLOW, SHARP_ONE, SHARP_USUAL = "pillow", "sharp-one", "sharp-usual"
HEIC_DECODE = "heic-decode"  # libheif's tile decodes alone, for the HEIC's decode share
IMPLEMENTATIONS = [PILLOW, SHARP_ONE, SHARP_USUAL]
OUTPUTS = ["tile_jpeg", "tile_webp", "scaled_jpeg", "scaled_webp"]

GOAL_VS_ONE = 0.8
GOAL_VS_USUAL = 0.5
GOAL_SSIM = 0.99
GOAL_RSS_MB = 64


def _import_resizer() -> Any:
    add_source_paths()
    from happypath_workflow import imaging

    return imaging


# --- driver side ----------------------------------------------------------------------------------------


@dataclass
class Samples:
    cpu: list[float] = field(default_factory=list)
    wall: list[float] = field(default_factory=list)
    round_medians: list[float] = field(default_factory=list)
    rss_kb: int = 0
    ready_rss_kb: int = 0  # before the first decode (Python workers only)
    bytes: dict[str, int] = field(default_factory=dict)
    ssim: tuple[float, float] | None = None

    def add(self, report: dict[str, Any]) -> None:
        """Take in one worker's report (a round of one photo with one implementation)."""
        self.cpu += report["cpu_ms"]
        self.wall += report["wall_ms"]
        self.round_medians.append(statistics.median(report["cpu_ms"]))
        self.rss_kb = max(self.rss_kb, report["max_rss_kb"])
        self.ready_rss_kb = max(self.ready_rss_kb, report.get("ready_rss_kb", 0))  # sharp's workers: not measured
        self.bytes = report["bytes"]


def ensure_sharp() -> None:
    if (SHARP_DIR / "node_modules" / "sharp" / "package.json").exists():
        return
    npm = shutil.which("npm")
    if npm is None:
        sys.exit("npm is needed to install sharp (node >= 20)")
    SHARP_DIR.mkdir(exist_ok=True)
    shutil.copy(BENCH / "package.json", SHARP_DIR / "package.json")
    print(f"installing sharp into {SHARP_DIR} ...", flush=True)
    subprocess.run([npm, "install", "--no-audit", "--no-fund", "--loglevel=error"], cwd=SHARP_DIR, check=True)


def ensure_function_venv() -> Path:
    """A venv holding the shared layer's and the workflow functions' requirements and nothing else, for the
    resize function's process as deployed: this project's own venv has SAM CLI's and moto's packages too, some
    of which botocore loads when they are there (awscrt, cryptography). Returns its Python."""
    python = FUNCTION_VENV / "bin" / "python"
    stamp = FUNCTION_VENV / ".requirements"
    wanted = "".join(path.read_text() for path in FUNCTION_REQUIREMENTS)
    if python.exists() and stamp.exists() and stamp.read_text() == wanted:
        return python
    print(f"installing the functions' requirements into {FUNCTION_VENV} ...", flush=True)
    shutil.rmtree(FUNCTION_VENV, ignore_errors=True)
    subprocess.run([sys.executable, "-m", "venv", str(FUNCTION_VENV)], check=True)
    requirements = [arg for path in FUNCTION_REQUIREMENTS for arg in ("-r", str(path))]
    subprocess.run(
        [str(python), "-m", "pip", "install", "-q", "--disable-pip-version-check", *requirements], check=True
    )
    stamp.write_text(wanted)
    return python


def pinned(cpus: str, command: list[str]) -> list[str]:
    taskset = shutil.which("taskset")
    return [taskset, "-c", cpus, *command] if taskset else command


SHARP_EXTRA_ARGS: list[str] = []  # --sharp-webp-effort (what-if runs only)


def run_worker(
    implementation: str,
    photo: Path,
    iterations: int,
    cpus: str,
    *,
    workers: int = 1,
    dump: str | None = None,
    deployed: Path | None = None,
) -> dict[str, Any]:
    """One worker's report. `deployed`: the Python of ensure_function_venv, for the resize function's process."""
    if implementation in (PILLOW, HEIC_DECODE):
        options = {"photo": str(photo), "iterations": iterations, "workers": workers, "as_deployed": bool(deployed)}
        python = str(deployed or sys.executable)
        command = [python, str(WORKER), json.dumps({**options, "decode_only": implementation == HEIC_DECODE})]
    else:
        mode = "one" if implementation == SHARP_ONE else "usual"
        command = ["node", str(BENCH / "sharp_resize.mjs"), "--mode", mode, "--photo", str(photo)]
        command += ["--iterations", str(iterations), "--concurrency", str(workers), *SHARP_EXTRA_ARGS]
        if dump:
            command += ["--dump", dump]
    env = {**os.environ, "SHARP_DIR": str(SHARP_DIR)}
    if implementation not in (SHARP_ONE, SHARP_USUAL):
        env.update(allocator_environment())
        compile_bytecode()
    if deployed:
        env.update(deployed_environment())
    completed = subprocess.run(pinned(cpus, command), capture_output=True, text=True, check=False, env=env)
    if completed.returncode != 0:
        raise RuntimeError(f"{implementation} on {photo.name} failed:\n{completed.stderr}")
    result: dict[str, Any] = json.loads(completed.stdout)
    return result


@lru_cache(maxsize=1)
def compile_bytecode() -> None:
    """Compile the project's code as `make build` does (hash-based .pyc beside the sources, git-ignored), so
    Python workers import it from bytecode like the deployed function. Imported from source instead (where
    PYTHONDONTWRITEBYTECODE is set, as on the CI host), the compiler's garbage stays in the heap and later
    allocations reuse it, which changes the peak RSS measured."""
    command = [sys.executable, "-m", "compileall", "-q", "--invalidation-mode", "checked-hash"]
    subprocess.run([*command, *map(str, SOURCE_PATHS)], check=True)


@lru_cache(maxsize=1)
def allocator_environment() -> dict[str, str]:
    """The glibc malloc settings template.yaml gives the resize function: Python workers run with them too."""
    from happypath_local.stack import translate

    template, _ = translate(ROOT / "template.yaml", {})
    variables: dict[str, str] = template["Resources"]["ResizeFunction"]["Properties"]["Environment"]["Variables"]
    return {name: value for name, value in variables.items() if name.startswith("MALLOC_")}


def benchmark_photos() -> tuple[list[Path], list[str]]:
    """Every JPEG in the shared photos that the resizer accepts (the others are listed with the reason)."""
    imaging = _import_resizer()
    accepted, excluded = [], []
    for path in sorted(PHOTOS.glob("*.jpg")) + sorted((PHOTOS / "orientation").glob("*.jpg")):
        try:
            imaging.inspect_image(path.read_bytes())
        except imaging.ImageRejected as rejected:
            excluded.append(f"{path.name}: {rejected.reason}")
        else:
            accepted.append(path)
    return accepted, excluded


# --- SSIM -----------------------------------------------------------------------------------------------


def ssim(a: Any, b: Any) -> float:
    """Mean SSIM (Wang et al. 2004) on luma: 11x11 gaussian window, sigma 1.5, K1 0.01, K2 0.03."""
    import numpy as np

    x, y = (np.asarray(img.convert("L"), dtype=np.float64) for img in (a, b))
    size, sigma = 11, 1.5
    taps = np.exp(-((np.arange(size) - size // 2) ** 2) / (2 * sigma**2))
    taps /= taps.sum()

    def blur(plane: Any) -> Any:  # separable 'valid' convolution
        rows = sum(w * plane[i : plane.shape[0] - size + 1 + i] for i, w in enumerate(taps))
        return sum(w * rows[:, i : rows.shape[1] - size + 1 + i] for i, w in enumerate(taps))

    c1, c2 = (0.01 * 255) ** 2, (0.03 * 255) ** 2
    mx, my = blur(x), blur(y)
    vx, vy, cov = blur(x * x) - mx * mx, blur(y * y) - my * my, blur(x * y) - mx * my
    value = ((2 * mx * my + c1) * (2 * cov + c2)) / ((mx * mx + my * my + c1) * (vx + vy + c2))
    return float(value.mean())


def reference_images(data: bytes) -> dict[str, Any]:
    """Full-size decode, upright, in sRGB, then LANCZOS straight to each output (the resizer's geometry)."""
    from io import BytesIO

    from PIL import Image, ImageCms, ImageOps

    if not data.startswith(b"\xff\xd8"):  # HEIC: libheif applies the container's rotation itself
        import pillow_heif

        pillow_heif.register_heif_opener(thumbnails=False, depth_images=False, aux_images=False)
    image = ImageOps.exif_transpose(Image.open(BytesIO(data))).convert("RGB")
    icc = image.info.get("icc_profile")
    if icc:  # the whole image, before resizing: the ideal the resizer's per-output conversion approximates
        profile = ImageCms.ImageCmsProfile(BytesIO(icc))
        if "srgb" not in ImageCms.getProfileDescription(profile).lower().replace(" ", ""):
            srgb = ImageCms.createProfile("sRGB")
            converted = ImageCms.profileToProfile(image, profile, srgb, renderingIntent=ImageCms.Intent.PERCEPTUAL)
            assert converted is not None  # None only with inPlace=True
            image = converted
    width, height = image.size
    side = min(width, height)
    box = ((width - side) / 2, (height - side) / 2, (width + side) / 2, (height + side) / 2)
    return {
        "tile": image.resize((400, 400), Image.Resampling.LANCZOS, box=box),
        "scaled": image.resize((600, round(600 * height / width)), Image.Resampling.LANCZOS),
    }


def quality(photo: Path, sharp_dumps: dict[str, str]) -> dict[str, tuple[float, float]]:
    from PIL import Image

    imaging = _import_resizer()
    data = photo.read_bytes()
    reference = reference_images(data)
    ours = imaging.rendition_images(data)
    scores = {PILLOW: (ssim(ours["tile"], reference["tile"]), ssim(ours["scaled"], reference["scaled"]))}
    for implementation, prefix in sharp_dumps.items():
        info = json.loads(Path(prefix + ".json").read_text())
        images = {
            name: Image.frombytes(
                "RGB", (info[name]["width"], info[name]["height"]), Path(f"{prefix}.{name}.raw").read_bytes()
            )
            for name in ("tile", "scaled")
        }
        scores[implementation] = (ssim(images["tile"], reference["tile"]), ssim(images["scaled"], reference["scaled"]))
    return scores


# --- reporting ------------------------------------------------------------------------------------------


def quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    position = q * (len(ordered) - 1)
    low = int(position)
    high = min(low + 1, len(ordered) - 1)
    return ordered[low] + (ordered[high] - ordered[low]) * (position - low)


def print_table(results: dict[str, dict[str, Samples]]) -> list[str]:
    failures: list[str] = []
    header = (
        f"{'photo':<28} {'impl':<11} {'cpu med':>8} {'cpu min':>8} {'spread':>7} {'/one':>5} {'/usual':>6} "
        f"{'ssim tile':>9} {'scaled':>7}  {'tile jpg':>8} {'webp':>6} {'scaled jpg':>10} {'webp':>6} {'rss MB':>6}"
    )
    print(header)
    print("-" * len(header))
    for photo, by_impl in results.items():
        one_med = statistics.median(by_impl[SHARP_ONE].cpu)
        usual_med = statistics.median(by_impl[SHARP_USUAL].cpu)
        for implementation in IMPLEMENTATIONS:
            samples = by_impl[implementation]
            median = statistics.median(samples.cpu)
            spread = (quantile(samples.cpu, 0.9) - quantile(samples.cpu, 0.1)) / median
            ssim_text = f"{samples.ssim[0]:>9.4f} {samples.ssim[1]:>7.4f}" if samples.ssim else f"{'':>9} {'':>7}"
            sizes = samples.bytes
            print(
                f"{photo if implementation == PILLOW else '':<28} {implementation:<11} {median:>8.1f} "
                f"{min(samples.cpu):>8.1f} {spread:>6.0%} {median / one_med:>5.2f} {median / usual_med:>6.2f} "
                f"{ssim_text}  {sizes['tile_jpeg']:>8} {sizes['tile_webp']:>6} {sizes['scaled_jpeg']:>10} "
                f"{sizes['scaled_webp']:>6} {samples.rss_kb / 1024:>6.1f}"
            )
        ours = by_impl[PILLOW]
        if statistics.median(ours.cpu) > GOAL_VS_ONE * one_med:
            failures.append(f"{photo}: CPU {statistics.median(ours.cpu) / one_med:.2f}x sharp one-decode")
        if statistics.median(ours.cpu) > GOAL_VS_USUAL * usual_med:
            failures.append(f"{photo}: CPU {statistics.median(ours.cpu) / usual_med:.2f}x sharp usual")
        sharp_bytes = {
            output: min(by_impl[SHARP_ONE].bytes[output], by_impl[SHARP_USUAL].bytes[output]) for output in OUTPUTS
        }
        failures += quality_failures(photo, ours.ssim, ours.bytes, sharp_bytes)
    return failures


def quality_failures(
    label: str, ssim: tuple[float, float] | None, ours: dict[str, int], sharp: dict[str, int]
) -> list[str]:
    """The SSIM and size goals missed: `ssim` of the tile and the scaled image, bytes of each output, ours and
    sharp's (the smaller of its forms measured)."""
    failures = [f"{label}: SSIM {min(ssim):.4f}"] if ssim and min(ssim) < GOAL_SSIM else []
    return failures + [
        f"{label}: {output} {ours[output]} bytes > sharp's {sharp[output]}"
        for output in OUTPUTS
        if ours[output] > sharp[output]
    ]


def print_noise(results: dict[str, dict[str, Samples]]) -> None:
    spreads, round_swings, ratio_ranges = [], [], []
    for photo, by_impl in results.items():
        for implementation, samples in by_impl.items():
            median = statistics.median(samples.cpu)
            spreads.append(((quantile(samples.cpu, 0.9) - quantile(samples.cpu, 0.1)) / median, photo, implementation))
            if len(samples.round_medians) > 1:
                swing = (max(samples.round_medians) - min(samples.round_medians)) / median
                round_swings.append((swing, photo, implementation))
        ratios = [
            ours / sharp
            for ours, sharp in zip(by_impl[PILLOW].round_medians, by_impl[SHARP_ONE].round_medians, strict=True)
        ]
        ratio_ranges.append((min(ratios), max(ratios), photo))
    spreads.sort()
    print(
        f"\nnoise: per-iteration CPU spread (p90-p10)/median: median {spreads[len(spreads) // 2][0]:.1%}, "
        f"worst {spreads[-1][0]:.1%} ({spreads[-1][1]}, {spreads[-1][2]})"
    )
    if round_swings:
        round_swings.sort()
        print(
            f"       round-to-round swing of the medians: median {round_swings[len(round_swings) // 2][0]:.1%}, "
            f"worst {round_swings[-1][0]:.1%} ({round_swings[-1][1]}, {round_swings[-1][2]})"
        )
        low = min(r[0] for r in ratio_ranges)
        high = max(r[1] for r in ratio_ranges)
        print(f"       pillow/sharp-one ratio of round medians, over all photos and rounds: {low:.2f} .. {high:.2f}")


def wall_latency(photos: list[Path], iterations: int, cpus: str) -> dict[str, float]:
    """Print wall latency with two cores; return each photo's peak RSS in MB over the 1- and 2-thread runs."""
    print(f"\nwall latency with two cores (taskset -c {cpus}), median ms of {iterations} after a warm-up:")
    print(f"{'photo':<28} {'pillow 1 thread':>15} {'pillow 2 threads':>16} {'sharp-one 2 threads':>19}  pillow rss MB")
    peaks: dict[str, float] = {}
    for photo in photos:
        one = run_worker(PILLOW, photo, iterations, cpus, workers=1)
        two = run_worker(PILLOW, photo, iterations, cpus, workers=2)
        sharp = run_worker(SHARP_ONE, photo, iterations, cpus, workers=2)
        peaks[photo.name] = max(one["max_rss_kb"], two["max_rss_kb"]) / 1024
        print(
            f"{photo.name:<28} {statistics.median(one['wall_ms']):>15.1f} {statistics.median(two['wall_ms']):>16.1f} "
            f"{statistics.median(sharp['wall_ms']):>19.1f}  {one['max_rss_kb'] / 1024:.1f} / "
            f"{two['max_rss_kb'] / 1024:.1f}"
        )
    return peaks


HEIC = PHOTOS / "iphone_13_pro_max.HEIC"
HEIC_WARM_RENDERS = 20
"""Renders per HEIC worker at least: a warm process's peak creeps up over many renders if the allocator
fragments, so one render would not show it."""


def heic_report(iterations: int, cpu: str, cpus: str, *, warm_renders: int = HEIC_WARM_RENDERS) -> tuple[float, float]:
    """Print the HEIC figures; return the lower SSIM and the peak RSS in MB."""
    renders = max(iterations, warm_renders)
    whole = run_worker(PILLOW, HEIC, renders, cpu)
    decode = run_worker(HEIC_DECODE, HEIC, iterations, cpu)
    two_cores = run_worker(PILLOW, HEIC, renders, cpus, workers=2)
    total, decoding = statistics.median(whole["cpu_ms"]), statistics.median(decode["cpu_ms"])
    peak_mb = max(whole["max_rss_kb"], two_cores["max_rss_kb"]) / 1024
    tile, scaled = quality(HEIC, {})[PILLOW]
    print(
        f"\nHEIC ({HEIC.name}, one core): render {total:.0f} ms CPU median, of which libheif's tile decode "
        f"{decoding:.0f} ms ({decoding / total:.0%}); wall with two cores (taskset -c {cpus}, each thread "
        f"decoding the next tile left) {statistics.median(two_cores['wall_ms']):.0f} ms vs "
        f"{statistics.median(whole['wall_ms']):.0f} ms on one; SSIM tile {tile:.4f}, scaled {scaled:.4f} (vs "
        f"full-size LANCZOS after the sRGB conversion); peak RSS {whole['first_rss_kb'] / 1024:.1f} MB after "
        f"the first render, {peak_mb:.1f} MB over {renders + 1} on one core and on two "
        f"({_env_text(allocator_environment())}) (sharp's prebuilt libvips has no HEVC decoder: no comparison)"
    )
    return min(tile, scaled), peak_mb


RESAVED_SOURCE = "42_IndexError.jpg"
"""The 12 MP photo, saved again in the forms the shared photos lack: phones send baseline JPEG or HEIC, but
screenshots and edited photos come as PNG, and photos saved by editors and web tools as progressive JPEG."""


def resaved_report(
    iterations: int, cpu: str, cpus: str, scratch: Path
) -> tuple[dict[str, float], dict[str, Path], list[str]]:
    """Print the figures of the 12 MP photo saved as PNG (RGB, RGBA) and as progressive JPEG (4:2:0, 4:4:4),
    ours and sharp-one's side by side; return our peak RSS in MB for each, one or two threads, the files
    (saved in `scratch`), and the goals a progressive JPEG missed (SSIM, sizes).

    libjpeg would hold every DCT coefficient of a progressive JPEG until its last scan, whatever the scale it
    decodes at (37 MB for 12 MP at 4:2:0, 73 MB at 4:4:4): the resizer decodes those with its own decoder
    (`progressive_jpeg`), which keeps only the frequencies the reduced scale shows."""
    from PIL import Image

    print(f"\n{RESAVED_SOURCE} saved again (CPU: one core, median of {iterations}; peak RSS: one thread / two):")
    peaks: dict[str, float] = {}
    paths: dict[str, Path] = {}
    failures: list[str] = []
    with Image.open(PHOTOS / RESAVED_SOURCE) as photo:
        exif = photo.info.get("exif", b"")
        rgb = photo.convert("RGB")
    forms: dict[str, tuple[str, Image.Image, dict[str, Any]]] = {
        "PNG RGB": ("photo-rgb.png", rgb, {}),
        "PNG RGBA": ("photo-rgba.png", rgb.convert("RGBA"), {}),
    }
    for subsampling, chroma in ((2, "4:2:0"), (0, "4:4:4")):  # 4:4:4: what editors write at top quality
        params: dict[str, Any] = {"quality": 92, "progressive": True, "subsampling": subsampling, "exif": exif}
        forms[f"progressive {chroma}"] = (f"photo-progressive-{subsampling}.jpg", rgb, params)
    for label, (name, image, params) in forms.items():
        path = scratch / name
        image.save(path, **params)
        paths[label] = path
        ours, sharp = run_worker(PILLOW, path, iterations, cpu), run_worker(SHARP_ONE, path, iterations, cpu)
        two_threads = run_worker(PILLOW, path, iterations, cpus, workers=2)
        ours_ms, sharp_ms = statistics.median(ours["cpu_ms"]), statistics.median(sharp["cpu_ms"])
        one_mb, two_mb = ours["max_rss_kb"] / 1024, two_threads["max_rss_kb"] / 1024
        peaks[label] = max(one_mb, two_mb)
        print(
            f"  {label:<17} ({path.stat().st_size / 2**20:.1f} MB): pillow {ours_ms:.0f} ms CPU, peak RSS "
            f"{one_mb:.1f} / {two_mb:.1f} MB; sharp-one {sharp_ms:.0f} ms, {sharp['max_rss_kb'] / 1024:.1f} MB; "
            f"ratio {ours_ms / sharp_ms:.2f}"
        )
        if label.startswith("progressive"):
            scores = quality(path, {})[PILLOW]
            print(
                f"  {'':<17} SSIM tile {scores[0]:.4f}, scaled {scores[1]:.4f}; bytes ours / sharp's: "
                + ", ".join(f"{output} {ours['bytes'][output]} / {sharp['bytes'][output]}" for output in OUTPUTS)
            )
            failures += quality_failures(f"{RESAVED_SOURCE} as {label}", scores, ours["bytes"], sharp["bytes"])
    return peaks, paths, failures


def deployed_environment() -> dict[str, str]:
    """What Lambda sets that changes what the handler's imports load: LAMBDA_TASK_ROOT (the function's code, as
    in Lambda) puts the X-Ray SDK in its Lambda mode (without it the SDK makes an X-Ray client of its own,
    ~20 MB); a region for S3."""
    return {
        "LAMBDA_TASK_ROOT": str(ROOT / "workflows" / "functions"),
        "AWS_LAMBDA_FUNCTION_NAME": "ResizeFunction",
        "AWS_DEFAULT_REGION": os.environ.get("AWS_DEFAULT_REGION", "us-east-1"),
        "POWERTOOLS_SERVICE_NAME": "resize",
        "POWERTOOLS_METRICS_NAMESPACE": "HappyPath/bench",
    }


def deployed_report(iterations: int, cpu: str, cpus: str, resaved: dict[str, Path]) -> dict[str, float]:
    """Print the peak RSS of the resize function's process as deployed (its handler module's imports and its TLS
    context, from a venv of the functions' requirements), one thread / two, and return it per photo in MB."""
    python = ensure_function_venv()
    print(
        "\nthe resize function's process as deployed (handler imports: pydantic, Powertools with the X-Ray SDK, the S3"
        " object client, no boto3; its TLS context; only the functions' requirements installed), peak RSS one thread"
        " / two:"
    )
    peaks: dict[str, float] = {}
    photos = {"42_IndexError.jpg (12 MP JPEG)": PHOTOS / "42_IndexError.jpg", HEIC.name: HEIC}
    photos |= {f"{RESAVED_SOURCE} as {label}": path for label, path in resaved.items()}
    for label, path in photos.items():
        one = run_worker(PILLOW, path, iterations, cpu, deployed=python)
        two = run_worker(PILLOW, path, iterations, cpus, workers=2, deployed=python)
        one_mb, two_mb = one["max_rss_kb"] / 1024, two["max_rss_kb"] / 1024
        peaks[label] = max(one_mb, two_mb)
        print(f"  {label}: {one_mb:.1f} / {two_mb:.1f} MB; {one['ready_rss_kb'] / 1024:.1f} MB before the first decode")
    return peaks


def _env_text(variables: dict[str, str]) -> str:
    return " ".join(f"{name}={value}" for name, value in variables.items()) or "default allocator"


def import_time(samples: int = 7) -> None:
    """Import time of the resizer module and the cost of its first call, in fresh interpreters."""
    photo = PHOTOS / "jolla.jpg"
    code = (
        "import time; t0 = time.perf_counter(); import PIL.Image; t1 = time.perf_counter(); "
        "import happypath_workflow.imaging as m; t2 = time.perf_counter(); "
        f"data = open({str(photo)!r}, 'rb').read(); t3 = time.perf_counter(); m.render(data, workers=1); "
        "t4 = time.perf_counter(); m.render(data, workers=1); t5 = time.perf_counter(); "
        "print((t1 - t0) * 1e3, (t2 - t1) * 1e3, (t4 - t3) * 1e3, (t5 - t4) * 1e3)"
    )
    with tempfile.TemporaryDirectory(prefix="resize-bench-pyc-") as cache:
        base_env = {**os.environ, "PYTHONPATH": os.pathsep.join(str(p) for p in SOURCE_PATHS)}
        base_env.pop("PYTHONDONTWRITEBYTECODE", None)
        variants = {
            "from .pyc": {**base_env, "PYTHONPYCACHEPREFIX": cache},
            "from source": {**base_env, "PYTHONDONTWRITEBYTECODE": "1", "PYTHONPYCACHEPREFIX": cache + "-none"},
        }
        subprocess.run([sys.executable, "-c", code], env=variants["from .pyc"], capture_output=True, check=True)
        print(f"\nimport time and first call, fresh interpreter, median of {samples} (wall ms):")
        for label, env in variants.items():
            runs = []
            for _ in range(samples):
                out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True, env=env)
                runs.append([float(value) for value in out.stdout.split()])
            pil, module, first, warm = (statistics.median(column) for column in zip(*runs, strict=True))
            print(
                f"  {label:<11}: import PIL.Image {pil:.1f}, then imaging {module:.1f}; "
                f"first render of {photo.name} {first:.0f} vs warm {warm:.0f}"
            )
    print("  (libheif, through ctypes, and ImageCms load only when a HEIC or a colour profile arrives)")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--rounds", type=int, default=None, help="interleaved rounds (default 5, quick 2)")
    parser.add_argument("--iterations", type=int, default=None, help="measured runs per worker (default 5, quick 3)")
    parser.add_argument("--quick", action="store_true", help="fewer rounds and photos, for a first look")
    parser.add_argument(
        "--smoke",
        action="store_true",
        help="jolla.jpg only, every measurement once: checks that the benchmark runs; its figures mean nothing",
    )
    parser.add_argument("--cpu", default=str((os.cpu_count() or 1) - 1), help="the core to pin workers to")
    parser.add_argument(
        "--sharp-webp-effort", type=int, help="what-if: run sharp's WebP at this effort instead of its default 4"
    )
    args = parser.parse_args()
    if args.sharp_webp_effort is not None:
        SHARP_EXTRA_ARGS.extend(["--webp-effort", str(args.sharp_webp_effort)])
    rounds = 1 if args.smoke else args.rounds or (2 if args.quick else 5)
    iterations = 1 if args.smoke else args.iterations or (3 if args.quick else 5)

    ensure_sharp()
    photos, excluded = benchmark_photos()
    if args.quick:
        photos = [p for p in photos if p.parent == PHOTOS or p.name == "Landscape_6.jpg"]
    if args.smoke:
        photos = [p for p in photos if p.name == "jolla.jpg"]
    print(
        f"{len(photos)} photos x {len(IMPLEMENTATIONS)} implementations x {rounds} rounds x {iterations} "
        f"iterations, pinned to CPU {args.cpu}; excluded: {', '.join(excluded) or 'none'}",
        flush=True,
    )

    results = {photo.name: {impl: Samples() for impl in IMPLEMENTATIONS} for photo in photos}
    with tempfile.TemporaryDirectory(prefix="resize-bench-") as scratch:
        dumps: dict[str, dict[str, str]] = {photo.name: {} for photo in photos}
        started = time.monotonic()
        for round_number in range(rounds):
            order = IMPLEMENTATIONS[round_number % 3 :] + IMPLEMENTATIONS[: round_number % 3]
            for photo in photos:
                for implementation in order:
                    dump = None
                    if round_number == 0 and implementation != PILLOW:
                        dump = dumps[photo.name][implementation] = str(Path(scratch) / f"{photo.stem}-{implementation}")
                    report = run_worker(implementation, photo, iterations, args.cpu, dump=dump)
                    results[photo.name][implementation].add(report)
                    if dump:
                        Path(dump + ".json").write_text(json.dumps(report["dump"]))
            print(f"  round {round_number + 1}/{rounds} done ({time.monotonic() - started:.0f} s)", flush=True)
        for photo in photos:
            for implementation, score in quality(photo, dumps[photo.name]).items():
                results[photo.name][implementation].ssim = score

    versions = run_worker(SHARP_ONE, photos[0], 1, args.cpu)["versions"]
    print(
        f"\nCPU ms per photo (4 outputs), one core; sharp {versions['sharp']} / libvips {versions['vips']}, "
        f"concurrency 1, cache off; /one and /usual: ratio of medians; spread: (p90-p10)/median; "
        f"ssim: before encoding, vs full-size LANCZOS (sharp's tile is cropped after resizing, so it is offset "
        f"by up to a pixel and scores lower)\n"
    )
    failures = print_table(results)
    print_noise(results)

    wall_photos = [p for p in photos if p.name in ("42_IndexError.jpg", "jolla.jpg", "HMD_Nokia_8.3_5G.jpg")]
    two_cpus = "0,1" if (os.cpu_count() or 1) > 1 else "0"
    threaded_peaks = wall_latency(wall_photos or photos[:2], iterations * 2, two_cpus)
    rss_12mp = results.get("42_IndexError.jpg", {}).get(PILLOW)
    if rss_12mp is not None:
        peak_mb = max(rss_12mp.rss_kb / 1024, threaded_peaks.get("42_IndexError.jpg", 0.0))
        print(
            f"  42_IndexError.jpg (12 MP JPEG): peak RSS {peak_mb:.1f} MB, one or two threads; "
            f"{rss_12mp.ready_rss_kb / 1024:.1f} MB before the first decode (interpreter, Pillow, resizer, upload)"
        )
        if peak_mb > GOAL_RSS_MB:
            failures.append(f"42_IndexError.jpg: peak RSS {peak_mb:.1f} MB")
    heic_iterations, warm_renders = (1, 1) if args.smoke else (max(3, iterations // 2), HEIC_WARM_RENDERS)
    heic_ssim, heic_rss_mb = heic_report(heic_iterations, args.cpu, two_cpus, warm_renders=warm_renders)
    if heic_ssim < GOAL_SSIM:
        failures.append(f"iphone_13_pro_max.HEIC: SSIM {heic_ssim:.4f}")
    if heic_rss_mb > GOAL_RSS_MB:  # also a 12 MP photo
        failures.append(f"iphone_13_pro_max.HEIC: peak RSS {heic_rss_mb:.0f} MB")
    with tempfile.TemporaryDirectory(prefix="resize-bench-resaved-") as resaved_dir:
        resaved_peaks, resaved, resaved_failures = resaved_report(iterations, args.cpu, two_cpus, Path(resaved_dir))
        failures += resaved_failures
        for label, peak_mb in resaved_peaks.items():
            if peak_mb > GOAL_RSS_MB:
                failures.append(f"{RESAVED_SOURCE} as {label}: peak RSS {peak_mb:.1f} MB")
        progressive = {label: path for label, path in resaved.items() if label.startswith("progressive")}
        for label, peak_mb in deployed_report(iterations, args.cpu, two_cpus, progressive).items():
            if peak_mb > GOAL_RSS_MB:
                failures.append(f"{label}, the resize function's process as deployed: peak RSS {peak_mb:.1f} MB")
    import_time(samples=1 if args.smoke else 7)

    print("\ngoals: CPU <= 0.8x sharp one-decode and <= 0.5x sharp usual on every photo; SSIM >= 0.99;")
    print("       every output no larger than sharp's (smaller of its two forms); 12 MP peak RSS <= 64 MB")
    if failures:
        print("NOT MET:\n  " + "\n  ".join(failures))
    else:
        print("all met")


if __name__ == "__main__":
    main()
