"""`python -m happypath_local serve`: the whole app on localhost, from template.yaml.

Three loopback ports: the app's origin (web app, config.json, local CloudFront at /cdn, sign-in at /auth),
the HTTP API, and the S3 endpoint browsers upload to. Everything else (DynamoDB, EventBridge, Step
Functions, Lambda) runs in this process on moto.
"""

import functools
import io
import ipaddress
import itertools
import json
import logging
import os
import queue
import signal
import socket
import sys
import threading
import time
import warnings
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from http import HTTPStatus
from pathlib import Path
from typing import Any, TextIO

from werkzeug.serving import BaseWSGIServer, WSGIRequestHandler, make_server

from happypath_local import DEFAULT_APP_URL, DEFAULT_PORT, PROJECT_ROOT, web_config
from happypath_local.stack import FAKE_CREDENTIALS, REGION

log = logging.getLogger("happypath.local")
LOCAL_CLIENT_ID = "happypath-local-web"
SAVE_EVERY_S = 15
SHUTDOWN_POLL_S = 0.1  # how often the servers and the main thread look for a stop: Ctrl-C acts at once
# Lambda signs with temporary credentials, so its upload forms carry x-amz-security-token: local ones do too.
LOCAL_SESSION_TOKEN = "happypath-local-session-token"  # noqa: S105 (a fake, like the local keys)


class JsonErrorRequestHandler(WSGIRequestHandler):
    """What the HTTP server refuses before the API sees it (a request line or a header past its 64 KB, bad
    syntax) is answered as the API answers errors, JSON `{"message"}`, not with Python's HTML page. (For curl and
    Postman: it carries no CORS headers, and the web app sends no such request.)"""

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        self.log_error("code %d, message %s", code, message)
        phrase = self.responses.get(code, ("Error",))[0]  # the reason phrase http.server's own send_error uses
        body = json.dumps({"message": phrase}).encode()
        self.send_response(code, phrase)
        self.send_header("Connection", "close")
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        if self.command != "HEAD" and code not in (HTTPStatus.NO_CONTENT, HTTPStatus.NOT_MODIFIED):
            self.wfile.write(body)


@dataclass
class Options:
    host: str = "127.0.0.1"
    port: int = DEFAULT_PORT
    data_dir: Path = PROJECT_ROOT / ".local-data"
    fresh: bool = False
    persist: bool = True
    workflow_version: str | None = None  # None: the template's default
    place_types: list[str] | None = None  # None: those of frontend/public/config.json
    extra_origins: list[str] = field(default_factory=list)
    moderation: str = "auto"  # auto | offline | pass-through
    throttle: bool = True  # the template's stage throttle (429 past it, as API Gateway); off for load tests
    stop_wait_s: float = 30  # how long a stop waits for running uploads before saving
    parameters: dict[str, str] = field(default_factory=dict)  # other template parameters (--parameter)


@dataclass
class Urls:
    app: str
    api: str
    s3: str

    @property
    def issuer(self) -> str:
        return f"{self.app}/auth"

    @property
    def distribution_host(self) -> str:
        return f"{self.app.split('//', 1)[1]}/cdn"


def local_web_config(urls: Urls, place_types: list[str] | None, api_audience: str | None = None) -> dict[str, Any]:
    """The config.json the local runtime serves: the deployed stack's builder, given the local URLs (and the
    API's audience, when `--parameter AuthAudience=...` makes the sign-in ask for it, as with Auth0).

    The local issuer signs out as Cognito's hosted UI does (/logout?client_id=...&logout_uri=...). No map
    tiles: the local app needs no internet.
    """
    outputs = {
        "ApiUrl": urls.api,
        "AuthIssuer": urls.issuer,
        "AuthClientId": LOCAL_CLIENT_ID,
        "FrontendOrigin": urls.app,
        "CognitoHostedUi": urls.issuer,
    } | ({"AuthAudience": api_audience} if api_audience else {})
    base = web_config.defaults() | {"title": "Happy Path (local)"}
    if place_types:
        base["placeTypes"] = place_types
    return web_config.web_config(outputs, base, tile_url="", attribution="")


def _command(name: str, app_url: str) -> str:
    """How to run another of the CLI's commands against this app, as typed from here."""
    python = Path(sys.executable)
    shown = python.relative_to(Path.cwd()) if python.is_relative_to(Path.cwd()) else python
    return f"{shown} -m happypath_local {name}" + ("" if app_url == DEFAULT_APP_URL else f" --app {app_url}")


def loopback_only(host: str) -> bool:
    """Whether serving on `host` is reachable from this machine alone."""
    try:
        addresses = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return all(ipaddress.ip_address(str(address).split("%")[0]).is_loopback for address in addresses)


def urls_for(options: Options) -> Urls:
    base = f"http://{options.host}"
    return Urls(f"{base}:{options.port}", f"{base}:{options.port + 1}", f"{base}:{options.port + 2}")


def _environment(urls: Urls, options: Options) -> str:
    """Process environment for moto and the handlers; must be set before moto is imported."""
    os.environ.update(
        {
            **FAKE_CREDENTIALS,
            "AWS_SESSION_TOKEN": LOCAL_SESSION_TOKEN,
            # Handlers presign uploads for the local S3 endpoint (boto3's standard per-service setting);
            # moto intercepts calls to it in-process, the browser reaches it over HTTP.
            "AWS_ENDPOINT_URL_S3": urls.s3,
            "MOTO_S3_CUSTOM_ENDPOINTS": urls.s3,
            "POWERTOOLS_TRACE_DISABLED": "1",
            "POWERTOOLS_METRICS_DISABLED": "1",
        }
    )
    os.environ.pop("AWS_PROFILE", None)
    from happypath_local.moderation import configure_detector

    return configure_detector(options.moderation)


class InFlight:
    """The HTTP requests being answered, so a stop lets them finish (and can say which it waits for)."""

    def __init__(self) -> None:
        self._requests: dict[int, tuple[str, float]] = {}
        # Ends are queued, not applied: an answer dropped without close() ends in __del__, which may run in any
        # thread, even one holding the lock or iterating the dict; SimpleQueue.put is safe there.
        self._ended: queue.SimpleQueue[int] = queue.SimpleQueue()
        self._lock = threading.Lock()
        self._ids = itertools.count()

    @property
    def count(self) -> int:
        with self._lock:
            self._settle()
            return len(self._requests)

    def describe(self) -> list[str]:
        """'METHOD host/path (for N s)' for each request still being answered, oldest first."""
        now = time.monotonic()
        with self._lock:
            self._settle()
            started = sorted(self._requests.values(), key=lambda request: request[1])
        return [f"{what} (for {now - since:.0f} s)" for what, since in started]

    def track(self, wsgi: Any) -> Any:
        def tracked(environ: dict[str, Any], start_response: Any) -> Iterable[bytes]:
            key = next(self._ids)
            what = f"{environ['REQUEST_METHOD']} {environ.get('HTTP_HOST', '')}{environ.get('PATH_INFO', '')}"
            with self._lock:
                self._requests[key] = (what, time.monotonic())
            try:
                body = wsgi(environ, start_response)
            except BaseException:
                self._ended.put(key)
                raise
            return _Answer(body, lambda: self._ended.put(key))

        return tracked

    def _settle(self) -> None:
        while True:
            try:
                key = self._ended.get_nowait()
            except queue.Empty:
                return
            self._requests.pop(key, None)


class _Answer:
    """A response body, streamed as the server sends it, that reports once when it is over: fully sent, closed,
    or dropped. werkzeug skips `close()` when the client resets the connection while it discards unread input
    (a browser following a redirect does), so the end of the iteration and the garbage collector also count."""

    def __init__(self, body: Iterable[bytes], over: Callable[[], None]) -> None:
        self._body, self._chunks, self._over = body, iter(body), over
        self._open = True

    def __iter__(self) -> "_Answer":
        return self

    def __next__(self) -> bytes:
        try:
            return next(self._chunks)
        except StopIteration:  # the server asks for more only once the last chunk is written
            self.close()
            raise

    def close(self) -> None:
        if self._open:
            self._open = False
            try:
                if hasattr(self._body, "close"):
                    self._body.close()
            finally:
                self._over()

    __del__ = close


class LocalStack:
    """Running servers plus the embedded app; `stop()` shuts everything down and saves the data."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self.urls = urls_for(options)
        self.servers: list[BaseWSGIServer] = []
        self.requests = InFlight()
        self._stop = threading.Event()
        self.hurry = threading.Event()  # a second Ctrl-C: stop waiting for running work
        self._saver: threading.Thread | None = None

    def start(self) -> "LocalStack":
        started = time.perf_counter()
        options, urls = self.options, self.urls
        from happypath_local.persistence import ISSUER_KEY, DataDirError, prepare

        # --no-persist: the data folder is not touched (the sign-in key lives as long as the process).
        self.data_lock = prepare(options.data_dir, options.fresh) if options.persist else None
        self.moderation = _environment(urls, options)

        from happypath_local.auth import LocalIssuer
        from happypath_local.embedded import EmbeddedApp
        from happypath_local.gateway import ApiGateway
        from happypath_local.persistence import DataDirectory
        from happypath_local.web import WebApp, security_headers

        origins = [urls.app, *options.extra_origins]
        parameters = dict(options.parameters)
        if options.workflow_version:
            parameters["WorkflowVersion"] = options.workflow_version
        self.app = EmbeddedApp(
            parameters,
            {"distribution_host": urls.distribution_host, "api": urls.api},
            hot_reload=True,
            stand_ins={"AuthIssuerUrl": urls.issuer, "AuthClientId": LOCAL_CLIENT_ID, "FrontendOrigin": urls.app},
        )
        self.app.__enter__()
        self._allow_extra_origins(origins)
        self.data = DataDirectory(options.data_dir, self.app.stack, self.app.seams) if options.persist else None
        if self.data:
            self.data.restore()
        # Empty: tokens name the client id, as Cognito's do. Set: the sign-in asks for it, as Auth0's does.
        api_audience = parameters.get("AuthAudience") or None
        key_path = options.data_dir / ISSUER_KEY if options.persist else None
        try:
            issuer = LocalIssuer(urls.issuer, LOCAL_CLIENT_ID, origins, key_path, api_audience)
        except ValueError:  # not a PEM key: damaged, or another file
            raise DataDirError(
                f"{key_path} is not the sign-in key the local runtime wrote: delete it (everyone signed in is "
                "signed out), or start with --fresh"
            ) from None
        self.frontend_config = local_web_config(urls, options.place_types, api_audience)
        web = WebApp(
            PROJECT_ROOT / "frontend" / "dist",
            self.frontend_config,
            self.app.physical("DistributionBucket"),
            issuer,
            self.execution_summaries,
            urls.app,
            security_headers(self.app.stack, urls.api, urls.s3),
        )
        gateway = ApiGateway(self.app.stack, self.app.invoker, throttle=options.throttle)
        storage = self.app.seams.s3_gateway  # the handlers' S3 calls reach the same one, in-process
        for wsgi, url in ((web, urls.app), (gateway, urls.api), (storage, urls.s3)):
            port = int(url.rsplit(":", 1)[1])
            handler = JsonErrorRequestHandler if wsgi is gateway else WSGIRequestHandler
            server = make_server(options.host, port, self.requests.track(wsgi), threaded=True, request_handler=handler)
            self.servers.append(server)
            serve = functools.partial(server.serve_forever, poll_interval=SHUTDOWN_POLL_S)
            threading.Thread(target=serve, name=f"http-{port}", daemon=True).start()
        from happypath_local.scheduler import Scheduler

        self.scheduler = Scheduler(self.app.stack, self.app.seams).start()
        if self.data:
            self._saver = threading.Thread(target=self._save_periodically, name="save", daemon=True)
            self._saver.start()
        self.startup_s = time.perf_counter() - started
        return self

    def _allow_extra_origins(self, origins: list[str]) -> None:
        """`--origin` adds origins (e.g. Vite's dev server) to the API's and the upload bucket's CORS."""
        if len(origins) == 1:
            return
        import boto3

        body = self.app.stack.resources["HttpApi"]["Properties"]["Body"]
        body["x-amazon-apigateway-cors"]["allowOrigins"] = origins
        s3 = boto3.client("s3", region_name=REGION)
        bucket = self.app.physical("UploadBucket")
        rules = s3.get_bucket_cors(Bucket=bucket)["CORSRules"]
        for rule in rules:
            rule["AllowedOrigins"] = origins
        s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})

    def execution_summaries(self, limit: int) -> list[dict[str, Any]]:
        import json

        summaries = []
        for execution in sorted(self.app.executions(), key=lambda e: e["startDate"], reverse=True)[:limit]:
            described = self.app.stepfunctions.describe_execution(executionArn=execution["executionArn"])
            detail = json.loads(described["input"]).get("detail", {})
            summaries.append(
                {
                    "name": execution["name"],
                    "status": execution["status"],
                    "uploadId": detail.get("uploadId"),
                    "placeId": detail.get("placeId"),
                    "startDate": execution["startDate"].isoformat(),
                    "stopDate": execution["stopDate"].isoformat() if execution.get("stopDate") else None,
                    "states": self.app.states_entered(execution["executionArn"]),
                }
            )
        return summaries

    def _save_periodically(self) -> None:
        while not self._stop.wait(SAVE_EVERY_S):
            self._save()

    def _save(self) -> bool:
        """Whether the data is on disk now (nothing to keep with --no-persist counts as kept)."""
        if self.data:
            try:
                self.data.save()
            except Exception:
                log.exception("could not save the local data")
                return False
        return True

    def unfinished_work(self) -> dict[str, int]:
        return {
            "HTTP request": self.requests.count,
            "queued Lambda invocation": self.app.seams.queued_invocations,
            "workflow run": self.app.running_executions(),
        }

    def _finish_work(self) -> None:
        """Let what is running end before the data is saved (a snapshot taken mid-workflow would keep the upload
        PROCESSING, which restore must start again); bounded, as a stop must not hang."""
        deadline = time.monotonic() + self.options.stop_wait_s
        reported, reported_at = "", 0.0
        while True:
            work = ", ".join(f"{n} {name}{'s' * (n > 1)}" for name, n in self.unfinished_work().items() if n)
            now = time.monotonic()
            if not work:
                return
            if now >= deadline or self.hurry.is_set():
                print(f"  not waiting longer: {work}", flush=True)
                print("  (uploads being processed start again at the next start; requests being answered are cut off)")
                self._print_requests()
                # Queued invocations are dropped, not run first (the next start sends their uploads again).
                self.app.seams.async_pool.shutdown(wait=False, cancel_futures=True)
                return
            if work != reported and now - reported_at >= 1:  # what is left, once a second at most
                print(f"  waiting for {work} to finish (at most {deadline - now:.0f} s more)", flush=True)
                self._print_requests()
                reported, reported_at = work, now
            time.sleep(0.1)

    def _print_requests(self) -> None:
        for request in self.requests.describe():
            print(f"    {request}", flush=True)

    def stop(self) -> bool:
        """Stops serving, lets running work end, saves. Returns whether the data was saved."""
        self._stop.set()
        self.scheduler.stop()
        for server in self.servers:  # no new requests; those being answered finish
            server.shutdown()
            server.server_close()
        self._finish_work()
        if self._saver is not None:
            self._saver.join()  # a periodic save in progress ends before the last one starts
        try:
            if self.data:
                print("Stopping: saving data...", flush=True)
            saved = self._save()
            self.app.__exit__(None, None, None)
        finally:
            if self.data_lock:
                self.data_lock.close()
        return saved


class LineAtomicWriter(io.TextIOBase):
    """Whole lines, each written at once. Handlers run on many threads, and `print` (Powertools' metrics)
    writes a line and its newline in two calls: unwrapped, two JSON lines could end up on one."""

    def __init__(self, stream: TextIO, lock: threading.Lock) -> None:
        self._stream, self._lock, self._pending = stream, lock, threading.local()

    def write(self, text: str) -> int:
        head, newline, tail = (getattr(self._pending, "text", "") + text).rpartition("\n")
        self._pending.text = tail
        if newline:
            with self._lock:
                self._stream.write(head + newline)
                self._stream.flush()
        return len(text)

    def flush(self) -> None:
        pending, self._pending.text = getattr(self._pending, "text", ""), ""
        with self._lock:
            self._stream.write(pending)
            self._stream.flush()

    def writable(self) -> bool:
        return True

    def isatty(self) -> bool:
        return self._stream.isatty()

    def fileno(self) -> int:
        return self._stream.fileno()

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return self._stream.encoding


def _line_atomic_output() -> None:
    lock = threading.Lock()  # one for both: in a terminal or a log file they share the lines
    sys.stdout = LineAtomicWriter(sys.stdout, lock)
    sys.stderr = LineAtomicWriter(sys.stderr, lock)


def _configure_logging() -> None:
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s", stream=sys.stderr)
    # moto's interpreter logs every Fail state and missing optional path at ERROR: they are normal here.
    logging.getLogger("moto").setLevel(logging.CRITICAL)
    logging.getLogger("werkzeug").setLevel(logging.WARNING)
    logging.getLogger("botocore").setLevel(logging.WARNING)
    # Powertools warns on every invocation that records no metric (most API reads): noise in a terminal.
    warnings.filterwarnings("ignore", "No application metrics to publish")


def wait_for_ctrl_c() -> None:
    """Returns once SIGINT or SIGTERM arrives. The wait is timed: Python runs signal handlers in the main thread
    when it wakes, and a signal the kernel hands to another of the runtime's threads does not wake an untimed
    wait (the stop would never begin)."""
    stopped = threading.Event()
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stopped.set())
    while not stopped.wait(SHUTDOWN_POLL_S):
        pass


def serve(options: Options) -> int:
    _line_atomic_output()
    _configure_logging()
    from happypath_local.persistence import DataDirError
    from happypath_local.stack import ParameterError

    try:
        stack = LocalStack(options).start()
    except (DataDirError, ParameterError) as error:
        print(error, file=sys.stderr, flush=True)
        return 2
    urls, workflow = stack.urls, stack.app.stack.parameters["WorkflowVersion"]
    center = stack.frontend_config["map"]["center"]
    print(
        f"""
Happy Path is running locally (template.yaml, workflow {workflow}) - started in {stack.startup_s:.1f}s

  App        {urls.app}/
  API        {urls.api}/places?lat={center[0]}&lng={center[1]}
  Sign-in    {urls.issuer}/.well-known/openid-configuration   (client id {LOCAL_CLIENT_ID})
  Uploads    {urls.s3}/   (S3 endpoint)
  Photos     {urls.app}/cdn/photos/...
  Workflow   {urls.app}/_local/executions   or   {_command("executions", urls.app)}
  Moderation {stack.moderation}
  Data       {options.data_dir if options.persist else "not kept (--no-persist)"}
  Throttle   {"template's stage limits" if options.throttle else "lifted (--no-throttle)"}

Handler code reloads on change. Ctrl-C stops.
""",
        flush=True,
    )
    if not loopback_only(options.host):
        print(
            f"WARNING: serving on {options.host}, not only this machine: anyone who can reach it can sign in as "
            "anyone (the local sign-in asks no password) and see every upload under /_local. Browsers there sign "
            "in and share a location only on https or localhost (README: On a phone).\n",
            file=sys.stderr,
            flush=True,
        )
    wait_for_ctrl_c()
    for signum in (signal.SIGINT, signal.SIGTERM):  # again: stop without waiting for running work
        signal.signal(signum, lambda *_: stack.hurry.set())
    print("\nStopping: no longer accepting requests (Ctrl-C again: without waiting for running work)", flush=True)
    if not stack.stop():
        print(f"Stopped, but the data could not be saved in {options.data_dir} (see the error above).", flush=True)
        return 1
    print("Stopped.", flush=True)
    return 0
