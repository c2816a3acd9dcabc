"""EventBridge Scheduler, locally: fires the template's `rate(...)` schedules at their Lambda targets.

moto stores schedules but never runs them. Invocations are asynchronous with Lambda's retries, as on AWS.
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
    def __init__(self, stack: Stack, seams: Seams) -> None:
        self.schedules = schedules_of(stack)
        self.seams = seams
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
        while not self._stop.wait(schedule.every_s):
            self.fire(schedule)

    def stop(self) -> None:
        self._stop.set()
