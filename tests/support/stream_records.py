"""Stream records built by hand, shaped as Lambda delivers them, and event checks.

`synced` builds an item image as the sync writes it; `sync_write` and `hand_edit` derive the
next image the way the sync (bookkeeping bumped, run number set, and `sync_action` when an
`action` is given, as the identity contract's sync writes it) or a person (only `sync_version`
bumped, as docs/architecture.md asks) would write it; `archived` builds an archive item.
"""

from __future__ import annotations

import itertools
import json
import uuid
from decimal import Decimal
from typing import Any

from jsonschema import Draft4Validator

from asset_sync.dal.serialization import serialize
from asset_sync.events.schemas import load_schema
from asset_sync.logic.models import ARCHIVE_PREFIX

Image = dict[str, dict[str, Any]]
_sequence = itertools.count(4200000000000000000001)


def values(**attributes: Any) -> Image:
    """Python values (str, bool, Decimal, int, tuple/list of str) as DynamoDB JSON."""
    return {
        name: serialize(tuple(value) if isinstance(value, list) else value)
        for name, value in attributes.items()
    }


def synced(symbol: str, run: int | None = 7, version: int = 1, **overrides: Any) -> Image:
    """An active item as the sync creates it; `overrides` replace attributes (None removes)."""
    attributes: dict[str, Any] = {
        "symbol": symbol,
        "status": "active",
        "asset_id": f"id-{symbol}",
        "name": f"{symbol} Inc.",
        "exchange": "NASDAQ",
        "asset_class": "us_equity",
        "tradable": True,
        "marginable": True,
        "shortable": True,
        "easy_to_borrow": True,
        "borrow_status": "easy_to_borrow",
        "fractionable": True,
        "attributes": ("has_options",),
        "margin_requirement_long": Decimal("30"),
        "created_at": "2026-11-30T04:00:00.000000Z",
        "updated_at": "2026-11-30T04:00:00.000000Z",
        "last_sync_timestamp": "2026-11-30T04:00:00.000000Z",
        "sync_version": version,
        "sync_hash": f"hash-{symbol}-{version}",
    }
    if run is not None:
        attributes["sync_run_seq"] = run
    attributes.update(overrides)
    return values(**{name: value for name, value in attributes.items() if value is not None})


def _apply(image: Image, changes: dict[str, Any]) -> Image:
    out = dict(image)
    for name, value in changes.items():
        if value is None:
            out.pop(name, None)
        else:
            out.update(values(**{name: value}))
    return out


def sync_write(image: Image, run: int = 8, action: str | None = None, **changes: Any) -> Image:
    """The image after a sync write of `changes` (None removes) by run number `run`.

    With `action`, the write records it as `sync_action` (the identity contract); without,
    it is a write of a version that records none (any `sync_action` stored stays as it was).
    """
    version = int(image.get("sync_version", {"N": "0"})["N"]) + 1
    stamp = f"2026-12-{run:02d}T04:00:00.000000Z"
    bookkeeping: dict[str, Any] = {
        "updated_at": stamp,
        "last_sync_timestamp": stamp,
        "sync_version": version,
        "sync_hash": f"hash-{uuid.uuid4().hex[:8]}",
        "sync_run_seq": run,
    }
    if action is not None:
        bookkeeping["sync_action"] = action
    return _apply(image, {**changes, **bookkeeping})


def archived(asset_id: str, ticker: str, run: int = 8, **overrides: Any) -> Image:
    """The archive item `__asset/<asset_id>` of an asset displaced from `ticker` (inactive)."""
    image = synced(
        f"{ARCHIVE_PREFIX}{asset_id}",
        run=run,
        asset_id=asset_id,
        status="inactive",
        name=f"{ticker} (archived) Inc.",
        previous_symbol=ticker,
        sync_action="archive",
    )
    return _apply(image, overrides)


def hand_edit(image: Image, **changes: Any) -> Image:
    """The image after another writer's edit: `changes` plus `sync_version` + 1 if present."""
    bump = {}
    if "sync_version" in image:
        bump["sync_version"] = int(image["sync_version"]["N"]) + 1
    return _apply(image, {**changes, **bump})


def record(
    old: Image | None, new: Image | None, event_id: str | None = None, **stream: Any
) -> dict[str, Any]:
    """A stream record in the Lambda event shape (INSERT, MODIFY or REMOVE from the images)."""
    image = new if new is not None else old
    assert image is not None
    name = "INSERT" if old is None else "REMOVE" if new is None else "MODIFY"
    dynamodb: dict[str, Any] = {
        "ApproximateCreationDateTime": 1796011200,
        "Keys": {"symbol": image["symbol"]},
        "SequenceNumber": str(next(_sequence)),
        "SizeBytes": len(json.dumps([old, new])),
        "StreamViewType": "NEW_AND_OLD_IMAGES",
        **stream,
    }
    if new is not None:
        dynamodb["NewImage"] = new
    if old is not None:
        dynamodb["OldImage"] = old
    return {
        "eventID": event_id or uuid.uuid4().hex,
        "eventName": name,
        "eventVersion": "1.1",
        "eventSource": "aws:dynamodb",
        "awsRegion": "us-east-1",
        "dynamodb": dynamodb,
        "eventSourceARN": "arn:aws:dynamodb:us-east-1:123456789012:table/signal9_assets/stream/x",
    }


def detail(entry: dict[str, Any]) -> dict[str, Any]:
    """An entry's detail, parsed."""
    parsed: dict[str, Any] = json.loads(entry["Detail"])
    return parsed


def schema_errors(event: dict[str, Any]) -> list[str]:
    """Why an event (as delivered, or an entry) does not meet its detail type's schema."""
    if "DetailType" in event:  # a PutEvents entry: the fields a delivered event has
        event = {
            "source": event["Source"],
            "detail-type": event["DetailType"],
            "detail": json.loads(event["Detail"]),
        }
    validator = Draft4Validator(load_schema(event["detail-type"]))
    return [f"{list(e.absolute_path)}: {e.message}" for e in validator.iter_errors(event)]
