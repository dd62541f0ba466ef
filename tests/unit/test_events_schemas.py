"""The committed JSON Schemas: generated from the item model, valid, and able to refuse."""

from __future__ import annotations

import json
from importlib import resources

import pytest
from jsonschema import Draft4Validator
from scripts import event_schemas
from tests.support.stream_records import record, schema_errors, sync_write, synced

from asset_sync.events import DETAIL_TYPES, to_events
from asset_sync.events.schemas import load_schema, schema_file


def test_committed_schemas_are_what_the_generator_writes() -> None:
    texts = event_schemas.schema_texts()
    package = resources.files("asset_sync.events.schemas")

    assert sorted(texts) == sorted(schema_file(kind) for kind in DETAIL_TYPES)
    for name, text in texts.items():
        assert package.joinpath(name).read_text("utf-8") == text, (
            f"{name} is stale: run `.venv/bin/python scripts/event_schemas.py`"
        )


@pytest.mark.parametrize("detail_type", DETAIL_TYPES)
def test_each_schema_is_a_valid_draft4_schema_for_its_type(detail_type: str) -> None:
    schema = load_schema(detail_type)

    Draft4Validator.check_schema(schema)
    assert schema["title"] == detail_type
    assert schema["properties"]["detail-type"] == {"enum": [detail_type]}


def test_schemas_refuse_what_the_catalog_does_not_promise() -> None:
    old = synced("GE")
    [entry] = to_events([record(old, sync_write(old, status="inactive"))])
    event = {"source": entry["Source"], "detail-type": entry["DetailType"]}
    body = json.loads(entry["Detail"])
    assert schema_errors({**event, "detail": body}) == []

    wrong_status = {**body, "changes": {"status": {"old": "inactive", "new": "active"}}}
    missing_id = {k: v for k, v in body.items() if k != "event_id"}
    extra = {**body, "surprise": 1}
    number = {**body, "changes": {"min_order_size": {"old": "1", "new": 1.5}}}
    both = {**body, "truncated": True, "changed_attributes": ["status"]}
    bad_order = {**body, "order": [3]}
    bad_reason = {**body, "reason": "whim"}
    for bad in (wrong_status, missing_id, extra, number, both, bad_order, bad_reason):
        assert schema_errors({**event, "detail": bad}), bad
    assert schema_errors({**event, "source": "someone.else", "detail": body})


def test_an_update_must_change_something_or_say_what_moved() -> None:
    old = synced("IBM")
    [entry] = to_events([record(old, sync_write(old, name="IBM Corp."))])
    event = {"source": entry["Source"], "detail-type": entry["DetailType"]}
    body = json.loads(entry["Detail"])
    moved = {"in": ["sector"], "out": []}

    assert schema_errors({**event, "detail": {**body, "changes": {}}})
    only_moved = {**body, "changes": {}, "moved_attributes": moved}
    assert schema_errors({**event, "detail": only_moved}) == []


def test_a_removal_is_manual_and_names_no_run() -> None:
    [entry] = to_events([record(synced("GONE"), None)])
    event = {"source": entry["Source"], "detail-type": entry["DetailType"]}
    body = json.loads(entry["Detail"])
    assert schema_errors({**event, "detail": body}) == []

    for bad in ({**body, "reason": "catalog"}, {**body, "run_seq": 3}, {**body, "asset": {}}):
        assert schema_errors({**event, "detail": bad}), bad
