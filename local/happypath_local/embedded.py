"""The app deployed into an in-process moto: used by the tests and by the local server."""

import functools
import os
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

import boto3
from moto import mock_aws

from happypath_local.deploy import Deployer
from happypath_local.functions import Invoker
from happypath_local.seams import Seams
from happypath_local.stack import FAKE_CREDENTIALS, REGION, Stack, load_stack


class EmbeddedApp:
    """`with EmbeddedApp(...) as app:` deploys template.yaml into moto and runs the real handlers."""

    def __init__(
        self,
        parameters: Mapping[str, str],
        local_urls: Mapping[str, str],
        hot_reload: bool = False,
        *,
        stand_ins: Mapping[str, str] | None = None,
    ) -> None:
        """`stand_ins`: parameters set to the runtime's own issuer and origin (see `load_stack`)."""
        self.hot_reload = hot_reload
        self.parameters = dict(parameters)
        self.stand_ins = dict(stand_ins or {})
        self.local_urls = dict(local_urls)
        self._mock = mock_aws(config={"stepfunctions": {"execute_state_machine": True}})
        self.stack: Stack
        self.invoker: Invoker
        self.seams: Seams

    def __enter__(self) -> "EmbeddedApp":
        for name, value in FAKE_CREDENTIALS.items():
            os.environ.setdefault(name, value)
        self._mock.start()
        try:
            self.stack = load_stack(self.parameters, self.local_urls, stand_ins=self.stand_ins)
            self.invoker = Invoker(self.stack.functions.values(), self.hot_reload)
            self.seams = Seams(self.invoker).install()
            Deployer(self.stack).deploy()
            from happypath import aws

            aws.reset_clients()
        except BaseException:
            self._mock.stop()
            raise
        return self

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.seams.uninstall()
        self._mock.stop()

    # --- conveniences for callers ------------------------------------------------------------------

    def physical(self, logical_id: str) -> str:
        return self.stack.physical_ids[logical_id]

    def state_machine_arn(self) -> str:
        (logical_id,) = self.stack.of_type("AWS::StepFunctions::StateMachine")
        return self.physical(logical_id)

    @functools.cached_property
    def stepfunctions(self) -> Any:
        """One client for the conveniences below, some of which poll (boto3 clients are thread-safe)."""
        return boto3.client("stepfunctions", region_name=REGION)

    def executions(self) -> list[dict[str, Any]]:
        listed = self.stepfunctions.list_executions(stateMachineArn=self.state_machine_arn())
        return [dict(e) for e in listed["executions"]]

    def running_executions(self) -> int:
        pages = self.stepfunctions.get_paginator("list_executions").paginate(
            stateMachineArn=self.state_machine_arn(), statusFilter="RUNNING"
        )
        return sum(len(page["executions"]) for page in pages)

    def wait_for_executions(self, count: int, timeout_s: float = 60) -> list[dict[str, Any]]:
        """Wait until `count` executions exist and none is still running."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            executions = self.executions()
            if len(executions) >= count and all(e["status"] != "RUNNING" for e in executions):
                return executions
            time.sleep(0.05)
        raise TimeoutError(f"executions did not finish in {timeout_s}s: {self.executions()}")

    def history(self, execution_arn: str) -> list[dict[str, Any]]:
        events = self.stepfunctions.get_execution_history(executionArn=execution_arn, maxResults=1000)["events"]
        return [dict(e) for e in events]

    def executions_for(self, upload_id: str) -> list[dict[str, Any]]:
        """The executions started for one upload (its id is in the event the workflow received)."""
        return [
            e
            for e in self.executions()
            if f'"uploadId": "{upload_id}"'
            in self.stepfunctions.describe_execution(executionArn=e["executionArn"])["input"]
        ]

    def states_entered(self, execution_arn: str) -> list[str]:
        return [
            e["stateEnteredEventDetails"]["name"]
            for e in self.history(execution_arn)
            if "stateEnteredEventDetails" in e
        ]
