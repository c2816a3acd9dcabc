"""Runs the real Python handlers (imported from their CodeUri) the way Lambda would.

Every handler runs in this process, each invocation in a thread of its own that the caller waits for, up
to the function's Timeout: one handler's AWS call may trigger another handler, so there is no global lock.
Environments: the functions' variables are merged into one process environment (they must agree on shared
names, checked at start-up); the per-function service name is given to the logs as a thread-local key
instead.
"""

import contextvars
import importlib
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
PER_FUNCTION_VARIABLES = frozenset({"POWERTOOLS_SERVICE_NAME"})
SOURCE_PACKAGES = ("happypath", "happypath_backend", "happypath_workflow")
RELOAD_CHECK_EVERY_S = 0.5
# The function whose handler is running: a context variable, so work a handler hands to a thread pool
# (copied by the seam on ThreadPoolExecutor.submit) is attributed to it too.
_current: ContextVar[str | None] = ContextVar("happypath_function", default=None)
log = logging.getLogger("happypath.local")


class FunctionTimeout(Exception):
    """What Lambda reports when a handler runs past its Timeout."""

    error_type = "Sandbox.Timedout"


class FunctionBusy(Exception):
    """A call of the function that timed out still runs (locally its thread goes on; Lambda would have ended
    it), past this call's own time: reported as Lambda reports a function it cannot run now."""

    error_type = "TooManyRequestsException"


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
    for function in functions:
        for name, value in function.environment.items():
            if name in PER_FUNCTION_VARIABLES:  # given to the logs per invocation instead
                continue
            if name in merged and merged[name] != value:
                raise RuntimeError(
                    f"{function.logical_id} sets {name}={value!r} but another function sets {merged[name]!r}; "
                    "the local runtime shares one environment (see happypath_local.functions)"
                )
            merged[name] = value
    return merged


def _drop_metrics() -> None:
    """Forget the metrics a call recorded, as Lambda's flush at the end of each call does.

    Locally metrics go nowhere (POWERTOOLS_METRICS_DISABLED), and Powertools' flush then keeps them: handlers
    share one process, so a metric's values would pile up until its 100th, which Powertools writes out in the
    middle of a call, failing it after its work was done."""
    observability = sys.modules.get("happypath.observability")
    if observability is not None:
        observability.metrics.clear_metrics()


class Invoker:
    def __init__(self, functions: Iterable[Function], hot_reload: bool = False) -> None:
        self.by_name = {f.name: f for f in functions}
        self.hot_reload = hot_reload
        self.before_handler: Callable[[str], None] | None = None  # fault injection
        # Run once a hot reload has dropped the project's modules: seams set on them are set again on the new ones.
        self.after_reload: list[Callable[[], None]] = []
        self.timeouts: dict[str, float] = {}  # logical id -> seconds, overriding the template's Timeout
        for path in sorted({str(f.code_dir) for f in self.by_name.values()} | {str(PROJECT_ROOT / "backend/shared")}):
            if path not in sys.path:
                sys.path.insert(0, path)
        os.environ.update(merged_environment(self.by_name.values()))
        self._sources_mtime = self._newest_source()
        self._last_check = time.monotonic()
        self._function_locks = {f.logical_id: threading.Lock() for f in self.by_name.values()}
        self._gate = threading.Condition()
        self._active = 0
        self._reloading = False
        self._warm: set[str] = set()  # functions invoked since their code was (re)loaded: no cold start

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
                for again in self.after_reload:
                    again()
                self._sources_mtime = newest
                self._warm.clear()
            finally:
                self._reloading = False
                self._gate.notify_all()
        log.info("handler sources changed: reloaded")
        return True

    def handler_for(self, function: Function) -> Any:
        module_name, _, attribute = function.handler.rpartition(".")
        return getattr(importlib.import_module(module_name), attribute)

    def _label_logs(self, function: Function, context: LambdaContext) -> None:
        """This invocation's Lambda context and service name on its log lines.

        inject_lambda_context writes the context onto the one shared logger; with handlers running in parallel
        threads, lines would carry whichever function ran last. Keys appended for this thread win over shared
        ones, so every field inject_lambda_context sets is set here too, from this invocation.
        """
        from happypath.observability import logger

        with self._gate:
            cold_start = function.logical_id not in self._warm
            self._warm.add(function.logical_id)
        logger.thread_safe_clear_keys()
        logger.thread_safe_append_keys(
            function_name=context.function_name,
            function_memory_size=context.memory_limit_in_mb,
            function_arn=context.invoked_function_arn,
            function_request_id=context.aws_request_id,
            cold_start=cold_start,
            service=function.environment.get("POWERTOOLS_SERVICE_NAME", "happypath"),
        )

    def function(self, name_or_arn: str) -> Function:
        function = self.by_name.get(name_or_arn.rsplit(":", 1)[-1])
        if function is None:
            raise KeyError(f"no local function {name_or_arn!r}")
        return function

    def _run_within_timeout(self, function: Function, event: Any, context: LambdaContext) -> Any:
        """The function's handler (imported here) runs on its own thread; past the function's Timeout, Lambda's
        timeout error is returned.

        One call at a time per function, as in one Lambda sandbox: handlers keep per-request state in globals
        (Powertools keeps the resolver's current event on the BaseRouter class itself, so not even separate
        module instances could run API requests side by side in one process). The thread holds the function,
        and the call counts as running (for hot reloads), until its handler returns: Lambda would end a call
        that timed out with its sandbox, while here the late thread runs on (its result discarded), and a next
        call beside it would share its globals. Ends the call (`_end_call`) once, whatever happens.
        """
        try:
            handler = self.handler_for(function)
        except BaseException:
            self._end_call()
            raise
        outcome: dict[str, Any] = {}
        run_context = contextvars.copy_context()
        function_lock = self._function_locks[function.logical_id]
        timeout = self.timeouts.get(function.logical_id, function.timeout_s)

        def target() -> None:
            try:
                try:
                    self._label_logs(function, context)
                    if self.before_handler:
                        self.before_handler(function.logical_id)
                    outcome["result"] = handler(event, context)
                except BaseException as error:  # handed back to the caller's thread
                    outcome["error"] = error
                finally:
                    _drop_metrics()
            finally:
                function_lock.release()
                self._end_call()

        # A late call of the function may hold it: wait for it as long as this call may run, no longer.
        if not function_lock.acquire(timeout=timeout):
            self._end_call()
            raise FunctionBusy(f"{function.name} is still running a call that timed out")
        thread = threading.Thread(
            target=run_context.run, args=(target,), name=f"lambda-{function.logical_id}", daemon=True
        )
        try:
            thread.start()
        except Exception:
            function_lock.release()
            self._end_call()
            raise
        thread.join(timeout)
        if thread.is_alive():
            raise FunctionTimeout(f"Task timed out after {timeout:.2f} seconds")
        if "error" in outcome:
            raise outcome["error"]
        return outcome["result"]

    def _end_call(self) -> None:
        with self._gate:
            self._active -= 1
            self._gate.notify_all()

    def invoke(self, name: str, event: Any) -> tuple[str, bool, str]:
        """Lambda's answer: (JSON payload, errored, logs). Errors carry errorType, as Lambda reports them."""
        function = self.function(name)
        if isinstance(event, str | bytes):
            event = json.loads(event or "{}")
        context = LambdaContext(function.name, function.arn, function.memory_mb, function.timeout_s)
        self.reload_if_changed()
        with self._gate:
            self._gate.wait_for(lambda: not self._reloading)
            self._active += 1  # until the call ends: see _run_within_timeout
        token = _current.set(function.logical_id)
        try:
            result = self._run_within_timeout(function, event, context)
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
