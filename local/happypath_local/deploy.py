"""Creates the resources of a resolved Stack in the embedded AWS (moto) through boto3, as CloudFormation would.

Resource types the runtime emulates itself (HTTP API, CloudFront, the sign-in issuer) or that have no local
meaning (layers, Lambda permissions, X-Ray) are listed in EMULATED and skipped here.
"""

import io
import json
import zipfile
from typing import Any

import boto3

from happypath_local.stack import REGION, Stack, state_machine_definition

EMULATED = frozenset(
    {
        "AWS::ApiGatewayV2::Api",
        "AWS::ApiGatewayV2::Stage",
        "AWS::CloudFront::Distribution",
        "AWS::CloudFront::Function",  # the local origin serves the web app and its routes itself
        "AWS::CloudFront::OriginAccessControl",
        "AWS::CloudFront::ResponseHeadersPolicy",  # the local origin adds its headers (web.security_headers)
        "AWS::Cognito::UserPool",
        "AWS::Cognito::UserPoolClient",
        "AWS::Cognito::UserPoolDomain",
        "AWS::Lambda::LayerVersion",
        "AWS::Lambda::Permission",
        "AWS::Lambda::EventInvokeConfig",
        "AWS::Scheduler::Schedule",  # run by happypath_local.scheduler
        # Operations: the functions' logs and errors are printed in the terminal; no metrics to alarm on.
        "AWS::Logs::LogGroup",
        "AWS::CloudWatch::Alarm",
        "AWS::SNS::Topic",
        "AWS::SNS::Subscription",
    }
)
# Creation order: a resource only refers to resources of earlier types.
ORDER = (
    "AWS::IAM::Role",
    "AWS::SQS::Queue",
    "AWS::DynamoDB::Table",
    "AWS::S3::Bucket",
    "AWS::S3::BucketPolicy",
    "AWS::Lambda::Function",
    "AWS::StepFunctions::StateMachine",
    "AWS::Events::Rule",
)


def _denies_plain_http(statement: dict[str, Any]) -> bool:
    return statement.get("Effect") == "Deny" and statement.get("Condition") == {
        "Bool": {"aws:SecureTransport": "false"}
    }


def _placeholder_zip() -> bytes:
    """moto wants a code package; the real handler is imported from source by the Invoker."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("README.txt", "code runs from the project sources")
    return buffer.getvalue()


class Deployer:
    def __init__(self, stack: Stack) -> None:
        self.stack = stack
        self.iam = boto3.client("iam", region_name=REGION)
        self.sqs = boto3.client("sqs", region_name=REGION)
        self.dynamodb = boto3.client("dynamodb", region_name=REGION)
        self.s3 = boto3.client("s3", region_name=REGION)
        self.lambda_ = boto3.client("lambda", region_name=REGION)
        self.sfn = boto3.client("stepfunctions", region_name=REGION)
        self.events = boto3.client("events", region_name=REGION)

    def deploy(self) -> None:
        unknown = {r["Type"] for r in self.stack.resources.values()} - set(ORDER) - EMULATED
        if unknown:
            raise RuntimeError(f"template uses resource types the local runtime cannot create: {sorted(unknown)}")
        for resource_type in ORDER:
            create = getattr(self, "_" + resource_type.split("::", 1)[1].replace("::", "_").lower())
            for logical_id, resource in self.stack.of_type(resource_type).items():
                create(logical_id, resource["Properties"])
        for logical_id, resource in self.stack.of_type("AWS::S3::Bucket").items():
            self._bucket_notifications(logical_id, resource["Properties"])

    def _name(self, logical_id: str) -> str:
        return self.stack.physical_ids[logical_id]

    def _iam_role(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self._name(logical_id)
        self.iam.create_role(RoleName=name, AssumeRolePolicyDocument=json.dumps(props["AssumeRolePolicyDocument"]))
        for policy in props.get("Policies", []):
            # SAM's policy templates omit Version; IAM accepts that, moto insists on one.
            document = {"Version": "2012-10-17", **policy["PolicyDocument"]}
            self.iam.put_role_policy(
                RoleName=name, PolicyName=policy["PolicyName"], PolicyDocument=json.dumps(document)
            )

    def _sqs_queue(self, logical_id: str, props: dict[str, Any]) -> None:
        self.sqs.create_queue(QueueName=self._name(logical_id))

    def _dynamodb_table(self, logical_id: str, props: dict[str, Any]) -> None:
        arguments: dict[str, Any] = {
            key: props[key]
            for key in ("AttributeDefinitions", "KeySchema", "GlobalSecondaryIndexes", "BillingMode")
            if key in props
        }
        if "StreamSpecification" in props:
            arguments["StreamSpecification"] = {"StreamEnabled": True, **props["StreamSpecification"]}
        self.dynamodb.create_table(TableName=self._name(logical_id), **arguments)

    def _s3_bucket(self, logical_id: str, props: dict[str, Any]) -> None:
        bucket = self._name(logical_id)
        self.s3.create_bucket(Bucket=bucket)
        if "CorsConfiguration" in props:
            # CloudFormation and the S3 API name these two apart.
            renamed = {"MaxAge": "MaxAgeSeconds", "Id": "ID"}
            rules: Any = [
                {renamed.get(k, k): v for k, v in rule.items()} for rule in props["CorsConfiguration"]["CorsRules"]
            ]
            self.s3.put_bucket_cors(Bucket=bucket, CORSConfiguration={"CORSRules": rules})
        if "PublicAccessBlockConfiguration" in props:
            self.s3.put_public_access_block(
                Bucket=bucket, PublicAccessBlockConfiguration=props["PublicAccessBlockConfiguration"]
            )
        if "LifecycleConfiguration" in props:
            lifecycle: Any = [
                {
                    "ID": rule["Id"],
                    "Status": rule["Status"],
                    "Filter": {"Prefix": rule.get("Prefix", "")},
                    **({"Expiration": {"Days": rule["ExpirationInDays"]}} if "ExpirationInDays" in rule else {}),
                    **(
                        {"AbortIncompleteMultipartUpload": rule["AbortIncompleteMultipartUpload"]}
                        if "AbortIncompleteMultipartUpload" in rule
                        else {}
                    ),
                }
                for rule in props["LifecycleConfiguration"]["Rules"]
            ]
            self.s3.put_bucket_lifecycle_configuration(Bucket=bucket, LifecycleConfiguration={"Rules": lifecycle})

    def _s3_bucketpolicy(self, logical_id: str, props: dict[str, Any]) -> None:
        # Every local endpoint is plain HTTP on loopback: a statement refusing requests without TLS would
        # refuse them all (moto applies it), so it is left out here.
        document = props["PolicyDocument"]
        kept = [s for s in document["Statement"] if not _denies_plain_http(s)]
        if kept:
            self.s3.put_bucket_policy(Bucket=props["Bucket"], Policy=json.dumps(document | {"Statement": kept}))

    def _bucket_notifications(self, logical_id: str, props: dict[str, Any]) -> None:
        lambdas = props.get("NotificationConfiguration", {}).get("LambdaConfigurations", [])
        if not lambdas:
            return
        configuration: Any = {
            "LambdaFunctionConfigurations": [
                {
                    "LambdaFunctionArn": n["Function"],
                    "Events": [n["Event"]],
                    **({"Filter": {"Key": {"FilterRules": n["Filter"]["S3Key"]["Rules"]}}} if "Filter" in n else {}),
                }
                for n in lambdas
            ]
        }
        self.s3.put_bucket_notification_configuration(
            Bucket=self._name(logical_id), NotificationConfiguration=configuration
        )

    def _lambda_function(self, logical_id: str, props: dict[str, Any]) -> None:
        function = self.stack.functions[logical_id]
        self.lambda_.create_function(
            FunctionName=function.name,
            Runtime=props["Runtime"],
            Role=function.role_arn,
            Handler=function.handler,
            Code={"ZipFile": _placeholder_zip()},
            Environment={"Variables": function.environment},
            Timeout=function.timeout_s,
            MemorySize=function.memory_mb,
        )

    def _stepfunctions_statemachine(self, logical_id: str, props: dict[str, Any]) -> None:
        self.sfn.create_state_machine(
            name=self.stack.attributes[(logical_id, "Name")],
            definition=state_machine_definition(self.stack, logical_id),
            roleArn=props["RoleArn"],
        )

    def _events_rule(self, logical_id: str, props: dict[str, Any]) -> None:
        name = self._name(logical_id)
        self.events.put_rule(
            Name=name, EventPattern=json.dumps(props["EventPattern"]), State=props.get("State", "ENABLED")
        )
        targets: Any = [
            {k: v for k, v in t.items() if k in ("Id", "Arn", "RoleArn", "Input")} for t in props["Targets"]
        ]
        self.events.put_targets(Rule=name, Targets=targets)
