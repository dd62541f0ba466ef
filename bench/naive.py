"""The usual implementations this project is measured against, written as peers write them.

Both fetch the catalog over HTTP, store each record as it comes (the API's field names, numbers
as `Decimal` because boto3 refuses floats, nulls dropped) plus an `updated_at` timestamp, and
overwrite every asset every day without a condition:

* `put_each` (a): one `Table.put_item` per asset;
* `batch_writer` (b): boto3's `Table.batch_writer()` (BatchWriteItem of 25).

Delisting, the way such a peer does it: read `symbol` and `status` of every item (a projected
Scan), and for each active symbol absent from the catalog read the whole item and put it back
with `status = inactive` (PutItem / batch put: the whole item is overwritten).
"""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import TYPE_CHECKING, Any

import boto3
import urllib3
from boto3.dynamodb.conditions import Attr
from botocore.config import Config

if TYPE_CHECKING:
    from mypy_boto3_dynamodb.service_resource import DynamoDBServiceResource, Table

BATCH_GET = 100


@dataclass
class NaiveResult:
    """What one naive run did."""

    fetched: int = 0
    put: int = 0
    delisted: int = 0


def fetch_assets(base_url: str, key_id: str, secret_key: str) -> list[dict[str, Any]]:
    """`GET /v2/assets?status=active`, decoded with floats as Decimal."""
    http = urllib3.PoolManager()
    response = http.request(
        "GET",
        f"{base_url}/v2/assets?status=active",
        headers={"APCA-API-KEY-ID": key_id, "APCA-API-SECRET-KEY": secret_key},
    )
    if response.status != 200:
        raise RuntimeError(f"GET /v2/assets answered {response.status}")
    assets: list[dict[str, Any]] = json.loads(response.data, parse_float=Decimal)
    return assets


def to_item(asset: dict[str, Any], now: str) -> dict[str, Any]:
    """The item a peer stores: the record as is, without nulls, plus `updated_at`."""
    item = {name: value for name, value in asset.items() if value is not None}
    item["updated_at"] = now
    return item


def resource(endpoint_url: str, region: str = "us-east-1") -> DynamoDBServiceResource:
    """boto3's DynamoDB resource, default retry policy (standard mode)."""
    config = Config(region_name=region, retries={"mode": "standard", "max_attempts": 10})
    dynamodb: DynamoDBServiceResource = boto3.session.Session().resource(
        "dynamodb", endpoint_url=endpoint_url, config=config
    )
    return dynamodb


def active_symbols(table: Table) -> set[str]:
    """Symbols of the items that are active now (projected Scan, paginated)."""
    found: set[str] = set()
    kwargs: dict[str, Any] = {
        "ProjectionExpression": "symbol, #s",
        "ExpressionAttributeNames": {"#s": "status"},
        "FilterExpression": Attr("status").eq("active"),
    }
    while True:
        page = table.scan(**kwargs)
        found.update(str(item["symbol"]) for item in page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return found
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def _chunks(symbols: list[str], size: int) -> Iterator[list[str]]:
    for start in range(0, len(symbols), size):
        yield symbols[start : start + size]


def put_each(
    endpoint_url: str, table_name: str, base_url: str, key_id: str, secret_key: str, now: str
) -> NaiveResult:
    """(a) One unconditional PutItem per asset, then PutItem of each delisted item."""
    result = NaiveResult()
    table = resource(endpoint_url).Table(table_name)
    assets = fetch_assets(base_url, key_id, secret_key)
    result.fetched = len(assets)
    before = active_symbols(table)
    for asset in assets:
        table.put_item(Item=to_item(asset, now))
        result.put += 1
    gone = sorted(before - {str(asset["symbol"]) for asset in assets})
    for symbol in gone:
        item = table.get_item(Key={"symbol": symbol}).get("Item")
        if item is None:
            continue
        item["status"] = "inactive"
        item["updated_at"] = now
        table.put_item(Item=item)
        result.delisted += 1
    return result


def batch_writer(
    endpoint_url: str, table_name: str, base_url: str, key_id: str, secret_key: str, now: str
) -> NaiveResult:
    """(b) `Table.batch_writer()` over every asset, then batch puts of each delisted item."""
    result = NaiveResult()
    dynamodb = resource(endpoint_url)
    table = dynamodb.Table(table_name)
    assets = fetch_assets(base_url, key_id, secret_key)
    result.fetched = len(assets)
    before = active_symbols(table)
    gone = sorted(before - {str(asset["symbol"]) for asset in assets})
    with table.batch_writer(overwrite_by_pkeys=["symbol"]) as writer:
        for asset in assets:
            writer.put_item(Item=to_item(asset, now))
            result.put += 1
        for chunk in _chunks(gone, BATCH_GET):
            keys: list[dict[str, Any]] = [{"symbol": symbol} for symbol in chunk]
            for _ in range(10):  # bounded: UnprocessedKeys are retried a few times
                response = dynamodb.batch_get_item(RequestItems={table_name: {"Keys": keys}})
                for item in response.get("Responses", {}).get(table_name, []):
                    writer.put_item(Item={**item, "status": "inactive", "updated_at": now})
                    result.delisted += 1
                unprocessed: Any = response.get("UnprocessedKeys", {})
                keys = list(unprocessed.get(table_name, {}).get("Keys", []))
                if not keys:
                    break
    return result
