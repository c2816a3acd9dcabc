"""template.yaml -> CloudFormation (aws-sam-translator, offline) -> resolved resource descriptions.

moto's CloudFormation cannot deploy this app (it skips HTTP APIs and bucket notifications and ignores
DefinitionSubstitutions), so the runtime resolves intrinsic functions itself and deploy.py creates each
resource through boto3.
"""

import copy
import json
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import boto3
from samcli.yamlhelper import yaml_parse
from samtranslator.parser.parser import Parser
from samtranslator.translator.translator import Translator

from happypath_local import PROJECT_ROOT, TEMPLATE_PATH

REGION = "us-east-1"
ACCOUNT = "123456789012"
# What boto3 signs with in the local runtime and the tests: moto accepts anything, AWS is never reached.
FAKE_CREDENTIALS = {"AWS_ACCESS_KEY_ID": "local", "AWS_SECRET_ACCESS_KEY": "local", "AWS_DEFAULT_REGION": REGION}
LOCAL_CDN_ID = "local-cdn"  # the CloudFront distribution the runtime emulates (see server.py)
LOCAL_ARTIFACTS_BUCKET = "local-artifacts"
_NO_VALUE = object()
_SUB_VARIABLE = re.compile(r"\$\{([^}!][^}]*)\}")


@dataclass(frozen=True)
class Function:
    logical_id: str
    name: str
    arn: str
    code_dir: Path
    handler: str
    environment: dict[str, str]
    timeout_s: int
    memory_mb: int
    role_arn: str
    dead_letter_arn: str | None = None


@dataclass
class Stack:
    """The resolved template: everything the deployer and the emulators need, with local physical names."""

    name: str
    parameters: dict[str, str]
    resources: dict[str, dict[str, Any]]  # logical id -> resolved CloudFormation resource (deployed only)
    physical_ids: dict[str, str]
    attributes: dict[tuple[str, str], str]
    functions: dict[str, Function] = field(default_factory=dict)
    source_paths: dict[str, Path] = field(default_factory=dict)  # logical id -> DefinitionUri / CodeUri
    outputs: dict[str, Any] = field(default_factory=dict)  # name -> Value, unresolved (those whose condition holds)
    resolver: "Resolver | None" = None

    def of_type(self, resource_type: str) -> dict[str, dict[str, Any]]:
        return {k: r for k, r in self.resources.items() if r["Type"] == resource_type}

    def output(self, name: str) -> Any:
        """An output's value as CloudFormation gives it (KeyError: the stack has no such output)."""
        assert self.resolver is not None
        return self.resolver.resolve(self.outputs[name])


def _with_local_artifacts(template: dict[str, Any]) -> dict[str, Path]:
    """Swap local CodeUri/ContentUri/DefinitionUri for S3 placeholders (the translator wants S3)."""
    sources: dict[str, Path] = {}
    for logical_id, resource in template.get("Resources", {}).items():
        properties = resource.get("Properties", {})
        for prop in ("CodeUri", "ContentUri"):
            if isinstance(properties.get(prop), str) and not properties[prop].startswith("s3://"):
                sources[logical_id] = PROJECT_ROOT / properties[prop]
                properties[prop] = f"s3://{LOCAL_ARTIFACTS_BUCKET}/{properties[prop]}"
        if isinstance(properties.get("DefinitionUri"), str):
            sources[logical_id] = PROJECT_ROOT / properties["DefinitionUri"]
            properties["DefinitionUri"] = {
                "Bucket": LOCAL_ARTIFACTS_BUCKET,
                "Key": properties["DefinitionUri"],
            }
    return sources


def translate(template_path: Path, parameters: Mapping[str, str]) -> tuple[dict[str, Any], dict[str, Path]]:
    template = yaml_parse(template_path.read_text())
    sources = _with_local_artifacts(template)
    translator = Translator(None, Parser(), boto_session=boto3.Session(region_name=REGION))
    translated = translator.translate(
        copy.deepcopy(template), parameter_values=dict(parameters), get_managed_policy_map=dict
    )
    return translated, sources


class Resolver:
    """Evaluates the intrinsic functions CloudFormation would, with the local physical names."""

    def __init__(
        self,
        parameters: dict[str, str],
        conditions: dict[str, bool],
        physical_ids: dict[str, str],
        attributes: dict[tuple[str, str], str],
        pseudo: dict[str, str],
    ) -> None:
        self.parameters = parameters
        self.conditions = conditions
        self.physical_ids = physical_ids
        self.attributes = attributes
        self.pseudo = pseudo

    def ref(self, name: str) -> Any:
        for table in (self.pseudo, self.parameters, self.physical_ids):
            if name in table:
                return table[name]
        if name == "AWS::NoValue":
            return _NO_VALUE
        raise KeyError(f"Ref to unknown or undeployed name {name!r}")

    def get_att(self, logical_id: str, attribute: str) -> str:
        try:
            return self.attributes[(logical_id, attribute)]
        except KeyError:
            raise KeyError(f"Fn::GetAtt {logical_id}.{attribute} is not emulated locally") from None

    def _sub(self, text: str, variables: Mapping[str, Any]) -> str:
        def replace(match: re.Match[str]) -> str:
            name = match.group(1)
            if name in variables:
                return str(variables[name])
            if "." in name and name.split(".", 1)[0] not in self.parameters:
                logical_id, attribute = name.split(".", 1)
                return self.get_att(logical_id, attribute)
            return str(self.ref(name))

        return _SUB_VARIABLE.sub(replace, text)

    def condition(self, value: Any) -> bool:
        if isinstance(value, dict) and len(value) == 1:
            ((fn, args),) = value.items()
            if fn == "Condition":
                return self.conditions[args]
            if fn == "Fn::Equals":
                left, right = (self.resolve(a) for a in args)
                return str(left) == str(right)
            if fn == "Fn::Not":
                return not self.condition(args[0])
            if fn == "Fn::And":
                return all(self.condition(a) for a in args)
            if fn == "Fn::Or":
                return any(self.condition(a) for a in args)
        raise ValueError(f"unsupported condition {value!r}")

    def resolve(self, value: Any) -> Any:
        if isinstance(value, list):
            items = [self.resolve(v) for v in value]
            return [v for v in items if v is not _NO_VALUE]
        if not isinstance(value, dict):
            return value
        if len(value) == 1:
            ((fn, args),) = value.items()
            handler = self._functions().get(fn)
            if handler is not None:
                return handler(args)
        resolved = {k: self.resolve(v) for k, v in value.items()}
        return {k: v for k, v in resolved.items() if v is not _NO_VALUE}

    def _functions(self) -> dict[str, Callable[[Any], Any]]:
        return {
            "Ref": lambda name: self.ref(name),
            "Fn::GetAtt": lambda args: self.get_att(*(args.split(".", 1) if isinstance(args, str) else args)),
            "Fn::Sub": lambda args: (
                self._sub(args, {})
                if isinstance(args, str)
                else self._sub(args[0], {k: self.resolve(v) for k, v in args[1].items()})
            ),
            "Fn::If": lambda args: self.resolve(args[1] if self.conditions[args[0]] else args[2]),
            "Fn::Join": lambda args: args[0].join(str(v) for v in self.resolve(args[1])),
            "Fn::Select": lambda args: self.resolve(args[1])[int(self.resolve(args[0]))],
            "Fn::Split": lambda args: str(self.resolve(args[1])).split(args[0]),
            "Fn::Equals": lambda args: self.condition({"Fn::Equals": args}),
        }


def _physical(
    stack_name: str, logical_id: str, resource_type: str, local_urls: Mapping[str, str]
) -> tuple[str, dict[str, str]]:
    """Deterministic local names (state survives restarts) and the attributes GetAtt may ask for."""
    slug = f"{stack_name}-{logical_id}".lower()
    arn = f"arn:aws:{{}}:{REGION}:{ACCOUNT}:{{}}"
    match resource_type:
        case "AWS::S3::Bucket":
            return slug, {
                "Arn": f"arn:aws:s3:::{slug}",
                "DomainName": f"{slug}.s3.amazonaws.com",
                "RegionalDomainName": f"{slug}.s3.{REGION}.amazonaws.com",
            }
        case "AWS::DynamoDB::Table":
            table_arn = arn.format("dynamodb", f"table/{slug}")
            return slug, {"Arn": table_arn, "StreamArn": f"{table_arn}/stream/local"}
        case "AWS::Lambda::Function":
            name = f"{stack_name}-{logical_id}"
            return name, {"Arn": arn.format("lambda", f"function:{name}")}
        case "AWS::IAM::Role":
            name = f"{stack_name}-{logical_id}"[:64]
            return name, {"Arn": f"arn:aws:iam::{ACCOUNT}:role/{name}"}
        case "AWS::SQS::Queue":
            return slug, {"Arn": arn.format("sqs", slug), "QueueName": slug}
        case "AWS::StepFunctions::StateMachine":
            sm_arn = arn.format("states", f"stateMachine:{stack_name}-{logical_id}")
            return sm_arn, {"Arn": sm_arn, "Name": f"{stack_name}-{logical_id}"}
        case "AWS::Events::Rule":
            name = f"{stack_name}-{logical_id}"[:64]
            return name, {"Arn": arn.format("events", f"rule/{name}")}
        case "AWS::CloudFront::Distribution":
            return LOCAL_CDN_ID, {"DomainName": local_urls["distribution_host"], "Id": LOCAL_CDN_ID}
        case "AWS::CloudFront::Function":
            return slug, {"FunctionARN": f"arn:aws:cloudfront::{ACCOUNT}:function/{slug}"}
        case "AWS::ApiGatewayV2::Api":
            return "local-api", {"ApiEndpoint": local_urls["api"]}
        case _:
            return slug, {"Arn": arn.format("local", slug), "Id": slug}


def _local_scheme(value: str, local_urls: Mapping[str, str]) -> str:
    """CloudFront serves HTTPS; the local distribution is plain HTTP on loopback."""
    host = local_urls.get("distribution_host")
    return value.replace(f"https://{host}", f"http://{host}") if host else value


class ParameterError(ValueError):
    """A template parameter the runtime cannot take: unknown, refused as CloudFormation would, or its own."""


def _parameter_problem(declaration: Mapping[str, Any], value: str) -> str | None:
    """What CloudFormation would say the value must be, or None when it takes it (so the local runtime never
    runs a stack AWS would not create)."""
    allowed = declaration.get("AllowedValues")
    if allowed is not None and value not in [str(v) for v in allowed]:
        return declaration.get("ConstraintDescription") or f"one of {', '.join(map(str, allowed))}"
    pattern = declaration.get("AllowedPattern")
    if pattern is not None and not re.fullmatch(pattern, value):
        return declaration.get("ConstraintDescription") or f"matching {pattern}"
    if declaration.get("Type") != "Number":
        return None
    try:
        number = float(value)
    except ValueError:
        return "a number"
    low, high = declaration.get("MinValue", -math.inf), declaration.get("MaxValue", math.inf)
    return None if low <= number <= high else f"from {low} to {high}"


def load_stack(
    parameters: Mapping[str, str],
    local_urls: Mapping[str, str],
    stack_name: str = "happypath",
    template_path: Path = TEMPLATE_PATH,
    *,
    stand_ins: Mapping[str, str] | None = None,
) -> Stack:
    """`stand_ins`: parameters the local runtime sets to its own stand-ins for what a deployed stack is given (its
    sign-in issuer, the web app's origin): plain http on this machine, so not held to the template's constraints,
    which allow only what AWS takes (https)."""
    stand_ins = dict(stand_ins or {})
    if clash := sorted(set(parameters) & set(stand_ins)):
        raise ParameterError(f"the local runtime sets {', '.join(clash)} itself (its own sign-in and web app)")
    given = dict(parameters) | stand_ins
    translated, sources = translate(template_path, given)
    declared = translated.get("Parameters", {})
    if unknown := sorted(set(given) - set(declared)):
        raise ParameterError(f"the template has no parameter {', '.join(unknown)} (it has {', '.join(declared)})")
    values = {name: str(p.get("Default", "")) for name, p in declared.items()} | given
    for name, declaration in declared.items():
        if name in stand_ins:
            continue
        if problem := _parameter_problem(declaration, values[name]):
            raise ParameterError(f"template parameter {name}={values[name]!r} is refused: it must be {problem}")
    pseudo = {
        "AWS::Region": REGION,
        "AWS::AccountId": ACCOUNT,
        "AWS::StackName": stack_name,
        "AWS::StackId": f"arn:aws:cloudformation:{REGION}:{ACCOUNT}:stack/{stack_name}/0c0a1f2e-local",
        "AWS::Partition": "aws",
        "AWS::URLSuffix": "amazonaws.com",
    }
    physical: dict[str, str] = {}
    attributes: dict[tuple[str, str], str] = {}
    for logical_id, resource in translated["Resources"].items():
        physical[logical_id], attrs = _physical(stack_name, logical_id, resource["Type"], local_urls)
        attributes.update({(logical_id, name): value for name, value in attrs.items()})

    resolver = Resolver(values, {}, physical, attributes, pseudo)
    for name, expression in translated.get("Conditions", {}).items():
        resolver.conditions[name] = resolver.condition(expression)

    resources: dict[str, dict[str, Any]] = {}
    for logical_id, resource in translated["Resources"].items():
        if "Condition" in resource and not resolver.conditions[resource["Condition"]]:
            continue
        resources[logical_id] = {**resource, "Properties": resolver.resolve(resource.get("Properties", {}))}

    outputs = {
        name: output["Value"]
        for name, output in translated.get("Outputs", {}).items()
        if "Condition" not in output or resolver.conditions[output["Condition"]]
    }
    stack = Stack(stack_name, values, resources, physical, attributes, {}, sources, outputs, resolver)
    for logical_id, resource in stack.of_type("AWS::Lambda::Function").items():
        props = resource["Properties"]
        code_key = props["Code"]["S3Key"]
        stack.functions[logical_id] = Function(
            logical_id=logical_id,
            name=physical[logical_id],
            arn=attributes[(logical_id, "Arn")],
            code_dir=PROJECT_ROOT / code_key,
            handler=props["Handler"],
            environment={
                k: _local_scheme(str(v), local_urls)
                for k, v in props.get("Environment", {}).get("Variables", {}).items()
            },
            timeout_s=int(props.get("Timeout", 3)),
            memory_mb=int(props.get("MemorySize", 128)),
            role_arn=props["Role"],
            dead_letter_arn=props.get("DeadLetterConfig", {}).get("TargetArn"),
        )
    return stack


def state_machine_definition(stack: Stack, logical_id: str) -> str:
    """The ASL file with DefinitionSubstitutions applied, as Step Functions would receive it."""
    props = stack.resources[logical_id]["Properties"]
    text = (PROJECT_ROOT / props["DefinitionS3Location"]["Key"]).read_text()
    for name, value in props.get("DefinitionSubstitutions", {}).items():
        text = text.replace("${" + name + "}", str(value))
    json.loads(text)  # fail here, not in Step Functions, if a substitution broke the JSON
    return text
