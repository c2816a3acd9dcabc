"""Where the local runtime makes moto answer as AWS does."""

import boto3
import pytest
from moto.dynamodb.models.table import Table

TABLE = "seams-query-limit"
INDEX = "ByColour"


@pytest.fixture
def table(app):
    assert Table.query.__module__ == "happypath_local.seams"  # the local runtime's seam is installed
    client = boto3.client("dynamodb")
    client.create_table(
        TableName=TABLE,
        KeySchema=[{"AttributeName": "PK", "KeyType": "HASH"}, {"AttributeName": "SK", "KeyType": "RANGE"}],
        AttributeDefinitions=[{"AttributeName": name, "AttributeType": "S"} for name in ("PK", "SK", "colour")],
        GlobalSecondaryIndexes=[
            {
                "IndexName": INDEX,
                "KeySchema": [
                    {"AttributeName": "colour", "KeyType": "HASH"},
                    {"AttributeName": "SK", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ],
        BillingMode="PAY_PER_REQUEST",
    )
    for sk, colour in (("1", "red"), ("2", "red"), ("3", "blue")):
        client.put_item(TableName=TABLE, Item={"PK": {"S": "p"}, "SK": {"S": sk}, "colour": {"S": colour}})
    yield client
    client.delete_table(TableName=TABLE)


def query(client, limit: int, **more) -> dict:
    return client.query(
        TableName=TABLE,
        KeyConditionExpression="PK = :p",
        ExpressionAttributeValues={":p": {"S": "p"}} | more.pop("values", {}),
        Limit=limit,
        **more,
    )


def test_a_query_stopped_by_its_limit_gives_the_last_key_read_even_with_nothing_after_it(table):
    page = query(table, 3)
    assert len(page["Items"]) == 3
    assert page["LastEvaluatedKey"] == {"PK": {"S": "p"}, "SK": {"S": "3"}}
    after = query(table, 3, ExclusiveStartKey=page["LastEvaluatedKey"])
    assert (after["Items"], "LastEvaluatedKey" in after) == ([], False)


def test_a_query_that_ends_before_its_limit_gives_no_key(table):
    assert "LastEvaluatedKey" not in query(table, 4)


def test_the_key_is_the_last_item_read_whether_filtered_out_or_projected_away(table):
    page = query(
        table,
        2,
        FilterExpression="colour = :c",
        ProjectionExpression="colour",
        values={":c": {"S": "blue"}},
    )
    assert page["Items"] == []  # both read items were red
    assert page["LastEvaluatedKey"] == {"PK": {"S": "p"}, "SK": {"S": "2"}}


def test_an_index_querys_key_holds_the_index_keys_too(table):
    page = table.query(
        TableName=TABLE,
        IndexName=INDEX,
        KeyConditionExpression="colour = :c",
        ExpressionAttributeValues={":c": {"S": "red"}},
        Limit=2,
    )
    assert page["LastEvaluatedKey"] == {"PK": {"S": "p"}, "SK": {"S": "2"}, "colour": {"S": "red"}}
