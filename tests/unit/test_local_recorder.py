"""The local runtime's record of the IAM actions a call needs, down to the partition keys of DynamoDB items."""

from happypath_local.recorder import leading_keys

TABLE = "happypath-table"
ARN = f"arn:aws:dynamodb:us-east-1:123456789012:table/{TABLE}"
HASH_KEYS = {TABLE: "PK", "happypath-idempotencytable": "id"}


def test_an_item_call_names_its_partition_key_typed_or_not():
    assert leading_keys("PutItem", {"TableName": TABLE, "Item": {"PK": "PLACE#p1", "SK": "PLACE"}}, HASH_KEYS) == [
        ("dynamodb:PutItem", ARN, "PLACE#p1")
    ]
    typed = {"TableName": TABLE, "Key": {"PK": {"S": "UPLOAD#u1"}, "SK": {"S": "UPLOAD"}}}  # as the client sends it
    assert leading_keys("DeleteItem", typed, HASH_KEYS) == [("dynamodb:DeleteItem", ARN, "UPLOAD#u1")]


def test_a_transaction_and_a_batch_name_each_item():
    transaction = {
        "TransactItems": [
            {"Update": {"TableName": TABLE, "Key": {"PK": "USER#s", "SK": "QUOTA#2026-12-06"}}},
            {"Put": {"TableName": TABLE, "Item": {"PK": "PLACE#p1", "SK": "PLACE"}}},
        ]
    }
    assert leading_keys("TransactWriteItems", transaction, HASH_KEYS) == [
        ("dynamodb:UpdateItem", ARN, "USER#s"),
        ("dynamodb:PutItem", ARN, "PLACE#p1"),
    ]
    batch = {
        "RequestItems": {TABLE: {"Keys": [{"PK": "UPLOAD#a", "SK": "UPLOAD"}, {"PK": "UPLOAD#b", "SK": "UPLOAD"}]}}
    }
    assert [key for _, _, key in leading_keys("BatchGetItem", batch, HASH_KEYS)] == ["UPLOAD#a", "UPLOAD#b"]
    writes = {
        "RequestItems": {
            TABLE: [{"PutRequest": {"Item": {"PK": "PLACE#p"}}}, {"DeleteRequest": {"Key": {"PK": "UPLOAD#u"}}}]
        }
    }
    assert [key for _, _, key in leading_keys("BatchWriteItem", writes, HASH_KEYS)] == ["PLACE#p", "UPLOAD#u"]


def test_queries_and_scans_name_none():
    query = {"TableName": TABLE, "KeyConditionExpression": "PK = :pk", "ExpressionAttributeValues": {":pk": "PLACE#p"}}
    assert leading_keys("Query", query, HASH_KEYS) == []
    assert leading_keys("Scan", {"TableName": TABLE}, HASH_KEYS) == []
