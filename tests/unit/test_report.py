"""The run report's forms: the counts, the stored summary and the CLI's JSON."""

from __future__ import annotations

from decimal import Decimal

from asset_sync.logic.models import (
    FieldChange,
    IdConflict,
    InvalidRecord,
    ItemChange,
    Unrecognized,
    ValidatedCatalog,
)
from asset_sync.logic.report import (
    COUNTERS,
    MAX_REPORTED_INVALID,
    MAX_REPORTED_SYMBOLS,
    SUCCESS_OUTCOMES,
    RunReport,
)


def report(**fields: object) -> RunReport:
    return RunReport(run_id="run-1", last_sync_timestamp="2026-12-02T04:00:00.000000Z", **fields)  # type: ignore[arg-type]


def test_only_succeeded_and_dry_run_are_success() -> None:
    assert SUCCESS_OUTCOMES == ("succeeded", "dry-run")
    for outcome in ("succeeded", "dry-run"):
        assert report(outcome=outcome).succeeded
    for outcome in ("running", "partial", "refused", "failed", "interrupted", "skipped"):
        assert not report(outcome=outcome).succeeded


def test_counts_hold_every_counter_the_duplicates_and_the_id_conflicts() -> None:
    values = {name: i + 1 for i, name in enumerate(COUNTERS)}
    conflicts = [{"asset_id": "x", "symbols": ["A", "B"]}]
    counts = report(**values, duplicates=["A", "B"], id_conflicts=conflicts).counts()
    assert counts == {**values, "duplicates": 2, "id_conflicts": 1}
    assert list(counts) == [*COUNTERS, "duplicates", "id_conflicts"]


def test_the_summary_is_the_stored_record() -> None:
    r = report(
        run_seq=12,
        outcome="partial",
        message="m",
        warnings=["w"],
        dry_run=True,
        full=True,
        scope=["us_equity"],
        duration_seconds=1.23456,
        dynamodb_write_requests=5,
        alpaca_attempts=2,
        created=3,
    )
    summary = r.summary()
    assert {k: summary[k] for k in list(summary)[:12]} == {
        "run_id": "run-1",
        "run_seq": 12,
        "outcome": "partial",
        "message": "m",
        "warnings": ["w"],
        "dry_run": True,
        "full": True,
        "scope": ["us_equity"],
        "last_sync_timestamp": "2026-12-02T04:00:00.000000Z",
        "duration_seconds": 1.235,
        "dynamodb_write_requests": 5,
        "alpaca_attempts": 2,
    }
    assert summary["created"] == 3 and summary["duplicates"] == 0
    assert "changes" not in summary and "failures" not in summary


def test_the_json_has_details_and_caps_the_invalid_records() -> None:
    invalid = [InvalidRecord(i, f"S{i}", "bad") for i in range(MAX_REPORTED_INVALID + 5)]
    change = ItemChange(
        "update", {"b": FieldChange("x", "y"), "a": FieldChange(None, Decimal("1.50"))}
    )
    r = report(
        invalid_records=invalid,
        changes={"Z": ItemChange("create"), "A": change},
        failures={"F": "why"},
        duplicates=["D"],
        renames=[{"from": "O", "to": "N", "asset_id": "i"}],
        kept_active=["K"],
        unconfirmed=["U"],
        id_conflicts=[{"asset_id": "i", "symbols": ["P", "Q"]}],
        dynamodb_requests=9,
        dynamodb_write_requests=4,
        dynamodb_retries=1,
        region="eu-west-1",
        endpoint="AWS",
    )
    out = r.to_json()
    assert len(out["invalid_records"]) == MAX_REPORTED_INVALID == 200
    assert out["invalid_records"][0] == {"index": 0, "symbol": "S0", "reason": "bad"}
    assert list(out["changes"]) == ["A", "Z"]
    assert out["changes"]["Z"] == {"action": "create"}
    assert out["changes"]["A"] == {
        "action": "update",
        "fields": {"a": {"old": None, "new": "1.50"}, "b": {"old": "x", "new": "y"}},
    }
    assert list(out["changes"]["A"]["fields"]) == ["a", "b"]
    assert out["dynamodb"] == {
        "requests": 9,
        "write_requests": 4,
        "retries": 1,
        "region": "eu-west-1",
        "endpoint": "AWS",
    }
    assert (out["failures"], out["duplicate_symbols"], out["kept_active"]) == (
        {"F": "why"},
        ["D"],
        ["K"],
    )
    assert (out["unconfirmed"], out["renames"][0]["to"]) == (["U"], "N")
    assert out["id_conflicts"] == [{"asset_id": "i", "symbols": ["P", "Q"]}]
    assert out["outcome"] == "running" and out["created"] == 0


def test_foreign_values_appear_as_stored() -> None:
    change = ItemChange(
        "update",
        {
            "cusip": FieldChange(Unrecognized({"NULL": True}), "123"),
            "name": FieldChange(Unrecognized({"B": b"\x00\xff"}), "n"),
            "attributes": FieldChange(
                Unrecognized({"SS": ["a"], "M": {"k": {"BS": [b"\x01"]}}}), ("a", "b")
            ),
        },
    )
    fields = change.to_json()["fields"]
    assert fields == {  # type: ignore[comparison-overlap]
        "attributes": {"old": {"SS": ["a"], "M": {"k": {"BS": ["01"]}}}, "new": ["a", "b"]},
        "cusip": {"old": {"NULL": True}, "new": "123"},
        "name": {"old": {"B": "00ff"}, "new": "n"},
    }


def test_the_json_lists_reassignments_and_blocked_records_sorted_and_bounded() -> None:
    reassignments = [{"symbol": f"S{i:03d}", "from": "a", "to": "b"} for i in range(205)]
    blocked = {f"B{i:03d}": "why" for i in reversed(range(205))}
    out = report(reassignments=reassignments, blocked_records=blocked, blocked=205).to_json()
    assert out["reassignments"] == reassignments[:MAX_REPORTED_SYMBOLS]
    assert list(out["blocked_records"]) == [f"B{i:03d}" for i in range(MAX_REPORTED_SYMBOLS)]
    assert set(out["blocked_records"].values()) == {"why"} and out["blocked"] == 205


def test_planning_notes_each_id_conflict_by_its_id_and_symbols() -> None:
    catalog = ValidatedCatalog({}, id_conflicts=(IdConflict("id-1", ("P", "Q")),))
    r = report()
    r.note_plan(catalog, unchanged=3, superseded=1)
    assert (r.unchanged, r.superseded) == (3, 1)
    assert r.to_json()["id_conflicts"] == [{"asset_id": "id-1", "symbols": ["P", "Q"]}]
