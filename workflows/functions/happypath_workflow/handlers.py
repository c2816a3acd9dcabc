"""Lambda entry points of the workflow steps: parse the task input, call the step, return its result.

Throttling, 5xx and network failures from any AWS call become TransientError here, in one place: the
state machine retries exactly those.

The resize function loads this module too, and must not load boto3 (~35 MB of its 64 MB, bench/README.md):
nothing here imports it before a handler that needs DynamoDB runs.
"""

from typing import TYPE_CHECKING, Any

from aws_lambda_powertools.utilities.parser import event_parser
from aws_lambda_powertools.utilities.typing import LambdaContext

from happypath.observability import logger, tracer
from happypath_workflow import steps
from happypath_workflow.errors import transient_aws_errors
from happypath_workflow.models import ModerateInput, PublishInput, ResizeInput, StepInput

if TYPE_CHECKING:
    from happypath.repository import Repository


def _repository() -> "Repository":
    from happypath.repository import Repository  # boto3: see the module's docstring

    return Repository()


def _log_result(step: str, upload_id: str, result: dict[str, Any]) -> dict[str, Any]:
    logger.info(f"{step} done", extra={"uploadId": upload_id, "result": result})
    return result


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=StepInput)
@transient_aws_errors()
def check_image(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    result = steps.check_image(event.upload).model_dump(mode="json")
    return _log_result("check", event.upload.uploadId, result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ModerateInput)
@transient_aws_errors()
def moderate(event: ModerateInput, context: LambdaContext) -> dict[str, Any]:
    result = steps.moderate(event.upload, event.policy, event.moderationKey).model_dump(mode="json")
    return _log_result("moderate", event.upload.uploadId, result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=ResizeInput)
@transient_aws_errors()
def resize(event: ResizeInput, context: LambdaContext) -> dict[str, Any]:
    result = steps.resize(event.upload, checked=event.checked).model_dump(mode="json")
    return _log_result("resize", event.upload.uploadId, result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=PublishInput)
@transient_aws_errors()
def publish(event: PublishInput, context: LambdaContext) -> dict[str, Any]:
    result = steps.publish(_repository(), event.upload, event.image).model_dump(mode="json")
    return _log_result("publish", event.upload.uploadId, result)


@logger.inject_lambda_context
@tracer.capture_lambda_handler
@event_parser(model=StepInput)
@transient_aws_errors()
def discard_images(event: StepInput, context: LambdaContext) -> dict[str, Any]:
    result = steps.discard_images(_repository(), event.upload).model_dump(mode="json")
    return _log_result("discard images", event.upload.uploadId, result)
