"""A table's DynamoDB stream read over HTTP (moto's server locally), in the Lambda event shape.

The demo and the integration tests read what the sync's writes put on the stream and feed it
to `to_events`, exactly as the event source mapping hands records to the consumer Lambda.
"""

from __future__ import annotations

import base64
import json
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from asset_sync.events.entries import DETAIL_TYPES, Entry
from asset_sync.events.transform import to_events

if TYPE_CHECKING:
    from mypy_boto3_dynamodbstreams import DynamoDBStreamsClient

GET_RECORDS_LIMIT = 1000


class TableStream:
    """Reads the stream of one table; each `read_new` returns only records not read before."""

    def __init__(self, table_name: str, endpoint_url: str | None, region: str = "us-east-1"):
        config = Config(region_name=region, retries={"mode": "standard", "max_attempts": 5})
        session = boto3.session.Session()
        table = session.client("dynamodb", endpoint_url=endpoint_url, config=config)
        arn = table.describe_table(TableName=table_name)["Table"].get("LatestStreamArn")
        if not arn:
            raise RuntimeError(f"table {table_name!r} has no stream (create it with streams on)")
        self.stream_arn: str = arn
        self.region = region
        self._client: DynamoDBStreamsClient = session.client(
            "dynamodbstreams", endpoint_url=endpoint_url, config=config
        )
        self._last_sequence: dict[str, str] = {}  # shard id -> last sequence number read

    def read_new(self) -> list[dict[str, Any]]:
        """Every record written since the last call (since the start on the first), in order."""
        records: list[dict[str, Any]] = []
        for shard_id in self._shard_ids():
            records.extend(self._read_shard(shard_id))
        return records

    def _shard_ids(self) -> list[str]:
        """Shards in the order DescribeStream lists them (parents before children)."""
        shard_ids: list[str] = []
        request: dict[str, Any] = {"StreamArn": self.stream_arn}
        while True:
            description = self._client.describe_stream(**request)["StreamDescription"]
            shard_ids.extend(shard["ShardId"] for shard in description.get("Shards", []))
            last = description.get("LastEvaluatedShardId")
            if not last:
                return shard_ids
            request["ExclusiveStartShardId"] = last

    def _read_shard(self, shard_id: str) -> list[dict[str, Any]]:
        last = self._last_sequence.get(shard_id)
        position: dict[str, Any] = (
            {"ShardIteratorType": "AFTER_SEQUENCE_NUMBER", "SequenceNumber": last}
            if last
            else {"ShardIteratorType": "TRIM_HORIZON"}
        )
        iterator = self._client.get_shard_iterator(
            StreamArn=self.stream_arn, ShardId=shard_id, **position
        ).get("ShardIterator")
        records: list[dict[str, Any]] = []
        while iterator:
            page = self._client.get_records(ShardIterator=iterator, Limit=GET_RECORDS_LIMIT)
            if not page["Records"]:
                break  # an open shard always hands out a next iterator: stop when caught up
            for raw in page["Records"]:
                records.append(lambda_record(raw, self.stream_arn))
            self._last_sequence[shard_id] = str(records[-1]["dynamodb"]["SequenceNumber"])
            iterator = page.get("NextShardIterator")
        return records


def lambda_record(record: Mapping[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it (epoch seconds, binary as base64 text)."""
    stream = {name: _plain(value) for name, value in record["dynamodb"].items()}
    created = stream.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        stream["ApproximateCreationDateTime"] = int(created.timestamp())
    out = {name: value for name, value in record.items() if name != "dynamodb"}
    return {**out, "dynamodb": stream, "eventSourceARN": stream_arn}


def _plain(value: Any) -> Any:
    if isinstance(value, bytes | bytearray):
        return base64.b64encode(value).decode("ascii")
    if isinstance(value, Mapping):
        return {name: _plain(element) for name, element in value.items()}
    if isinstance(value, list | set | tuple):
        return [_plain(element) for element in value]
    return value


def describe_events(
    records: Sequence[Mapping[str, Any]], examples: int = 4, label: str = "stream"
) -> str:
    """What `to_events` makes of `records`: counts per detail type and a few examples."""
    entries = to_events(records)
    counts = Counter(entry["DetailType"] for entry in entries)
    silent = len(records) - len(entries)
    lines = [
        f"{label}: {len(records):,} new stream records -> {len(entries):,} events"
        + (f" ({silent:,} of them change no owned state: no event)" if silent else "")
    ]
    lines += [f"  {kind:<18} {counts[kind]:>7,}" for kind in DETAIL_TYPES if counts[kind]]
    shown: list[Entry] = []
    for kind in DETAIL_TYPES:  # one example per detail type first, then more of the first ones
        shown += [entry for entry in entries if entry["DetailType"] == kind][:1]
    shown += [entry for entry in entries if entry not in shown][: max(0, examples - len(shown))]
    lines += [f"  e.g. {example_line(entry)}" for entry in shown[:examples]]
    return "\n".join(lines)


def example_line(entry: Entry) -> str:
    """One event on one line: type, symbol, the gist of its detail."""
    detail = json.loads(entry["Detail"])
    run = detail["run_seq"]
    head = f"{entry['DetailType']} {detail['symbol']} (run {'-' if run is None else run})"
    if "previous_symbol" in detail:
        head = f"{entry['DetailType']} {detail['previous_symbol']} -> {detail['symbol']}"
    if "changes" in detail:
        shown = [
            f"{name} {_short(change['old'])} -> {_short(change['new'])}"
            for name, change in sorted(detail["changes"].items())
        ]
        return f"{head}: " + ", ".join(shown[:3]) + (", ..." if len(shown) > 3 else "")
    if "asset" not in detail:  # a removal, or a truncated detail
        return f"{head}: {detail.get('reason')}, asset {detail.get('asset_id')}"
    asset = detail["asset"] or {}
    return f"{head}: {_short(asset.get('name'))} on {asset.get('exchange')}"


def _short(value: object, limit: int = 32) -> str:
    text = json.dumps(value, ensure_ascii=False)
    return text if len(text) <= limit else text[: limit - 3] + "..."
