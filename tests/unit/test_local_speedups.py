"""The local runtime's replacements for moto's costly paths keep moto's (and DynamoDB's) behaviour."""

import functools
import operator
import sys

import boto3
import pytest
from botocore.exceptions import ClientError
from moto.dynamodb.models import DynamoDBBackend
from moto.stepfunctions.parser.asl.parse.asl_parser import AmazonStateLanguageParser

from happypath_local import speedups

TABLE = "speedups-transactions"


@pytest.fixture
def table(app):
    assert DynamoDBBackend.transact_write_items is speedups._transact_write_items  # the local runtime's seam
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK")],
        BillingMode="PAY_PER_REQUEST",
    )
    client.put_item(TableName=TABLE, Item={"PK": {"S": "a"}, "SK": {"S": "1"}, "n": {"N": "1"}})
    yield client
    client.delete_table(TableName=TABLE)


def items(client) -> dict[str, dict]:
    return {item["PK"]["S"]: item for item in client.scan(TableName=TABLE, ConsistentRead=True)["Items"]}


def put(pk: str) -> dict:
    return {"Put": {"TableName": TABLE, "Item": {"PK": {"S": pk}, "SK": {"S": "1"}}}}


def increment_if(n: int) -> dict:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"PK": {"S": "a"}, "SK": {"S": "1"}},
            "UpdateExpression": "SET n = n + :one",
            "ConditionExpression": "n = :n",
            "ExpressionAttributeValues": {":one": {"N": "1"}, ":n": {"N": str(n)}},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


def test_a_transaction_applies_every_write(table):
    table.transact_write_items(TransactItems=[put("b"), increment_if(1)])
    assert set(items(table)) == {"a", "b"}
    assert items(table)["a"]["n"] == {"N": "2"}


def test_a_failed_condition_cancels_every_write_and_restores_what_was_written(table):
    before = items(table)
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(TransactItems=[put("b"), increment_if(5), put("c")])
    error = raised.value.response
    assert error["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in error["CancellationReasons"]] == ["None", "ConditionalCheckFailed", "None"]
    assert error["CancellationReasons"][1]["Item"]["n"] == {"N": "1"}  # ALL_OLD
    assert items(table) == before


def test_an_update_rolled_back_gets_its_old_attributes_back(table):
    with pytest.raises(ClientError):
        table.transact_write_items(TransactItems=[increment_if(1), put("b"), condition_on_a_missing_item()])
    assert items(table) == {"a": {"PK": {"S": "a"}, "SK": {"S": "1"}, "n": {"N": "1"}}}


def condition_on_a_missing_item() -> dict:
    return {
        "ConditionCheck": {
            "TableName": TABLE,
            "Key": {"PK": {"S": "zzz"}, "SK": {"S": "1"}},
            "ConditionExpression": "attribute_exists(PK)",
        }
    }


def test_one_item_twice_in_a_transaction_is_refused_and_changes_nothing(table):
    with pytest.raises(ClientError) as raised:
        table.transact_write_items(TransactItems=[increment_if(1), increment_if(2)])
    assert raised.value.response["Error"]["Code"] == "ValidationException"
    assert items(table)["a"]["n"] == {"N": "1"}


def test_parsed_definitions_are_reused_with_fresh_components(app):
    definition = '{"StartAt": "Done", "States": {"Done": {"Type": "Succeed"}}}'
    first, tree = AmazonStateLanguageParser.parse(definition)
    second, same_tree = AmazonStateLanguageParser.parse(definition)
    assert same_tree is tree
    assert second is not first
    with pytest.raises(Exception, match="ASLParserException"):
        AmazonStateLanguageParser.parse('{"StartAt": 1}')


def test_conditions_built_by_many_threads_on_one_resource_stay_their_own(app, table):
    """boto3 resources share one placeholder counter per client; the local runtime runs many invocations."""
    from concurrent.futures import ThreadPoolExecutor

    from boto3.dynamodb.conditions import Attr, Key

    resource_table = boto3.resource("dynamodb").Table(TABLE)

    def query(_: int) -> int:
        condition = Key("PK").eq("a") & Key("SK").begins_with("1")
        # A long filter keeps each build busy, so another thread's reset lands inside it when unguarded.
        matches_n = functools.reduce(operator.or_, [Attr(f"a{i}").eq(i) for i in range(40)], Attr("n").eq(1))
        return resource_table.query(KeyConditionExpression=condition, FilterExpression=matches_n)["Count"]

    switch_interval = sys.getswitchinterval()
    sys.setswitchinterval(1e-6)  # threads interleave at almost every bytecode: the race shows within a few queries
    try:
        with ThreadPoolExecutor(max_workers=8) as pool:
            counts = list(pool.map(query, range(400)))
    finally:
        sys.setswitchinterval(switch_interval)
    assert counts == [1] * 400
