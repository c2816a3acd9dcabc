"""Three costs of moto that grow with use, removed (measured with py-spy under a burst of uploads), and
one thread-safety gap of boto3 that only a many-threaded process meets.

- Step Functions parses the ASL definition with ANTLR on every execution (~170 ms of CPU each): the parse
  tree is kept per definition, and each execution still gets fresh evaluation components built from it.
- Step Functions creates a new boto3 client for every Task state: one client per region and service is kept
  (boto3 clients are thread-safe).
- A DynamoDB transaction deep-copies every table it touches, to roll back on failure: O(table size) per
  call, so publishing slowed as photos accumulated. Only the items the transaction names are kept, and
  restored on failure, with the same all-or-nothing outcome.
- boto3's DynamoDB resources build `Key(...)`/`Attr(...)` conditions with one placeholder counter per
  client (reset per request): two threads building at once mix their placeholders ("Query condition missed
  key schema element"). A Lambda process runs one invocation at a time; here many run in one process and
  share the cached resource, so building a request's expressions is made atomic.
"""

import copy
import json
import sys
import threading
from collections.abc import Callable
from typing import Any

from boto3.dynamodb.transform import TransformationInjector
from moto.dynamodb import models as dynamodb_models
from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    ConditionalCheckFailed,
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser
from moto.stepfunctions.parser.asl.parse.preprocessor import Preprocessor
from moto.stepfunctions.parser.asl.utils import boto_client

Patch = Callable[[Any, str, Any], None]
TRANSACTION_MAX_ITEMS = 100
TRANSACTION_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})


def install(patch: Patch) -> None:
    _cache_asl_parse_trees(patch)
    _reuse_step_functions_clients(patch)
    patch(dynamodb_models.DynamoDBBackend, "transact_write_items", _transact_write_items)
    _build_conditions_one_at_a_time(patch)


def _build_conditions_one_at_a_time(patch: Patch) -> None:
    original = TransformationInjector.inject_condition_expressions
    lock = threading.Lock()

    def inject_condition_expressions(injector: Any, params: Any, model: Any, **kwargs: Any) -> None:
        with lock:
            original(injector, params, model, **kwargs)

    patch(TransformationInjector, "inject_condition_expressions", inject_condition_expressions)


def _cache_asl_parse_trees(patch: Patch) -> None:
    original = AmazonStateLanguageParser.parse
    trees: dict[str, Any] = {}

    def parse(definition: str) -> tuple[Any, Any]:
        tree = trees.get(definition)
        if tree is None:
            program, tree = original(definition)  # raises on syntax errors, as before
            trees[definition] = tree
            return program, tree
        # The components hold per-execution state: built anew from the (read-only) tree every time.
        return Preprocessor().visit(tree), tree

    patch(AmazonStateLanguageParser, "parse", staticmethod(parse))


def _reuse_step_functions_clients(patch: Patch) -> None:
    original = boto_client.boto_client_for
    clients: dict[tuple[str, str], Any] = {}
    lock = threading.Lock()

    def boto_client_for(region: str, service: str, state_credentials: Any = None) -> Any:
        with lock:
            client = clients.get((region, service))
            if client is None:
                client = clients[(region, service)] = original(region, service, state_credentials)
            return client

    # Each Task module imported the function by name: replace it wherever it was imported.
    for name, module in list(sys.modules.items()):
        if name.startswith("moto.stepfunctions.parser") and getattr(module, "boto_client_for", None) is original:
            patch(module, "boto_client_for", boto_client_for)


def _transact_write_items(backend: Any, transact_items: list[dict[str, Any]]) -> None:
    """DynamoDB TransactWriteItems: every condition holds and every write lands, or nothing changes."""
    if len(transact_items) > TRANSACTION_MAX_ITEMS:
        raise TooManyTransactionsException()
    saved: dict[tuple[str, str], tuple[str, dict[str, Any], Any]] = {}

    def save(table_name: str, key: dict[str, Any]) -> Any:
        identity = (table_name, json.dumps(key, sort_keys=True))
        if identity in saved:
            raise MultipleTransactionsException()
        current = backend.get_item(table_name, key)
        saved[identity] = (table_name, key, copy.deepcopy(current))
        return current

    def roll_back() -> None:
        for table_name, key, item in saved.values():
            if item is None:
                backend.delete_item(table_name, key)
            else:
                backend.put_item(table_name, item.to_json()["Attributes"])

    errors: list[tuple[str | None, str | None, dict[str, Any] | None]] = []
    for entry in transact_items:
        if len(entry) > 1:
            raise TransactWriteSingleOpException()
        old_image: dict[str, Any] | None = None
        try:
            kind, operation = next(iter(entry.items()))
            if kind not in TRANSACTION_OPERATIONS:
                raise ValueError("Unsupported transaction operation")
            table_name = operation["TableName"]
            key = _item_key(backend, table_name, operation) if kind == "Put" else operation["Key"]
            current = save(table_name, key)
            names, values = operation.get("ExpressionAttributeNames"), operation.get("ExpressionAttributeValues")
            condition = operation.get("ConditionExpression")
            if condition is not None and not get_filter_expression(condition, names, values).expr(current):
                if operation.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                    old_image = current.to_json()["Attributes"]
                raise ConditionalCheckFailed(item=old_image)
            expressions = {
                "condition_expression": condition,
                "expression_attribute_names": names,
                "expression_attribute_values": values,
            }
            if kind == "Put":
                backend.put_item(table_name, operation["Item"], **expressions)
            elif kind == "Delete":
                backend.delete_item(table_name, key, **expressions)
            elif kind == "Update":
                backend.update_item(table_name, key, update_expression=operation["UpdateExpression"], **expressions)
            errors.append((None, None, None))
        except (MultipleTransactionsException, MockValidationException):
            roll_back()
            raise
        except ConditionalCheckFailed as error:
            errors.append(("ConditionalCheckFailed", str(error.message), old_image))
        except Exception as error:  # reported per item, as DynamoDB's cancellation reasons
            errors.append((type(error).__name__, str(error), old_image))
    if any(code is not None for code, _, _ in errors):
        roll_back()
        raise TransactionCanceledException(errors)


def _item_key(backend: Any, table_name: str, operation: dict[str, Any]) -> dict[str, Any]:
    table = backend.get_table(table_name)
    item = operation["Item"]
    key = {table.hash_key_attr: item[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = item[table.range_key_attr]
    return key
