"""Runs the real Python handlers (imported from their CodeUri) the way Lambda would.

Every handler runs in this process, each invocation in the calling thread: one handler's AWS call may
trigger another handler, so there is no global lock. A function runs one invocation at a time, as one
Lambda sandbox, unless it is given more sandboxes: each extra one is its own instance of the handler
module, so module-level state (the Powertools resolver's current event) is never shared.

Environments: the functions' variables are merged into one process environment (they must agree on shared
names, checked at start-up); the per-function service name is given to the logs as a thread-local key.
"""

import contextvars
import importlib
import importlib.util
import json
import logging
import os
import sys
import threading
import time
import traceback
import uuid
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from dataclasses import dataclass, field
from typing import Any

from happypath_local import PROJECT_ROOT
from happypath_local.stack import Function

# Per-function names that legitimately differ; everything else must agree across functions.
PER_FUNCTION_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME", "MODERATION_MIN_CONFIDENCE"})
SOURCE_PACKAGES = ("happypath", "happypath_backend", "happypath_workflow")
RELOAD_CHECK_EVERY_S = 0.5
# The function whose handler is running: a context variable, so work a handler hands to a thread pool
# (copied by the seam on ThreadPoolExecutor.submit) is attributed to it too.
_current: ContextVar[str | None] = ContextVar("happypath_function", default=None)
log = logging.getLogger("happypath.local")


class FunctionTimeout(Exception):
    """What Lambda reports when a handler runs past its Timeout."""

    error_type = "Sandbox.Timedout"


@dataclass
class LambdaContext:
    """The attributes of Lambda's context object that Powertools and handlers read."""

    function_name: str
    invoked_function_arn: str
    memory_limit_in_mb: int
    timeout_s: float
    aws_request_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    function_version: str = "$LATEST"
    log_group_name: str = ""
    log_stream_name: str = ""
    _deadline: float = field(default=0.0)

    def __post_init__(self) -> None:
        self._deadline = time.monotonic() + self.timeout_s
        self.log_group_name = f"/aws/lambda/{self.function_name}"

    def get_remaining_time_in_millis(self) -> int:
        return max(0, int((self._deadline - time.monotonic()) * 1000))


def current_function() -> str | None:
    """The function whose handler runs in this thread (for log labels and fault injection)."""
    return _current.get()


@contextmanager
def acting_as(function: str | None) -> Iterator[None]:
    token = _current.set(function)
    try:
        yield
    finally:
        _current.reset(token)


def acting_as_aws() -> Any:
    """Work AWS does on a handler's behalf (e.g. EventBridge delivering a PutEvents) is not the handler's."""
    return acting_as(None)


def merged_environment(functions: Iterable[Function]) -> dict[str, str]:
    merged: dict[str, str] = {}
    per_function: dict[str, str] = {}
    for function in functions:
        for name, value in function.environment.items():
            if name in PER_FUNCTION_VARIABLES:
                per_function.setdefault(name, value)
                continue
            if name in merged and merged[name] != value:
                raise RuntimeError(
                    f"{function.logical_id} sets {name}={value!r} but another function sets {merged[name]!r}; "
                    "the local runtime shares one environment (see happypath_local.functions)"
                )
            merged[name] = value
    return merged | {k: v for k, v in per_function.items() if k != "POWERTOOLS_SERVICE_NAME"}


class _Sandboxes:
    """Up to `limit` concurrent invocations of one function; sandbox 0 is the handler module itself, the
    others are extra instances of it, made when first needed and kept warm."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.handlers: dict[int, Any] = {}  # sandbox > 0 -> its handler
        self._idle: list[int] = []
        self._created = 0
        self._available = threading.Condition()

    @contextmanager
    def borrow(self) -> Iterator[int]:
        with self._available:
            while not self._idle and self._created >= self.limit:
                self._available.wait()
            if self._idle:
                sandbox = self._idle.pop()  # the most recently used: sandbox 0 whenever calls do not overlap
            else:
                sandbox, self._created = self._created, self._created + 1
        try:
            yield sandbox
        finally:
            with self._available:
                self._idle.append(sandbox)
                self._available.notify()

    def forget_handlers(self) -> None:
        """After a reload (no invocation running): extra sandboxes re-import the new code when next used."""
        self.handlers.clear()


class Invoker:
    def __init__(self, functions: Iterable[Function], hot_reload: bool = False) -> None:
        self.by_name = {f.name: f for f in functions}
        self.hot_reload = hot_reload
        self.before_handler: Callable[[str], None] | None = None  # fault injection
        self.timeouts: dict[str, float] = {}  # logical id -> seconds, overriding the template's Timeout
        for path in sorted({str(f.code_dir) for f in self.by_name.values()} | {str(PROJECT_ROOT / "backend/shared")}):
            if path not in sys.path:
                sys.path.insert(0, path)
        os.environ.update(merged_environment(self.by_name.values()))
        self._sources_mtime = self._newest_source()
        self._last_check = time.monotonic()
        self._sandboxes = {f.logical_id: _Sandboxes(1) for f in self.by_name.values()}
        self._gate = threading.Condition()
        self._active = 0
        self._reloading = False

    @staticmethod
    def _newest_source() -> float:
        roots = [PROJECT_ROOT / "backend", PROJECT_ROOT / "workflows"]
        return max((p.stat().st_mtime for root in roots for p in root.rglob("*.py")), default=0.0)

    def reload_if_changed(self) -> bool:
        """Hot reload: when a source file changed, drop the project's modules so the next call re-imports them.

        Waits until no handler is running (and holds new invocations back meanwhile): modules must not vanish
        under a handler that is using them.
        """
        if not self.hot_reload or current_function() is not None:
            return False
        # Scanning the sources costs a directory walk: at most once per RELOAD_CHECK_EVERY_S, not per call.
        now = time.monotonic()
        if now - self._last_check < RELOAD_CHECK_EVERY_S:
            return False
        self._last_check = now
        newest = self._newest_source()
        if newest <= self._sources_mtime:
            return False
        with self._gate:
            if newest <= self._sources_mtime:
                return False
            self._reloading = True
            try:
                self._gate.wait_for(lambda: self._active == 0, timeout=60)
                for name in [m for m in sys.modules if m.split(".")[0] in SOURCE_PACKAGES]:
                    del sys.modules[name]
                for sandboxes in self._sandboxes.values():
                    sandboxes.forget_handlers()
                self._sources_mtime = newest
            finally:
                self._reloading = False
                self._gate.notify_all()
        log.info("handler sources changed: reloaded")
        return True

    def allow_concurrency(self, name: str, sandboxes: int) -> None:
        """Let a function run up to `sandboxes` invocations at once (before any invocation)."""
        self._sandboxes[self.function(name).logical_id] = _Sandboxes(sandboxes)

    def handler_for(self, function: Function, sandbox: int = 0) -> Any:
        module_name, _, attribute = function.handler.rpartition(".")
        if sandbox == 0:
            return getattr(importlib.import_module(module_name), attribute)
        sandboxes = self._sandboxes[function.logical_id]
        if sandbox not in sandboxes.handlers:
            importlib.import_module(module_name)  # its package and dependencies: shared, as in one process
            spec = importlib.util.find_spec(module_name)
            if spec is None or spec.loader is None:
                raise ImportError(module_name)
            module = importlib.util.module_from_spec(spec)  # not in sys.modules: this sandbox's own instance
            spec.loader.exec_module(module)
            sandboxes.handlers[sandbox] = getattr(module, attribute)
        return sandboxes.handlers[sandbox]

    @staticmethod
    def _label_logs(function: Function) -> None:
        """Each function's service name on its log lines (the process environment cannot hold all of them)."""
        from happypath.observability import logger

        # inject_lambda_context appends the context to the one shared logger; with handlers running in
        # parallel threads that would mislabel lines, so the function's own name goes on this thread's keys.
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(
            function_name=function.name, service=function.environment.get("POWERTOOLS_SERVICE_NAME", "happypath")
        )

    def function(self, name_or_arn: str) -> Function:
        function = self.by_name.get(name_or_arn.rsplit(":", 1)[-1])
        if function is None:
            raise KeyError(f"no local function {name_or_arn!r}")
        return function

    def _run_within_timeout(self, function: Function, handler: Any, event: Any, context: LambdaContext) -> Any:
        """The handler runs on its own thread; past the function's Timeout, Lambda's timeout error is returned.

        (Lambda would freeze the sandbox; here the late thread finishes on its own, its result discarded.)
        """
        outcome: dict[str, Any] = {}
        run_context = contextvars.copy_context()

        def target() -> None:
            try:
                self._label_logs(function)
                if self.before_handler:
                    self.before_handler(function.logical_id)
                outcome["result"] = handler(event, context)
            except BaseException as error:  # handed back to the caller's thread
                outcome["error"] = error

        timeout = self.timeouts.get(function.logical_id, function.timeout_s)
        thread = threading.Thread(
            target=run_context.run, args=(target,), name=f"lambda-{function.logical_id}", daemon=True
        )
        thread.start()
        thread.join(timeout)
        if thread.is_alive():
            raise FunctionTimeout(f"Task timed out after {timeout:.2f} seconds")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        """Lambda's answer: (JSON payload, errored, logs). Errors carry errorType, as Lambda reports them."""
        function = self.function(name)
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        context = LambdaContext(function.name, function.arn, function.memory_mb, function.timeout_s)
        self.reload_if_changed()
        with self._gate:
            self._gate.wait_for(lambda: not self._reloading)
            self._active += 1
        token = _current.set(function.logical_id)
        try:
            # One invocation at a time per sandbox, as in Lambda: handlers keep per-request state in module
            # globals (the Powertools resolver's current event).
            with self._sandboxes[function.logical_id].borrow() as sandbox:
                handler = self.handler_for(function, sandbox)
                result = self._run_within_timeout(function, handler, event, context)
            return json.dumps(result), False, ""
        except Exception as error:
            payload = {
                "errorType": getattr(error, "error_type", type(error).__name__),
                "errorMessage": str(error),
                "stackTrace": traceback.format_exception(error)[-6:],
            }
            log.error("%s failed: %s", function.name, "".join(traceback.format_exception(error)).rstrip())
            return json.dumps(payload), True, ""
        finally:
            _current.reset(token)
            with self._gate:
                self._active -= 1
                self._gate.notify_all()
