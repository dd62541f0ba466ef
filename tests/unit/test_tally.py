"""What a run wrote, or would write, counted into its report (logic/tally.py)."""

from __future__ import annotations

import json
from typing import Any

from tests.support import minimal_record as rec
from tests.support.memory_store import MemoryStore

from asset_sync.contract import Count
from asset_sync.logic.apply import ApplyOutcome, RunIdentity
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import INACTIVE, ItemChange, ValidatedCatalog
from asset_sync.logic.planning import (
    Action,
    IdentityGroup,
    ItemPlan,
    Member,
    Plan,
    Role,
    build_plan,
)
from asset_sync.logic.report import RunReport
from asset_sync.logic.tally import COUNTERS, delisting_candidates, preview, tally
from asset_sync.logic.validation import validate_catalog

RUN = RunIdentity(2, "2026-11-02T04:00:00.000000Z")


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def stored(*records: dict[str, Any]) -> MemoryStore:
    catalog = catalog_of(*records)
    return MemoryStore(
        {s: new_item(a, "2026-11-01T04:00:00.000000Z", 1) for s, a in catalog.assets.items()}
    )


def report() -> RunReport:
    return RunReport(run_id="r", last_sync_timestamp=RUN.timestamp)


def test_a_preview_reads_the_items_it_would_change_and_writes_none() -> None:
    store = stored(rec("UPD"), rec("DEL"), rec("SAME"))
    plan = build_plan(
        catalog_of(rec("UPD", name="new name"), rec("NEW"), rec("SAME")), store.states(), 2
    )
    writes = store.writes

    outcome = preview(store, plan, RUN)

    assert store.writes == writes
    assert outcome.done == {"UPD": Action.UPDATE, "NEW": Action.CREATE, "DEL": Action.DELIST}
    assert outcome.changes["NEW"] == ItemChange("create")
    assert outcome.changes["UPD"].action == "update"
    assert outcome.changes["UPD"].fields["name"].new == "new name"
    assert outcome.changes["DEL"].fields["status"].new == INACTIVE
    assert outcome.failures == {} and outcome.not_attempted == []


def test_a_preview_writes_out_every_member_of_an_identity_change() -> None:
    store = stored(rec("OLD", id="asset-1"))
    catalog = catalog_of(rec("NEW", id="asset-1"))
    group = IdentityGroup(
        (
            Member("NEW", Role.ARRIVE, catalog.assets["NEW"], source="OLD"),
            Member("OLD", Role.DEPART, source="NEW"),
        )
    )
    plan = Plan(groups=[group])

    outcome = preview(store, plan, RUN)

    assert outcome.done == {"NEW": Action.RENAME, "OLD": Action.DEPART}
    assert outcome.changes["NEW"].action == "rename"
    assert outcome.changes["OLD"].fields["renamed_to"].new == "NEW"
    assert "NEW" not in store.items


def test_each_final_action_adds_to_its_counter_once() -> None:
    outcome = ApplyOutcome(
        done={
            "C": Action.CREATE,
            "U1": Action.UPDATE,
            "U2": Action.UPDATE,
            "R": Action.REACTIVATE,
            "D": Action.DELIST,
            "P": Action.REPAIR,
            "N": Action.RENAME,
            "O": Action.DEPART,
            "S": Action.UNCHANGED,
            "X": Action.SUPERSEDED,
            "G": Action.GONE,
            "__asset/a": Action.ARCHIVE,
            "__asset/b": Action.DELIST,
        },
        changes={"C": ItemChange("create")},
        failures={"F": "gave up"},
        not_attempted=["W1", "W2"],
        conflicts_resolved=3,
    )
    counted = report()

    tally(counted, outcome)

    assert {name: getattr(counted, name) for name in Count if getattr(counted, name)} == {
        Count.CREATED: 1,
        Count.UPDATED: 2,
        Count.REACTIVATED: 1,
        Count.DELISTED: 2,  # D, and the displaced active asset archived on __asset/b
        Count.REPAIRED: 1,
        Count.RENAMED: 1,
        Count.UNCHANGED: 1,
        Count.SUPERSEDED: 1,
        Count.VANISHED: 1,
        Count.ARCHIVED: 2,
        Count.FAILED: 1,
        Count.NOT_WRITTEN: 2,
        Count.CONFLICTS_RESOLVED: 3,
    }
    assert counted.changes == {"C": ItemChange("create")} and counted.failures == {"F": "gave up"}
    assert outcome.written == 10  # all but the unchanged, superseded and gone ones
    assert set(COUNTERS) == set(Action)


def test_an_archive_on_a_ticker_is_not_counted_archived() -> None:
    counted = report()
    tally(counted, ApplyOutcome(done={"OLD": Action.ARCHIVE, "AAA": Action.DELIST}))
    assert (counted.archived, counted.delisted) == (0, 1)


def test_the_delisting_candidates_include_displaced_active_holders() -> None:
    displaced = Member("__asset/z1", Role.ARCHIVE, source="Z", delisting=True)
    archived = Member("__asset/y1", Role.ARCHIVE, source="Y", delisting=False)
    plan = Plan(
        delists=[ItemPlan("GONE", Action.DELIST)],
        groups=[IdentityGroup((displaced,)), IdentityGroup((archived,))],
    )
    assert [(c.symbol, c.action) for c in delisting_candidates(plan)] == [
        ("GONE", Action.DELIST),
        ("Z", Action.DELIST),
    ]
