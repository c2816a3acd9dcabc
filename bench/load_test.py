"""Bounded load test of the local runtime, on loopback only: reads with wrk, then a burst of real uploads.

    .venv/bin/python bench/load_test.py [--seconds 20] [--connections 32] [--uploads 200]

1. Starts the local runtime (`python -m happypath_local serve --fresh --no-persist --moderation
   pass-through` on free 127.0.0.1 ports, as tests/happypath_testkit/runtime.py does) and seeds a few places.
2. a) wrk (`-d <seconds> -c <connections> -t 2 --latency`) on two read endpoints, one after the other:
      GET /places?lat&lng&radius and GET /places/{id}. Prints requests/s, p50/p90/p99 and the errors
      (non-2xx responses and socket errors): they must be 0. Without wrk it says so and exits 2.
   b) A burst of N uploads through the whole pipeline (upload form from the API -> multipart POST to the
      S3 endpoint -> S3 notification -> EventBridge -> Step Functions -> status endpoint), submitted by a
      bounded thread pool, real photos from ../shared/photos (DSCN0010.jpg among them: REJECTED TOO_SMALL).
      Prints the final states reached, the uploads lost (not final after --timeout: must be 0), total time,
      throughput and the runtime's RSS.
   c) Stops the runtime with Ctrl-C (SIGINT).
Exits 1 if anything failed or was lost, 0 otherwise.

The template's stage throttle (50 requests/s, burst 100: API Gateway answers 429 past it, and the local
runtime does the same) would turn a load test into a test of the throttle: by default the runtime started
here has it lifted (`serve --no-throttle`), so the figures are the runtime's own capacity.
`--keep-throttle` keeps it: wrk is then paced under the limit and the upload client retries 429s after a
pause, as any client must.
"""

from __future__ import annotations

import argparse
import re
import shutil
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

ROOT = Path(__file__).resolve().parents[1]
PHOTOS = ROOT.parent / "shared" / "photos"
sys.path[:0] = [str(ROOT / "tests"), str(ROOT / "local")]

from happypath_testkit.runtime import RunningApp, start_app  # noqa: E402

from happypath_local.client import FINAL, LocalClient, post_form  # noqa: E402

LOOPBACK = "127.0.0.1"
# Small real photos: four accepted JPEGs (one EXIF-rotated) and DSCN0010.jpg (640x480: REJECTED TOO_SMALL).
UPLOAD_PHOTOS = [
    "Reconyx_HC500_Hyperfire.jpg",
    "orientation/Landscape_3.jpg",
    "orientation/Landscape_6.jpg",
    "canon_hdr_NO.jpg",
    "DSCN0010.jpg",
]
TOO_SMALL = "DSCN0010.jpg"
SEED_PLACES = [
    ("Hyde Park", 51.5073, -0.1657),
    ("Green Park", 51.5046, -0.1428),
    ("St James's Park", 51.5025, -0.1348),
    ("Regent's Park", 51.5313, -0.1570),
    ("Victoria Embankment Gardens", 51.5081, -0.1222),
    ("Lincoln's Inn Fields", 51.5159, -0.1167),
    ("Russell Square", 51.5218, -0.1258),
    ("Kensington Gardens", 51.5067, -0.1795),
]
NEARBY_QUERY = "lat=51.5074&lng=-0.1278&radius=2000"
STAGE_RATE_LIMIT = 50  # template.yaml: ThrottlingRateLimit (requests/s)

# --- the runtime -----------------------------------------------------------------------------------------


def start_runtime(folder: Path, *, lift_throttle: bool) -> RunningApp:
    options = ["--host", LOOPBACK, "--fresh", "--no-persist", "--moderation", "pass-through"]
    if lift_throttle:
        options.append("--no-throttle")
    try:
        return start_app(folder / "data", folder / "server.log", *options)
    except RuntimeError as error:
        raise SystemExit(str(error)[-3000:]) from None


# --- a) reads with wrk -----------------------------------------------------------------------------------


@dataclass
class WrkResult:
    name: str
    requests: int
    seconds: float
    rps: float
    latency_ms: dict[str, float]
    non_2xx: int
    socket_errors: dict[str, int]
    raw: str

    @property
    def errors(self) -> int:
        return self.non_2xx + sum(self.socket_errors.values())


def _ms(value: str) -> float:
    number, unit = re.fullmatch(r"([\d.]+)(us|ms|s|m)", value).groups()  # type: ignore[union-attr]
    return float(number) * {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[unit]


def parse_wrk(name: str, output: str) -> WrkResult:
    done = re.search(r"(\d+) requests in ([\d.]+)(ms|s|m)", output)
    rps = re.search(r"Requests/sec:\s+([\d.]+)", output)
    if not done or not rps:
        raise SystemExit(f"could not read wrk's output:\n{output}")
    seconds = float(done.group(2)) * {"ms": 0.001, "s": 1.0, "m": 60.0}[done.group(3)]
    latency = {p: _ms(v) for p, v in re.findall(r"^\s+(50|75|90|99)%\s+(\S+)\s*$", output, re.M)}
    if set(latency) != {"50", "75", "90", "99"}:
        raise SystemExit(f"could not read wrk's latency distribution:\n{output}")
    non_2xx = re.search(r"Non-2xx or 3xx responses: (\d+)", output)
    sockets = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", output)
    socket_errors = (
        dict(zip(("connect", "read", "write", "timeout"), map(int, sockets.groups()), strict=True)) if sockets else {}
    )
    return WrkResult(
        name,
        int(done.group(1)),
        seconds,
        float(rps.group(1)),
        latency,
        int(non_2xx.group(1)) if non_2xx else 0,
        socket_errors,
        output,
    )


def run_wrk(wrk: str, name: str, url: str, args: argparse.Namespace, pace_script: Path | None) -> WrkResult:
    if urlsplit(url).hostname != LOOPBACK:
        raise SystemExit(f"refusing to load anything but {LOOPBACK}: {url}")
    command = [wrk, "-d", f"{args.seconds}s", "-c", str(args.connections), "-t", "2", "--latency", "--timeout", "5s"]
    if pace_script:
        command += ["-s", str(pace_script)]
    completed = subprocess.run([*command, url], capture_output=True, text=True, timeout=args.seconds + 60, check=False)
    if completed.returncode != 0:
        raise SystemExit(f"wrk failed ({completed.returncode}):\n{completed.stdout}\n{completed.stderr}")
    return parse_wrk(name, completed.stdout)


def pacing_script(folder: Path, connections: int, rate: float) -> Path:
    """wrk calls delay() before each request of each connection: together they stay under `rate`/s."""
    script = folder / "pace.lua"
    script.write_text(f"function delay()\n  return {max(1, round(connections * 1000 / rate))}\nend\n")
    return script


# --- b) the upload burst ---------------------------------------------------------------------------------


@dataclass
class Upload:
    index: int
    photo: str
    upload_id: str | None = None
    submitted_at: float = 0.0
    final_at: float | None = None
    status: str = "NOT_SUBMITTED"
    reason: str | None = None
    error: str | None = None


@dataclass
class Burst:
    uploads: list[Upload]
    started: float
    submitted: float = 0.0
    finished: float = 0.0


def submit(api: LocalClient, place_id: str, upload: Upload, data: bytes) -> None:
    content_type = "image/jpeg"
    try:
        form = api.call(
            "POST",
            f"/places/{place_id}/uploads",
            json={"contentType": content_type, "size": len(data)},
        )
        status, body = post_form(form["url"], form["fields"], Path(upload.photo).name, content_type, data)
        if status != 204:
            raise RuntimeError(f"storage answered {status}: {body[:200]!r}")
        upload.upload_id = form["uploadId"]
        upload.submitted_at = time.monotonic()
        upload.status = "SUBMITTED"
    except Exception as error:
        upload.error = f"submit: {type(error).__name__}: {error}"


def poll(api: LocalClient, upload: Upload) -> None:
    try:
        view = api.call("GET", f"/uploads/{upload.upload_id}")
    except Exception as error:
        upload.error = f"status: {type(error).__name__}: {error}"
        return
    upload.status, upload.reason = view["status"], view.get("reason")
    if upload.status in FINAL and upload.final_at is None:
        upload.final_at = time.monotonic()


def watch(api: LocalClient, burst: Burst, submitting: threading.Event, deadline: float, rate: float) -> None:
    """Poll the status endpoint while uploads are submitted and processed: sweeps over every upload not final
    yet, oldest first, at most `rate` requests/s so that polling stays a light load next to the pipeline it
    measures (a verdict is seen at most one sweep late: pending/rate seconds)."""
    interval = 1 / rate
    while time.monotonic() < deadline:
        pending = [u for u in burst.uploads if u.upload_id and u.status not in FINAL]
        if not pending:
            if not submitting.is_set():
                break
            time.sleep(interval)
        for upload in sorted(pending, key=lambda u: u.submitted_at):
            started = time.monotonic()
            if started >= deadline:
                break
            poll(api, upload)
            time.sleep(max(0.0, interval - (time.monotonic() - started)))
    for upload in burst.uploads:  # one last look at each upload not final, after the deadline
        if upload.upload_id and upload.status not in FINAL:
            poll(api, upload)
    finals = [u.final_at for u in burst.uploads if u.final_at]
    burst.finished = max(finals) if finals else time.monotonic()


def run_burst(api: LocalClient, place_id: str, count: int, workers: int, timeout_s: float, poll_rate: float) -> Burst:
    photos = {name: (PHOTOS / name).read_bytes() for name in UPLOAD_PHOTOS}
    uploads = [Upload(i, UPLOAD_PHOTOS[i % len(UPLOAD_PHOTOS)]) for i in range(count)]
    burst = Burst(uploads, started=time.monotonic())
    submitting = threading.Event()
    submitting.set()
    watcher = threading.Thread(
        target=watch, args=(api, burst, submitting, burst.started + timeout_s, poll_rate), name="watch"
    )
    watcher.start()
    try:
        with ThreadPoolExecutor(max_workers=workers, thread_name_prefix="submit") as pool:
            list(pool.map(lambda u: submit(api, place_id, u, photos[u.photo]), uploads))
        burst.submitted = time.monotonic()
    finally:
        submitting.clear()
        watcher.join()
    return burst


# --- the report ------------------------------------------------------------------------------------------


def percentile(values: list[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def read_phase(app: RunningApp, wrk: str, place_id: str, args: argparse.Namespace, folder: Path) -> list[str]:
    """a) wrk on the two read endpoints, one after the other; returns the failures."""
    failures = []
    version = subprocess.run([wrk, "--version"], capture_output=True, text=True, check=False).stdout.split()[:2]
    pace = pacing_script(folder, args.connections, STAGE_RATE_LIMIT * 0.8) if args.keep_throttle else None
    paced = f", paced to {STAGE_RATE_LIMIT * 0.8:.0f} req/s" if pace else ""
    print(
        f"\na) reads: {' '.join(version)} -d {args.seconds}s -c {args.connections} -t 2 --latency --timeout 5s, "
        f"one endpoint after the other{paced}"
    )
    header = f"{'requests':>9} {'req/s':>9} {'p50 ms':>8} {'p90 ms':>8} {'p99 ms':>8} {'errors':>7}"
    print(f"   {'endpoint':<50} {header}")
    endpoints = [
        (f"GET /places?{NEARBY_QUERY}", f"{app.api_url}/places?{NEARBY_QUERY}"),
        ("GET /places/{id}", f"{app.api_url}/places/{place_id}"),
    ]
    for name, url in endpoints:
        result = run_wrk(wrk, name, url, args, pace)
        lat = result.latency_ms
        print(
            f"   {name:<50} {result.requests:>9} {result.rps:>9.1f} {lat['50']:>8.1f} {lat['90']:>8.1f} "
            f"{lat['99']:>8.1f} {result.errors:>7}"
        )
        if result.errors:
            sockets = ", ".join(f"{kind} {count}" for kind, count in result.socket_errors.items() if count)
            failures.append(f"wrk {name}: {result.non_2xx} non-2xx responses; socket errors: {sockets or 'none'}")
    rss, peak = app.memory_mb()
    print(f"   runtime RSS after the reads: {rss:.0f} MB (peak {peak:.0f} MB)")
    return failures


def burst_phase(app: RunningApp, api: LocalClient, place_id: str, args: argparse.Namespace) -> list[str]:
    """b) the upload burst through the whole pipeline; returns the failures."""
    failures = []
    mix = Counter(UPLOAD_PHOTOS[i % len(UPLOAD_PHOTOS)] for i in range(args.uploads))
    print(
        f"\nb) upload burst: {args.uploads} uploads to one park, submitted by {args.workers} threads (upload form "
        f"from the API, multipart POST to the S3 endpoint); the status endpoint polled meanwhile ({args.poll_rate:.0f} "
        f"requests/s at most) until every upload is final or {args.timeout:.0f} s have passed"
    )
    sizes = (f"{Path(name).name} x{count} ({(PHOTOS / name).stat().st_size // 1024} KB)" for name, count in mix.items())
    print(f"   photos: {', '.join(sizes)}")
    burst = run_burst(api, place_id, args.uploads, args.workers, args.timeout, args.poll_rate)
    uploads = burst.uploads
    submitted = [u for u in uploads if u.upload_id]
    states = Counter(u.status for u in submitted)
    lost = [u for u in submitted if u.status not in FINAL]
    expected = {u.index: ("REJECTED", "TOO_SMALL") if u.photo == TOO_SMALL else ("PROCESSED", None) for u in uploads}
    unexpected = [u for u in submitted if u.status in FINAL and (u.status, u.reason) != expected[u.index]]
    reasons = Counter(f"{u.status} {u.reason}" for u in submitted if u.reason)
    latencies = [u.final_at - u.submitted_at for u in submitted if u.final_at]
    total = burst.finished - burst.started
    print(
        f"   attempted {len(uploads)}; submitted {len(submitted)} in {burst.submitted - burst.started:.1f} s; "
        f"submit errors {len(uploads) - len(submitted)}"
    )
    finals = ", ".join(f"{state} {states.get(state, 0)}" for state in ("PROCESSED", "REJECTED", "FAILED", "EXPIRED"))
    why = ", ".join(f"{reason} x{count}" for reason, count in sorted(reasons.items()))
    print(f"   final states reached: {finals}" + (f" ({why})" if why else ""))
    print(f"   lost (not final after {args.timeout:.0f} s): {len(lost)}")
    if latencies:
        print(
            f"   total {total:.1f} s (first submit to last final state); throughput {len(latencies) / total:.2f} "
            f"uploads/s; submit-to-final p50 {percentile(latencies, 50):.1f} s, p90 {percentile(latencies, 90):.1f} s, "
            f"max {max(latencies):.1f} s"
        )
    else:
        print(f"   total {total:.1f} s; no upload reached a final state")
    if api.throttled:
        print(f"   429 answers retried by the client: {api.throttled}")
    rss, peak = app.memory_mb()
    print(f"   runtime RSS after the burst: {rss:.0f} MB (peak {peak:.0f} MB)")
    for upload in [u for u in uploads if u.error][:5]:
        print(f"   error: upload {upload.index} ({upload.photo}): {upload.error}")
    if len(submitted) < len(uploads):
        failures.append(f"{len(uploads) - len(submitted)} uploads could not be submitted")
    if lost:
        failures.append(f"{len(lost)} uploads lost (not final after {args.timeout:.0f} s)")
    if unexpected:
        examples = ", ".join(f"{u.photo}: {u.status} {u.reason}" for u in unexpected[:3])
        failures.append(f"{len(unexpected)} uploads with an unexpected verdict ({examples})")
    return failures


def main() -> int:
    parser = argparse.ArgumentParser(
        description=(__doc__ or "").split("\n\n")[0], formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--seconds", type=int, default=20, help="wrk duration per endpoint (default 20)")
    parser.add_argument("--connections", type=int, default=32, help="wrk connections (default 32)")
    parser.add_argument("--uploads", type=int, default=200, help="uploads in the burst (default 200)")
    parser.add_argument("--workers", type=int, default=16, help="threads submitting the uploads (default 16)")
    parser.add_argument("--timeout", type=float, default=600, help="seconds for every upload to be final (default 600)")
    parser.add_argument("--poll-rate", type=float, default=20, help="status requests/s while waiting (default 20)")
    parser.add_argument("--keep-throttle", action="store_true", help="keep the stage throttle (50/s): wrk is paced")
    args = parser.parse_args()
    if not 1 <= args.seconds <= 600 or not 2 <= args.connections <= 1000 or not 0 <= args.uploads <= 5000:
        parser.error("bounds: 1 <= --seconds <= 600, 2 <= --connections <= 1000, 0 <= --uploads <= 5000")
    if not 1 <= args.workers <= 64 or not 1 <= args.timeout <= 3600 or not 1 <= args.poll_rate <= 200:
        parser.error("bounds: 1 <= --workers <= 64, 1 <= --timeout <= 3600, 1 <= --poll-rate <= 200")
    wrk = shutil.which("wrk")
    if wrk is None:
        print("wrk is not installed (Debian: apt-get install wrk): the read load test needs it", file=sys.stderr)
        return 2
    missing = [name for name in UPLOAD_PHOTOS if not (PHOTOS / name).is_file()]
    if missing:
        print(f"missing test photos in {PHOTOS}: {', '.join(missing)}", file=sys.stderr)
        return 2

    folder = Path(tempfile.mkdtemp(prefix="happypath-load-"))
    lift = not args.keep_throttle
    app = start_runtime(folder, lift_throttle=lift)
    failures: list[str] = []
    try:
        throttle = "stage throttle lifted" if lift else f"stage throttle kept ({STAGE_RATE_LIMIT}/s, burst 100)"
        print(
            f"Happy Path load test, loopback only: local runtime on {LOOPBACK}:{app.port}-{app.port + 2}, "
            f"workflow v4, moderation pass-through, {throttle}; ready in {app.startup_s:.1f} s (pid {app.process.pid})"
        )
        # Patient with 429 (under --keep-throttle the burst runs at the stage limit).
        owner = LocalClient(app.app_url, api_url=app.api_url, throttle_retries=100, timeout_s=60)
        owner.sign_in("load-test@example.com")
        places = [
            owner.call("POST", "/places", json={"name": name, "type": "park", "lat": lat, "lng": lng})
            for name, lat, lng in SEED_PLACES
        ]
        nearby = owner.call("GET", f"/places?{NEARBY_QUERY}")["places"]
        print(f"seeded {len(places)} places; {len(nearby)} of them within the nearby query ({NEARBY_QUERY})")
        failures += read_phase(app, wrk, places[0]["placeId"], args, folder)
        if args.uploads:
            failures += burst_phase(app, owner, places[1]["placeId"], args)
    finally:
        # c) stop as a user does
        stopping = time.monotonic()
        code = app.stop()
        print(f"\nc) runtime stopped with Ctrl-C (SIGINT): exit code {code} after {time.monotonic() - stopping:.1f} s")
        handler_errors = Counter(
            f"{function}: {exception.split(':')[0].rsplit('.', 1)[-1]}"
            for function, exception in re.findall(
                r"ERROR happypath-(\w+) failed: Traceback \(most recent call last\):\n(?:[ \t].*\n)*(\S.*)", app.log()
            )
        )
        if handler_errors:
            listed = ", ".join(f"{name} x{count}" for name, count in handler_errors.most_common())
            print(f"   handler errors in the runtime log (the workflow retries them; the API answers 500): {listed}")
        if code != 0:
            failures.append(f"the runtime exited with {code} (log: {app.log_path})")
        elif not failures:
            shutil.rmtree(folder, ignore_errors=True)
    if failures:
        print(f"\nFAILED (runtime log: {app.log_path}):\n  " + "\n  ".join(failures))
        return 1
    print("\nOK: no errors, nothing lost")
    return 0


if __name__ == "__main__":
    signal.signal(signal.SIGINT, signal.default_int_handler)
    raise SystemExit(main())
