"""The consumer's quarantine: stream records it could not publish, kept whole in S3.

One JSON object per stream record under `pending/` (the record, its event entry when there is
one, why, and when), keyed by the record's `eventID`, so quarantining a record twice writes
the same object. `asset-sync events replay` publishes them again once the cause is fixed and
deletes each one it published. Nothing is ever dropped: a record whose quarantine write fails
is reported for retry by the handler.
"""

from __future__ import annotations

import hashlib
import json
import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

import boto3
from botocore.config import Config

from asset_sync.contract import QUARANTINE_PREFIX
from asset_sync.events.entries import Entry

if TYPE_CHECKING:
    from mypy_boto3_s3 import S3Client

logger = logging.getLogger(__name__)

PREFIX = QUARANTINE_PREFIX
# Why a record is quarantined (the object's `reason`).
UNREADABLE = "unreadable"  # the record cannot be read or turned into an event
REFUSED = "refused"  # EventBridge refused its entry with a non-retryable code
EXPIRING = "expiring"  # still failing when close to the stream's 24 h retention
CONNECT_TIMEOUT = 2.0
READ_TIMEOUT = 5.0
MAX_ATTEMPTS = 2
# The longest one quarantine write can take (boto3's attempts and its backoff included).
WRITE_SECONDS = MAX_ATTEMPTS * (CONNECT_TIMEOUT + READ_TIMEOUT) + 1.0


def s3_client(region: str | None = None) -> S3Client:
    """An S3 client with short timeouts (AWS_ENDPOINT_URL_S3 is honoured)."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "total_max_attempts": MAX_ATTEMPTS},
        connect_timeout=CONNECT_TIMEOUT,
        read_timeout=READ_TIMEOUT,
        s3={"addressing_style": "path"},
    )
    client: S3Client = boto3.session.Session().client("s3", config=config)
    return client


def object_key(record: Mapping[str, Any]) -> str:
    """The record's object: its eventID, else its sequence number, else a digest of it."""
    stream = record.get("dynamodb")
    name = record.get("eventID") or (
        stream.get("SequenceNumber") if isinstance(stream, Mapping) else None
    )
    if not isinstance(name, str) or not name.isalnum():
        text = json.dumps(record, sort_keys=True, default=str)
        name = hashlib.sha256(text.encode()).hexdigest()
    return f"{PREFIX}{name}.json"


@dataclass(frozen=True)
class Quarantined:
    """One quarantined record as stored."""

    key: str
    reason: str
    error: str
    quarantined_at: str
    record: dict[str, Any]
    entry: Entry | None

    def sort_key(self) -> tuple[float, int, str]:
        """Replay order: by when the change happened, then by sequence number."""
        stream = self.record.get("dynamodb") or {}
        created = stream.get("ApproximateCreationDateTime")
        sequence = str(stream.get("SequenceNumber") or "")
        return (
            float(created) if isinstance(created, int | float) else 0.0,
            int(sequence) if sequence.isdigit() else 0,
            self.key,
        )


@dataclass
class Quarantine:
    """Writes and reads quarantined records in one bucket."""

    client: S3Client
    bucket: str

    def put(
        self, record: Mapping[str, Any], reason: str, error: str, entry: Entry | None, now: float
    ) -> str:
        """Keep one record (raises if S3 does not take it); its object key."""
        key = object_key(record)
        body = {
            "reason": reason,
            "error": error,
            "quarantined_at": datetime.fromtimestamp(now, UTC).isoformat(timespec="seconds"),
            "record": record,
            "entry": entry,
        }
        self.client.put_object(
            Bucket=self.bucket,
            Key=key,
            Body=json.dumps(body, sort_keys=True, default=str).encode(),
            ContentType="application/json",
        )
        return key

    def object_keys(self) -> Iterator[str]:
        """Every quarantined object's key."""
        paginator = self.client.get_paginator("list_objects_v2")
        for page in paginator.paginate(Bucket=self.bucket, Prefix=PREFIX):
            for item in page.get("Contents", []):
                yield item["Key"]

    def get(self, key: str) -> Quarantined:
        """One quarantined record."""
        body = json.loads(self.client.get_object(Bucket=self.bucket, Key=key)["Body"].read())
        return Quarantined(
            key=key,
            reason=str(body.get("reason")),
            error=str(body.get("error")),
            quarantined_at=str(body.get("quarantined_at")),
            record=dict(body.get("record") or {}),
            entry=body.get("entry"),
        )

    def delete(self, key: str) -> None:
        """Forget one record (after it was published)."""
        self.client.delete_object(Bucket=self.bucket, Key=key)
