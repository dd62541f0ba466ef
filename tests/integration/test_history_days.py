"""Issue 24's truth you can check: for every day the sync ran, the universe as of that day
equals a snapshot of the assets table taken at the end of that day.

Real syncs on moto's server (a simulated clock moves from day to day), the table's stream read
from moto and handed by a double of Lambda's event source mapping to the real history handler,
a hand edit, a full reconciliation that repairs it, redelivered stream records, and every kind
of change: listings, updates, renames (a ticker moving back included), delistings,
reactivations, a ticker reused the same day, a swap. The oracle reads each asset's home item in
the snapshot (docs/identity.md), never the history code.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from tests.support import Env, asset_record
from tests.support.history_days import FIRST_DAY, Days, start

from asset_sync.history import HistoryNotBegunError
from asset_sync.history.versions import now
from asset_sync.logic.report import RunReport


def record(symbol: str, asset_id: str, **overrides: Any) -> dict[str, Any]:
    return asset_record(symbol, **{"id": asset_id, "name": f"{asset_id} Inc.", **overrides})


A, B, C, D, N = (record(s, f"id-{s.lower()}") for s in "ABCDN")
A2 = record("A", "id-a", name="id-a Holdings")  # a catalog update
BB = record("BB", "id-b")  # B's new ticker
N2 = record("N", "id-n2")  # a new asset on the ticker N, the same day N's leaves
A_ON_D, D_ON_A = record("D", "id-a", name="id-a Holdings"), record("A", "id-d")  # a swap

# (catalog, what else happens that day)
DAYS: list[tuple[list[dict[str, Any]], dict[str, Any]]] = [
    ([A, B, C, D], {}),  # listings
    ([A2, BB, D, N], {"hand_edit": ("D", {"tradable": False})}),  # update, rename, delisting
    ([A2, B, C, D, N], {"redeliver": True}),  # B back to its ticker, C reactivated
    ([A2, B, C, D, N2], {"full": True}),  # the hand edit repaired; N reused the same day
    ([A2, B, C, D, N2], {"unchanged": True}),  # nothing changed
    ([A_ON_D, B, C, D_ON_A, N2], {}),  # A and D swap tickers
]


def changes(report: RunReport) -> int:
    """The asset changes a run reports (each must make exactly one version)."""
    return (
        report.created
        + report.updated
        + report.delisted
        + report.reactivated
        + report.renamed
        + report.repaired
    )


@pytest.fixture
def days(env: Env, monkeypatch: pytest.MonkeyPatch) -> Days:
    return start(env, monkeypatch)


def test_the_universe_as_of_each_day_is_the_table_at_the_end_of_that_day(days: Days) -> None:
    begun = days.backfill()  # on the empty table, at 03:00 of the first day
    expected_versions = 0
    reports = []
    for number, (catalog, extra) in enumerate(DAYS):
        days.at(FIRST_DAY + timedelta(days=number))
        report = days.sync(catalog, full=bool(extra.get("full")))
        reports.append(report)
        records = days.deliver()
        expected_versions += changes(report)
        if extra.get("redeliver"):
            days.redeliver(len(records))
        if extra.get("unchanged"):
            assert report.dynamodb_write_requests == 2  # the lease, then the run record
            assert records == []
        if "hand_edit" in extra:
            days.at(days.day, hour=15)
            symbol, values = extra["hand_edit"]
            days.hand_edit(symbol, **values)
            days.deliver()
            expected_versions += 1
        days.end_of_day()
        assert days.version_count() == expected_versions, f"day {number + 1}"

    assert begun.written == 0 and begun.began_now
    kinds = {
        "created": sum(r.created for r in reports),
        "updated": sum(r.updated for r in reports),
        "renamed": sum(r.renamed for r in reports),
        "delisted": sum(r.delisted for r in reports),
        "reactivated": sum(r.reactivated for r in reports),
        "repaired": sum(r.repaired for r in reports),
        "archived": sum(r.archived for r in reports),
    }
    assert all(kinds.values()), kinds  # every kind of change happened
    for day, snapshot in days.snapshots.items():
        assert days.universe(day) == snapshot, day
        active = {a: seen for a, seen in snapshot.items() if seen[1]["status"] == "active"}
        assert days.universe(day, all_statuses=False) == active, day
    assert days.universe(now()) == days.end_of_day()  # as of today: the current table


def test_the_history_of_a_ticker_follows_its_assets_across_renames(days: Days) -> None:
    days.backfill()
    for number, (catalog, _) in enumerate(DAYS[:4]):
        days.at(FIRST_DAY + timedelta(days=number))
        days.sync(catalog)
        days.deliver()

    b = days.reader().asset_history("B")
    n = days.reader().asset_history("N")

    assert [(s.version.symbol, s.version.sync_action) for s in b] == [
        ("B", "list"),
        ("BB", "rename"),
        ("B", "rename"),
    ]
    assert dict(b[1].changes) == {"symbol": ("B", "BB")}
    assert dict(b[2].changes) == {"symbol": ("BB", "B")}
    assert [(s.version.asset_id, s.version.status, s.version.symbol) for s in n] == [
        ("id-n", "active", "N"),
        ("id-n", "inactive", "N"),  # delisted on its archive item, under its ticker
        ("id-n2", "active", "N"),  # the same run (oldest first by run, then by asset id)
    ]
    assert n[1].version.run_seq == n[2].version.run_seq == 4
    assert days.reader().asset_history("id-b") == b  # by asset id too


def test_a_day_before_history_began_is_an_error_that_says_when_it_begins(days: Days) -> None:
    with pytest.raises(HistoryNotBegunError, match="history has not begun"):
        days.reader().universe_as_of(FIRST_DAY)
    begun = days.backfill()
    days.sync(DAYS[0][0])
    days.deliver()

    with pytest.raises(HistoryNotBegunError) as before:
        days.reader().universe_as_of(FIRST_DAY - timedelta(days=1))

    assert begun.begins_at is not None and begun.begins_at.startswith(FIRST_DAY.isoformat())
    assert f"history begins at {begun.begins_at}" in str(before.value)
    assert f"ask for {FIRST_DAY.isoformat()} or later" in str(before.value)
    assert len(days.reader().universe_as_of(FIRST_DAY)) == 4
