#!/usr/bin/env python3
"""Write the JSON Schemas of the change events (src/asset_sync/events/schemas/*.json).

One schema per detail type, for the whole event as EventBridge delivers it, in draft-04 (the
dialect EventBridge's schema registry accepts besides OpenAPI 3). Built from the item model's
attribute lists, so a new owned attribute shows up here; tests/unit/test_events_schemas.py
fails when the committed files differ from what this script writes.

Run: ``.venv/bin/python scripts/event_schemas.py``.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from asset_sync.events.classify import ANNOUNCED_ATTRIBUTES, MANUAL, REASONS
from asset_sync.events.entries import (
    ASSET_DELISTED,
    ASSET_LISTED,
    ASSET_REACTIVATED,
    ASSET_REMOVED,
    ASSET_RENAMED,
    ASSET_UPDATED,
    DETAIL_TYPES,
    SOURCE,
)
from asset_sync.events.schemas import schema_file
from asset_sync.logic.models import ACTIVE, ARCHIVE_PREFIX, DECIMAL_ATTRIBUTES, INACTIVE

ROOT = Path(__file__).resolve().parent.parent
SCHEMA_DIR = ROOT / "src" / "asset_sync" / "events" / "schemas"
DRAFT = "http://json-schema.org/draft-04/schema#"

BOOLEAN_ATTRIBUTES = frozenset(
    {"tradable", "marginable", "shortable", "easy_to_borrow", "fractionable"}
)
DECIMAL_TEXT = r"^-?[0-9]+(\.[0-9]+)?$"
UUID = r"^[0-9a-f]{8}-[0-9a-f]{4}-5[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$"
UTC_SECONDS = r"^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}Z$"

DESCRIPTIONS = {
    ASSET_LISTED: "The sync created the item, or wrote it for the first time (another service "
    "created it): `asset` holds the owned attributes.",
    ASSET_UPDATED: "Owned attributes of a listed item changed: `changes` holds old and new.",
    ASSET_DELISTED: "Status active -> inactive (not part of a rename): `changes` holds old and "
    "new, status included.",
    ASSET_REACTIVATED: "Status inactive -> active, or an asset back on the ticker it left (out of "
    "its archive, from the asset that held it): `changes` holds old and new, status or asset_id "
    "included.",
    ASSET_RENAMED: "A ticker change: the new item (`symbol`) of the asset that was "
    "`previous_symbol`; `asset` holds the new item's owned attributes.",
    ASSET_REMOVED: "An item the sync wrote was deleted (by hand or by a TTL): `order` is one "
    "past the deleted item's last write.",
}
# Fields every detail type has, with the same meaning (docs/events.md, "The events").
NAME_LIST = {"type": "array", "items": {"type": "string"}}
ENVELOPE: dict[str, Any] = {
    "event_id": {"type": "string", "pattern": UUID},
    "symbol": {"type": "string", "minLength": 1},
    "asset_id": {"type": ["string", "null"]},
    "run_seq": {"type": ["integer", "null"], "minimum": 0},
    "sync_version": {"type": ["integer", "null"], "minimum": 0},
    "changed_at": {"type": ["string", "null"], "pattern": UTC_SECONDS},
    "reason": {"enum": list(REASONS)},
    "order": {
        "type": "array",
        "minItems": 2,
        "maxItems": 2,
        "items": {"type": "integer", "minimum": 0},
    },
}
REQUIRED = [*ENVELOPE]
ARCHIVED_AS = {"type": "string", "pattern": "^" + ARCHIVE_PREFIX}
MOVED = {
    "type": "object",
    "required": ["in", "out"],
    "additionalProperties": False,
    "properties": {"in": NAME_LIST, "out": NAME_LIST},
}


def value_schema(name: str) -> dict[str, Any]:
    """The JSON type of one announced attribute's value (null: absent)."""
    if name == "status":
        return {"enum": [ACTIVE, INACTIVE, None]}
    if name in BOOLEAN_ATTRIBUTES:
        return {"type": ["boolean", "null"]}
    if name in DECIMAL_ATTRIBUTES:
        return {"type": ["string", "null"], "pattern": DECIMAL_TEXT}
    if name == "attributes":
        return {"type": ["array", "null"], "items": {"type": "string"}}
    return {"type": ["string", "null"]}


def asset_schema() -> dict[str, Any]:
    """`asset`: every announced attribute."""
    return {
        "type": "object",
        "required": list(ANNOUNCED_ATTRIBUTES),
        "additionalProperties": False,
        "properties": {name: value_schema(name) for name in ANNOUNCED_ATTRIBUTES},
    }


def change_schema(name: str, old: Any = None, new: Any = None) -> dict[str, Any]:
    """One entry of `changes`; `old`/`new` pin the values a detail type implies."""
    return {
        "type": "object",
        "required": ["old", "new"],
        "additionalProperties": False,
        "properties": {
            "old": old or value_schema(name),
            "new": new or value_schema(name),
        },
    }


def changes_schema(status: tuple[str, str] | None, *, or_holder: bool = False) -> dict[str, Any]:
    """`changes`: the changed attributes only; `status` pins the status transition (required,
    or with `or_holder` either it or a change of `asset_id`: an asset back on a ticker another
    asset held, whose status was already active).

    Empty only when the write moved other services' attributes (see `detail_schema`).
    """
    properties = {name: change_schema(name) for name in ANNOUNCED_ATTRIBUTES}
    schema: dict[str, Any] = {"type": "object", "additionalProperties": False}
    if status is not None:
        properties["status"] = change_schema("status", {"enum": [status[0]]}, {"enum": [status[1]]})
        if or_holder:
            schema["anyOf"] = [{"required": ["status"]}, {"required": ["asset_id"]}]
        else:
            schema["required"] = ["status"]
    schema["properties"] = properties
    return schema


def detail_schema(detail_type: str) -> dict[str, Any]:
    """The `detail` of one detail type, full or truncated (the oversized-detail rule)."""
    if detail_type == ASSET_REMOVED:
        return removed_schema()
    payload = "changes"
    properties: dict[str, Any] = {
        **ENVELOPE,
        "moved_attributes": MOVED,
        "truncated": {"enum": [True]},
        "changed_attributes": {
            "type": "array",
            "items": {"enum": list(ANNOUNCED_ATTRIBUTES)},
        },
    }
    required = list(REQUIRED)
    rules: list[dict[str, Any]] = []
    if detail_type in (ASSET_LISTED, ASSET_RENAMED):
        payload = "asset"
        properties["asset"] = asset_schema()
        properties["replaces_asset_id"] = {"type": "string", "minLength": 1}
    else:
        status = {
            ASSET_DELISTED: (ACTIVE, INACTIVE),
            ASSET_REACTIVATED: (INACTIVE, ACTIVE),
        }.get(detail_type)
        properties["changes"] = changes_schema(status, or_holder=detail_type == ASSET_REACTIVATED)
        # A write that only moved other services' attributes has no changed owned attribute.
        rules.append(
            {
                "anyOf": [
                    {"required": ["moved_attributes"]},
                    {"properties": {"changes": {"minProperties": 1}}},
                ]
            }
        )
    if detail_type == ASSET_DELISTED:
        properties["archived_as"] = ARCHIVED_AS
    if detail_type == ASSET_RENAMED:
        properties["previous_symbol"] = {"type": "string", "minLength": 1}
        required.append("previous_symbol")
    rules.append(
        {
            "oneOf": [
                {"required": [payload], "not": {"required": ["truncated"]}},
                {"required": ["truncated", "changed_attributes"], "not": {"required": [payload]}},
            ]
        }
    )
    return {
        "type": "object",
        "required": required,
        "additionalProperties": False,
        "properties": properties,
        "allOf": rules,
    }


def removed_schema() -> dict[str, Any]:
    """`Asset Removed`: the envelope, who removed the item, and its archive key if any."""
    return {
        "type": "object",
        "required": [*REQUIRED, "removed_by"],
        "additionalProperties": False,
        "properties": {
            **ENVELOPE,
            "run_seq": {"type": "null"},
            "sync_version": {"type": "null"},
            "reason": {"enum": [MANUAL]},
            "removed_by": {"type": ["string", "null"]},
            "archived_as": ARCHIVED_AS,
        },
    }


def event_schema(detail_type: str) -> dict[str, Any]:
    """The whole event as delivered (the envelope fields EventBridge adds are optional)."""
    return {
        "$schema": DRAFT,
        "title": detail_type,
        "description": DESCRIPTIONS[detail_type] + " See docs/events.md.",
        "type": "object",
        "required": ["source", "detail-type", "detail"],
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "account": {"type": "string"},
            "time": {"type": "string"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "source": {"enum": [SOURCE]},
            "detail-type": {"enum": [detail_type]},
            "detail": detail_schema(detail_type),
        },
    }


def schema_texts() -> dict[str, str]:
    """File name -> the file's text, for every detail type."""
    return {
        schema_file(detail_type): json.dumps(event_schema(detail_type), indent=2) + "\n"
        for detail_type in DETAIL_TYPES
    }


def main() -> int:
    """Write the schema files; print what changed."""
    for name, text in schema_texts().items():
        path = SCHEMA_DIR / name
        if not path.exists() or path.read_text(encoding="utf-8") != text:
            path.write_text(text, encoding="utf-8")
            print(f"wrote {path.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
