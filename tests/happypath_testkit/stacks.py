"""A deployed stack as the deploy scripts see it: CloudFormation's answer for its outputs, stubbed."""

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import boto3
from botocore.stub import Stubber

STACK = "happy-path"


@contextmanager
def described_stack(outputs: dict[str, str], region: str) -> Iterator[Any]:
    """A CloudFormation client that answers one DescribeStacks for STACK with these outputs."""
    client = boto3.client("cloudformation", region_name=region)
    described = {"StackName": STACK, "CreationTime": "2026-12-01T00:00:00Z", "StackStatus": "UPDATE_COMPLETE"}
    listed = [{"OutputKey": key, "OutputValue": value} for key, value in outputs.items()]
    with Stubber(client) as stub:
        stub.add_response("describe_stacks", {"Stacks": [described | {"Outputs": listed}]}, {"StackName": STACK})
        yield client
