"""The few places where moto is extended to run this app (pinned to moto==5.2.5; see DESIGN.md).

- Lambda: moto's function invoke runs the real handler through the Invoker (covers direct invokes, Step
  Functions tasks and S3 notifications).
- EventBridge: rules deliver to Step Functions and Lambda targets (moto only delivers to SQS, logs, ...).
- S3 -> Lambda notifications run on a worker with Lambda's async retries, never inside the PUT request.
- Each service's API calls run one at a time: moto's backends are not thread-safe (a DynamoDB transaction
  reads and writes several items), and AWS makes each call atomic anyway. Lambda is excluded: an
  invocation runs handler code, which calls other services from other threads.
- S3 object calls made without boto3 (happypath.s3_objects) reach the local S3 endpoint's WSGI app in-process:
  moto's S3 behind the gateway that checks their SigV4 signatures, as real S3 does.
- Calls that may have changed data are counted per service: persistence skips a save when none did.
- A state's `$$.State.EnteredTime` is written as Step Functions writes it (milliseconds, `Z`), not as moto
  does (microseconds, `+00:00`): the workflow stores it as a rejected or failed upload's `updatedAt`.
- A DynamoDB Query that stops at its `Limit` answers a `LastEvaluatedKey` even when nothing follows, as
  DynamoDB does (moto gives one only when another item follows): code that takes the key for "there is more"
  fails here as it would on AWS.
- Costs of moto that grow with use are removed (`speedups`).
"""

import contextvars
import copy
import importlib
import json
import logging
import threading
import uuid
from collections import Counter, defaultdict
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from functools import cached_property
from types import SimpleNamespace
from typing import Any
from urllib.parse import urlsplit

import boto3
import moto
from moto.awslambda.models import LambdaFunction
from moto.cloudfront.exceptions import NoSuchInvalidation
from moto.cloudfront.models import CloudFrontBackend, Invalidation
from moto.core.responses import BaseResponse
from moto.dynamodb.models.table import Table
from moto.events.models import Rule
from moto.s3 import notifications as s3_notifications
from moto.s3.responses import S3Response
from moto.stepfunctions.parser.asl.component.state import state as asl_state
from werkzeug.test import Client

from happypath import s3_objects
from happypath.models import utc_timestamp
from happypath_local import speedups
from happypath_local.functions import Invoker, acting_as, acting_as_aws
from happypath_local.s3_gateway import S3Gateway
from happypath_local.stack import ACCOUNT, LOCAL_CDN_ID, REGION

MOTO_VERSION = "5.2.5"
DELIVERED_HERE = frozenset({"states", "lambda"})
UNSERIALISED_SERVICES = frozenset({"awslambda"})
ASYNC_RETRIES = 2  # Lambda retries a failed asynchronous invocation twice
READ_ONLY_ACTIONS = ("Get", "BatchGet", "TransactGet", "Query", "Scan", "Describe", "List", "Head")
READ_ONLY_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
log = logging.getLogger("happypath.local")


def _query_stopping_at_its_limit(original: Callable[..., Any]) -> Callable[..., Any]:
    def query(
        table: Table,
        hash_key: Any,
        range_comparison: Any,
        range_objs: Any,
        limit: int | None,
        exclusive_start_key: Any,
        scan_index_forward: bool,
        projection_expressions: Any,
        index_name: str | None = None,
        consistent_read: bool = False,
        filter_expression: Any = None,
        **kwargs: Any,
    ) -> Any:
        def read(projection: Any, filtering: Any) -> Any:
            return original(
                table, hash_key, range_comparison, range_objs, limit, exclusive_start_key, scan_index_forward,
                projection, index_name, consistent_read, filtering, **kwargs,
            )  # fmt: skip

        results, read_count, last_key = answer = read(projection_expressions, filter_expression)
        if not limit or last_key is not None or read_count < limit:
            return answer
        # The key of the last item read, whole: the items answered may have been filtered or projected.
        last_read = read(None, None)[0][-1]
        return results, read_count, table._get_last_evaluated_key(last_read, index_name)

    return query


def _service(arn: str) -> str:
    return arn.split(":")[2]


class _Answer:
    """A WSGI app's answer as http.client's response gives it (what s3_objects reads)."""

    def __init__(self, status: int, headers: Mapping[str, str], body: bytes) -> None:
        self.status, self._headers, self._body = status, {k.lower(): v for k, v in headers.items()}, body

    def getheader(self, name: str, default: str | None = None) -> str | None:
        return self._headers.get(name.lower(), default)

    def read(self, amt: int | None = None) -> bytes:
        body, self._body = self._body, b""
        return body

    def close(self) -> None:
        self._body = b""


class Seams:
    def __init__(self, invoker: Invoker) -> None:
        if moto.__version__ != MOTO_VERSION:
            raise RuntimeError(f"the local runtime's seams are written for moto {MOTO_VERSION}, not {moto.__version__}")
        self.invoker = invoker
        self.async_pool = ThreadPoolExecutor(max_workers=8, thread_name_prefix="lambda-async")
        self._originals: dict[tuple[Any, str], Any] = {}
        self.on_async_failure: Callable[[str, dict[str, Any], str], None] | None = None
        self.writes: Counter[str] = Counter()  # service -> finished calls that may have changed its data
        self._writes_lock = threading.Lock()
        self._service_locks: defaultdict[str, threading.RLock] = defaultdict(threading.RLock)
        self._queued = 0  # asynchronous invocations not finished yet
        self._queued_lock = threading.Lock()

    @cached_property
    def s3_gateway(self) -> S3Gateway:
        """The local S3 endpoint: browsers reach it over HTTP, the handlers' S3 object calls in-process."""
        from moto.moto_server.werkzeug_app import create_backend_app

        return S3Gateway(create_backend_app("s3"))

    def send_to_s3(self, method: str, url: str, headers: Mapping[str, str], body: bytes) -> s3_objects.Response:
        """s3_objects' transport: the request as it would go over the network, given to the S3 endpoint's app."""
        parts = urlsplit(url)
        client = Client(self.s3_gateway, use_cookies=False)
        answer = client.open(
            parts.path,  # as sent: encoded once (werkzeug decodes it into PATH_INFO, as a server does)
            base_url=f"{parts.scheme}://{parts.netloc}",
            method=method,
            query_string=parts.query,
            headers=dict(headers),
            data=body,
        )
        return _Answer(answer.status_code, dict(answer.headers), answer.get_data())

    def _send_s3_objects_here(self) -> None:
        """Point s3_objects at the local S3 endpoint (again after a hot reload, which imports a new module: the
        default would still work, over HTTP, but only while the server listens)."""
        self._patch(importlib.import_module("happypath.s3_objects"), "transport", self.send_to_s3)

    def _patch(self, owner: Any, attribute: str, replacement: Any) -> None:
        self._originals[(owner, attribute)] = getattr(owner, attribute)
        setattr(owner, attribute, replacement)

    def install(self) -> "Seams":
        invoker = self.invoker
        seams = self

        def invoke_lambda(function: LambdaFunction, event: Any = None) -> tuple[str, bool, str]:
            return invoker.invoke(function.function_name, event)

        original_send = Rule.send_to_targets

        def send_to_targets(rule: Rule, original_event: Any, transform_input: bool = True) -> None:
            others = [t for t in rule.targets if _service(t["Arn"]) not in DELIVERED_HERE]
            if others:  # moto raises NotImplementedError on targets it cannot deliver to
                moto_rule = copy.copy(rule)
                moto_rule.targets = others
                original_send(moto_rule, original_event, transform_input)
            if rule.event_pattern.matches_event(original_event):
                with acting_as_aws():
                    seams.deliver(rule, dict(original_event))

        def invoke_from_s3(account_id: str, event_body: Any, fn_arn: str, region_name: str) -> None:
            seams.invoke_async(fn_arn, event_body)

        original_call_action = BaseResponse.call_action

        def call_action(response: BaseResponse) -> Any:
            service = type(response).__module__.split(".")[1]
            if service in UNSERIALISED_SERVICES:
                return original_call_action(response)
            with seams.service_lock(service):
                try:
                    return original_call_action(response)
                finally:  # counted once done: a save that reads the count sees the change, or the next one does
                    if not (response._get_action() or "").startswith(READ_ONLY_ACTIONS):
                        seams.count_write(service)

        def counting_s3_writes(original: Callable[..., Any]) -> Callable[..., Any]:
            # S3 requests (SDK calls and the HTTP endpoint's) do not go through call_action.
            def respond(response: S3Response, request: Any, full_url: str, headers: Any) -> Any:
                try:
                    return original(response, request, full_url, headers)
                finally:
                    if request.method not in READ_ONLY_METHODS:
                        seams.count_write("s3")

            return respond

        # The emulated distribution is not one of moto's, and it caches nothing: its invalidations are recorded
        # (list and get show them) and complete at once, as moto's own are.
        original_create_invalidation = CloudFrontBackend.create_invalidation
        original_get_invalidation = CloudFrontBackend.get_invalidation

        def create_invalidation(backend: CloudFrontBackend, dist_id: str, paths: list[str], caller_ref: str) -> Any:
            if dist_id != LOCAL_CDN_ID:
                return original_create_invalidation(backend, dist_id, paths, caller_ref)
            where = SimpleNamespace(location=f"https://cloudfront.amazonaws.com/2020-05-31/distribution/{dist_id}")
            invalidation = Invalidation(where, paths, caller_ref)  # type: ignore[arg-type]
            backend.invalidations.setdefault(dist_id, []).append(invalidation)
            return invalidation

        def get_invalidation(backend: CloudFrontBackend, dist_id: str, id: str) -> Any:
            if dist_id != LOCAL_CDN_ID:
                return original_get_invalidation(backend, dist_id, id)
            for invalidation in backend.invalidations.get(dist_id, []):
                if invalidation.id == id:
                    return invalidation
            raise NoSuchInvalidation

        def state_data(**fields: Any) -> dict[str, Any]:  # StateData is a TypedDict: a plain dict at run time
            return {**fields, "EnteredTime": utc_timestamp(datetime.fromisoformat(fields["EnteredTime"]))}

        original_submit = ThreadPoolExecutor.submit

        def submit(executor: ThreadPoolExecutor, fn: Callable[..., Any], /, *args: Any, **kwargs: Any) -> Any:
            context = contextvars.copy_context()
            return original_submit(executor, context.run, fn, *args, **kwargs)

        self._patch(ThreadPoolExecutor, "submit", submit)
        self._patch(BaseResponse, "call_action", call_action)
        for entry in ("bucket_response", "key_response"):
            self._patch(S3Response, entry, counting_s3_writes(getattr(S3Response, entry)))
        self._patch(LambdaFunction, "_invoke_lambda", invoke_lambda)
        self._patch(Rule, "send_to_targets", send_to_targets)
        self._patch(s3_notifications, "_invoke_awslambda", invoke_from_s3)
        self._patch(CloudFrontBackend, "create_invalidation", create_invalidation)
        self._patch(CloudFrontBackend, "get_invalidation", get_invalidation)
        self._patch(asl_state, "StateData", state_data)
        self._patch(Table, "query", _query_stopping_at_its_limit(Table.query))
        self._send_s3_objects_here()
        invoker.after_reload.append(self._send_s3_objects_here)
        speedups.install(self._patch)
        return self

    def uninstall(self) -> None:
        if self._send_s3_objects_here in self.invoker.after_reload:
            self.invoker.after_reload.remove(self._send_s3_objects_here)
        for (owner, attribute), original in self._originals.items():
            setattr(owner, attribute, original)
        self._originals.clear()
        self.async_pool.shutdown(wait=True, cancel_futures=False)

    def count_write(self, service: str) -> None:
        with self._writes_lock:
            self.writes[service] += 1

    def service_lock(self, service: str) -> threading.RLock:
        """Held while a call to `service` runs (moto's module name: dynamodb, s3, ...)."""
        return self._service_locks[service]

    @property
    def queued_invocations(self) -> int:
        return self._queued

    def invoke_async(self, function: str, event: dict[str, Any]) -> None:
        """Asynchronous invocation: queued, retried twice on error, then sent to the dead-letter queue."""

        def run() -> None:
            try:
                error = ""
                for _attempt in range(1 + ASYNC_RETRIES):
                    payload, errored, _ = self.invoker.invoke(function, event)
                    if not errored:
                        return
                    error = payload
                log.error("asynchronous invocation of %s failed after retries: %s", function, error)
                self._dead_letter(function, event, error)
            finally:
                with self._queued_lock:
                    self._queued -= 1

        with self._queued_lock:
            self._queued += 1
        with acting_as_aws():
            try:
                self.async_pool.submit(run)
            except RuntimeError:  # stopping without waiting (a second Ctrl-C): the next start sends it again
                with self._queued_lock:
                    self._queued -= 1

    @staticmethod
    def notify_object_created(bucket_name: str, key_name: str) -> None:
        """Send an object's ObjectCreated notification (again), as S3 does when the object arrives."""
        from moto.s3.models import s3_backends

        backend = s3_backends[ACCOUNT]["aws"]
        key = backend.get_object(bucket_name, key_name)
        if key is not None:
            event = s3_notifications.S3NotificationEvent.OBJECT_CREATED_POST_EVENT
            s3_notifications.send_event(ACCOUNT, event, backend.get_bucket(bucket_name), key)

    def _dead_letter(self, function_name: str, event: dict[str, Any], error: str) -> None:
        function = self.invoker.function(function_name)
        if not function.dead_letter_arn:
            log.error("%s has no dead-letter queue: the event is dropped, as Lambda would", function.name)
            return
        queue_name = function.dead_letter_arn.rsplit(":", 1)[1]
        sqs = boto3.client("sqs", region_name=REGION)
        with acting_as(function.logical_id):  # Lambda sends it with the function's role
            sqs.send_message(
                QueueUrl=sqs.get_queue_url(QueueName=queue_name)["QueueUrl"],
                MessageBody=json.dumps(event),
                MessageAttributes={
                    "ErrorMessage": {
                        "DataType": "String",
                        "StringValue": json.loads(error).get("errorMessage", "")[:256],
                    },
                },
            )

    def deliver(self, rule: Rule, event: dict[str, Any]) -> None:
        if isinstance(event.get("time"), float | int):  # moto keeps time as a float internally
            event["time"] = datetime.fromtimestamp(event["time"], UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        for target in rule.targets:
            arn: str = target["Arn"]
            service = _service(arn)
            if service == "states":
                boto3.client("stepfunctions", region_name=REGION).start_execution(
                    stateMachineArn=arn, name=str(uuid.uuid4()), input=json.dumps(event)
                )
            elif service == "lambda":
                self.invoke_async(arn, event)
