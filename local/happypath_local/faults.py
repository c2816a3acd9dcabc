"""Fault injection for the local runtime: failing AWS calls and crashing handlers, chosen at random (seeded).

Used by the reliability tests to show that whatever fails, every upload still ends in a final state.
"""

import fnmatch
import random
import threading
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from botocore.exceptions import ClientError

from happypath_local.functions import Invoker
from happypath_local.recorder import before_each_handler_call

CRASH = "crash"
HANG = "hang"


@dataclass(frozen=True)
class Fault:
    function: str  # logical id, or a glob such as "*"
    action: str  # IAM-style action glob ("s3:GetObject", "dynamodb:*"), or "crash" for the handler itself
    probability: float
    error_code: str = "InternalError"
    hang_s: float = 0.0  # for "hang": how long the handler stalls before it goes on


class InjectedCrash(RuntimeError):
    """A handler dying of a bug."""


# DynamoDB does not throttle a transaction with a throttling error: it cancels it, with a reason per item.
_CANCELLATION_REASONS = {
    "ProvisionedThroughputExceededException": "ProvisionedThroughputExceeded",
    "ThrottlingException": "ThrottlingError",
}


def _injected_error(fault: Fault, operation_name: str, params: dict[str, Any]) -> ClientError:
    reason = _CANCELLATION_REASONS.get(fault.error_code)
    if operation_name == "TransactWriteItems" and reason:
        reasons = [{"Code": reason}] + [{"Code": "None"}] * (len(params["TransactItems"]) - 1)
        error = {"Error": {"Code": "TransactionCanceledException", "Message": f"injected fault [{reason}]"}}
        response = error | {"CancellationReasons": reasons, "ResponseMetadata": {"HTTPStatusCode": 400}}
    else:
        error = {"Error": {"Code": fault.error_code, "Message": "injected fault"}}
        response = error | {"ResponseMetadata": {"HTTPStatusCode": 500}}
    return ClientError(response, operation_name)  # type: ignore[arg-type]


class FaultInjector:
    def __init__(self, faults: list[Fault], seed: int) -> None:
        self.faults = faults
        self.random = random.Random(seed)
        self.lock = threading.Lock()
        self.injected: Counter[str] = Counter()

    def _roll(self, function: str, action: str) -> Fault | None:
        for fault in self.faults:
            if fnmatch.fnmatchcase(function, fault.function) and fnmatch.fnmatchcase(action, fault.action):
                with self.lock:
                    if self.random.random() < fault.probability:
                        what = {CRASH: "InjectedCrash", HANG: f"hang {fault.hang_s}s"}.get(action, fault.error_code)
                        self.injected[f"{function} {action} {what}"] += 1
                        return fault
        return None

    @contextmanager
    def active(self, invoker: Invoker) -> Iterator["FaultInjector"]:
        injector = self

        def fail_at_random(function: str, operation: str, params: dict[str, Any], needs: list[tuple[str, str]]) -> None:
            for action, _resource in needs:
                fault = injector._roll(function, action)
                if fault:
                    raise _injected_error(fault, operation, params)

        def before_handler(function_logical_id: str) -> None:
            if injector._roll(function_logical_id, CRASH):
                raise InjectedCrash(f"injected crash in {function_logical_id}")
            hang = injector._roll(function_logical_id, HANG)
            if hang:
                time.sleep(hang.hang_s)

        with before_each_handler_call(fail_at_random):
            invoker.before_handler = before_handler
            try:
                yield self
            finally:
                invoker.before_handler = None
