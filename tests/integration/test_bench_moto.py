"""The benchmark's moto server (bench.moto_transactions) keeps moto's transactions: all of a
TransactWriteItems lands, or none of it, whatever else the table holds."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest
from bench.moto_transactions import BenchMotoServer
from botocore.exceptions import ClientError

from asset_sync.dal.client import dynamodb_client

TABLE = "bench_transactions"


@pytest.fixture(scope="module")
def client() -> Iterator[Any]:
    with BenchMotoServer() as moto:
        client = dynamodb_client("us-east-1", moto.url)
        client.create_table(
            TableName=TABLE,
            KeySchema=[{"AttributeName": "symbol", "KeyType": "HASH"}],
            AttributeDefinitions=[{"AttributeName": "symbol", "AttributeType": "S"}],
            BillingMode="PAY_PER_REQUEST",
        )
        for symbol, holder in (("A", "1"), ("B", "2"), ("C", "3")):
            item = {"symbol": {"S": symbol}, "holder": {"S": holder}}
            client.put_item(TableName=TABLE, Item=item)
        yield client


def holders(client: Any) -> dict[str, str]:
    items = client.scan(TableName=TABLE, ConsistentRead=True)["Items"]
    return {i["symbol"]["S"]: i["holder"]["S"] for i in items}


def give(symbol: str, holder: str, was: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": TABLE,
            "Key": {"symbol": {"S": symbol}},
            "UpdateExpression": "SET holder = :new",
            "ConditionExpression": "holder = :old",
            "ExpressionAttributeValues": {":new": {"S": holder}, ":old": {"S": was}},
        }
    }


def test_a_failed_transaction_leaves_every_item_as_it_was(client: Any) -> None:
    new = {"Put": {"TableName": TABLE, "Item": {"symbol": {"S": "D"}, "holder": {"S": "4"}}}}
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(
            TransactItems=[give("A", "2", "1"), new, give("B", "1", "not 2")]
        )
    assert holders(client) == {"A": "1", "B": "2", "C": "3"}


def test_a_transaction_applies_whole(client: Any) -> None:
    client.transact_write_items(TransactItems=[give("A", "2", "1"), give("B", "1", "2")])
    assert holders(client) == {"A": "2", "B": "1", "C": "3"}
