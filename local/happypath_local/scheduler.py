"""EventBridge Scheduler, locally: fires the template's `rate(...)` schedules at their Lambda targets.

moto stores schedules but never runs them. Invocations are asynchronous with Lambda's retries, as on AWS.
Each schedule also runs once soon after start: a laptop's app is often stopped within minutes, and one
restarted more often than its rate would otherwise never run it (no expired upload form would be closed).
"""

import json
import logging
import re
import threading
from dataclasses import dataclass
from typing import Any

from happypath_local.seams import Seams
from happypath_local.stack import Stack

log = logging.getLogger("happypath.local")
_RATE = re.compile(r"^rate\((\d+) (minute|minutes|hour|hours|day|days)\)$")
_UNIT_SECONDS = {"minute": 60, "hour": 3600, "day": 86400}
FIRST_RUN_AFTER_S = 10.0  # once the restored uploads have been started again and the servers answer


@dataclass(frozen=True)
class Schedule:
    name: str
    every_s: int
    target_arn: str
    payload: dict[str, Any]


def schedules_of(stack: Stack) -> list[Schedule]:
    found = []
    for logical_id, resource in stack.of_type("AWS::Scheduler::Schedule").items():
        props = resource["Properties"]
        match = _RATE.match(props["ScheduleExpression"])
        if not match:
            log.warning(
                "schedule %s: only rate() expressions run locally, not %s", logical_id, props["ScheduleExpression"]
            )
            continue
        every = int(match.group(1)) * _UNIT_SECONDS[match.group(2).rstrip("s")]
        target = props["Target"]
        found.append(Schedule(logical_id, every, target["Arn"], json.loads(target.get("Input", "{}"))))
    return found


class Scheduler:
    def __init__(self, stack: Stack, seams: Seams, first_run_after_s: float = FIRST_RUN_AFTER_S) -> None:
        self.schedules = schedules_of(stack)
        self.seams = seams
        self.first_run_after_s = first_run_after_s
        self._stop = threading.Event()
        self._threads: list[threading.Thread] = []

    def start(self) -> "Scheduler":
        for schedule in self.schedules:
            thread = threading.Thread(target=self._run, args=(schedule,), name=f"schedule-{schedule.name}", daemon=True)
            thread.start()
            self._threads.append(thread)
        return self

    def fire(self, schedule: Schedule) -> None:
        self.seams.invoke_async(schedule.target_arn, schedule.payload)

    def _run(self, schedule: Schedule) -> None:
        wait_s = min(self.first_run_after_s, schedule.every_s)
        while not self._stop.wait(wait_s):
            self.fire(schedule)
            wait_s = schedule.every_s

    def stop(self) -> None:
        self._stop.set()
