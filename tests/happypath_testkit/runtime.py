"""Starts the local runtime (`python -m happypath_local serve`) in a subprocess on free ports, as a user would."""

import os
import signal
import socket
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import requests

from happypath_local.server import LOCAL_SESSION_TOKEN
from happypath_testkit.memory import rss_mb

ROOT = Path(__file__).resolve().parents[2]
# While moto runs it replaces the process's AWS credentials with these; the local app signs with them, and with
# a session token, as Lambda does.
MOTO_ACCESS_KEY = "FOOBARKEY"
MOTO_SECRET_KEY = "FOOBARSECRET"
MOTO_SESSION_TOKEN = LOCAL_SESSION_TOKEN


def free_port_block(size: int = 3) -> int:
    """A base port with `size` consecutive free ports after it."""
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind(("127.0.0.1", 0))
            base = probe.getsockname()[1]
        if base + size >= 65535:
            continue
        sockets = []
        try:
            for port in range(base, base + size):
                s = socket.socket()
                s.bind(("127.0.0.1", port))
                sockets.append(s)
            return base
        except OSError:
            continue
        finally:
            for s in sockets:
                s.close()
    raise RuntimeError("no block of free ports")


# The tests (and the load test) act as a few people many times a day; the quotas have tests of their own.
GENEROUS_QUOTAS = {"DailyUploadsPerUser": "100000", "DailyPlacesPerUser": "100000"}


@dataclass
class RunningApp:
    process: subprocess.Popen[str]
    port: int
    data_dir: Path
    log_path: Path
    startup_s: float

    @property
    def app_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def api_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 1}"

    @property
    def s3_url(self) -> str:
        return f"http://127.0.0.1:{self.port + 2}"

    def memory_mb(self) -> tuple[float, float]:
        """(current RSS, peak RSS) of the running stack's process, in MB."""
        return rss_mb(self.process.pid)

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")

    def stop(self, timeout_s: float = 60) -> int:
        """Ctrl-C, as a user stops it; returns the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            try:
                self.process.wait(timeout_s)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.process.returncode


PORT_TAKEN = "is in use by another program"  # werkzeug's words when a port cannot be bound


def start_app(data_dir: Path, log_path: Path, *extra: str, port: int | None = None, project: Path = ROOT) -> RunningApp:
    """`project`: a copy of the project to run instead (its local/, backend/, workflows/ and template.yaml).

    Without a `port`, a free block is picked; if another process takes one of its ports before the app binds
    it, the app is started again on another block.
    """
    for attempt in range(3):
        try:
            return _start_app(data_dir, log_path, extra, port or free_port_block(), project)
        except RuntimeError:
            if port or attempt == 2 or PORT_TAKEN not in log_path.read_text(errors="replace"):
                raise
    raise AssertionError("unreachable")


def _start_app(data_dir: Path, log_path: Path, extra: tuple[str, ...], port: int, project: Path) -> RunningApp:
    command = [
        sys.executable,
        "-m",
        "happypath_local",
        "serve",
        "--port",
        str(port),
        "--data-dir",
        str(data_dir),
        *(arg for name, value in GENEROUS_QUOTAS.items() for arg in ("--parameter", f"{name}={value}")),
        *extra,
    ]
    env = os.environ | {"PYTHONUNBUFFERED": "1"}
    if project != ROOT:
        sources = ("local", "backend/shared", "backend/functions", "workflows/functions")
        env["PYTHONPATH"] = os.pathsep.join(str(project / source) for source in sources)
    for name in ("AWS_ENDPOINT_URL_S3", "MOTO_S3_CUSTOM_ENDPOINTS", "MODERATION_DETECTOR", "TABLE_NAME"):
        env.pop(name, None)
    started = time.monotonic()
    log = log_path.open("w")
    process = subprocess.Popen(command, cwd=project, env=env, stdout=log, stderr=subprocess.STDOUT, text=True)
    return wait_until_ready(RunningApp(process, port, data_dir, log_path, 0.0), started)


def wait_until_ready(app: RunningApp, started: float) -> RunningApp:
    """Ready: serving, and the banner (printed after the servers start) is out. Raises RuntimeError if not."""
    process = app.process
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"the local app exited with {process.returncode}:\n{app.log()}")
        try:
            if "Ctrl-C stops." in app.log() and requests.get(f"{app.app_url}/_local/health", timeout=1).ok:
                app.startup_s = time.monotonic() - started
                return app
        except requests.ConnectionError:
            pass
        time.sleep(0.1)
    app.stop()
    raise RuntimeError(f"the local app did not start in 90 s:\n{app.log()}")
