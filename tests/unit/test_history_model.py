"""The universe as of a moment and the steps of an asset's history, over versions (pure)."""

from __future__ import annotations

from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any

import pytest

from asset_sync.history.model import (
    Asset,
    HistoryError,
    HistoryNotBegunError,
    check_begun,
    latest_by,
    moment_of,
    parse_moment,
    steps,
    universe,
)
from asset_sync.history.versions import Version

NOW = datetime(2026, 12, 6, 10, 0, tzinfo=UTC)


def v(
    asset_id: str,
    run: int,
    day: int,
    *,
    symbol: str | None = None,
    status: str = "active",
    asset_class: str = "us_equity",
    suffix: str = "",
    **state: Any,
) -> Version:
    """A version of `asset_id` made by run `run` at 04:00 on December `day`."""
    values: dict[str, Any] = {
        "status": {"S": status},
        "asset_id": {"S": asset_id},
        "asset_class": {"S": asset_class},
        "name": {"S": f"{asset_id} Inc."},
        "tradable": {"BOOL": True},
        "margin_requirement_long": {"N": "30"},
    }
    values.update(state)
    return Version(
        asset_id=asset_id,
        version=f"{run:012d}{suffix}",
        symbol=symbol or asset_id.upper(),
        state=values,
        changed_at=f"2026-12-{day:02d}T04:00:00.000000Z",
        reason="catalog",
        run_seq=run,
    )


def test_a_date_is_the_end_of_that_utc_day_and_a_time_is_that_instant() -> None:
    day = parse_moment("2026-12-02", NOW)
    instant = parse_moment("2026-12-02T04:00:00Z", NOW)

    assert day.until == datetime(2026, 12, 3, tzinfo=UTC)
    assert day.last_included == "2026-12-02T23:59:59.999999Z"
    assert instant.last_included == "2026-12-02T04:00:00.000000Z"
    assert moment_of(date(2026, 12, 2), NOW) == day
    assert moment_of(datetime(2026, 12, 2, 4, tzinfo=UTC), NOW).until == instant.until


@pytest.mark.parametrize(
    ("text", "says"),
    [
        ("yesterday", "is not a date"),
        ("2026-13-01", "is not a date"),
        ("2026-12-02T04:00:00", "has no time zone"),
        ("2026-12-07", "is in the future"),
    ],
)
def test_what_is_no_moment_is_refused_with_the_reason(text: str, says: str) -> None:
    with pytest.raises(HistoryError, match=says):
        parse_moment(text, NOW)


def test_today_is_a_moment() -> None:
    assert parse_moment("2026-12-06", NOW).until == datetime(2026, 12, 7, tzinfo=UTC)


def test_each_asset_is_its_latest_version_changed_by_then() -> None:
    versions = [v("a", 1, 1), v("a", 3, 3, name={"S": "A3"}), v("b", 2, 2), v("c", 4, 4)]

    on_the_2nd = latest_by(versions, parse_moment("2026-12-02", NOW).until)
    on_the_3rd = latest_by(versions, parse_moment("2026-12-03", NOW).until)
    at_the_run = latest_by(versions, parse_moment("2026-12-03T04:00:00Z", NOW).until)
    before_it = latest_by(versions, parse_moment("2026-12-03T03:59:59Z", NOW).until)

    assert {a: x.version for a, x in on_the_2nd.items()} == {"a": f"{1:012d}", "b": f"{2:012d}"}
    assert on_the_3rd["a"].state["name"] == {"S": "A3"}
    assert at_the_run["a"].run_seq == 3  # a run's changes count from its start
    assert before_it["a"].run_seq == 1


def test_run_numbers_order_versions_not_their_clocks() -> None:
    late_clock = v("a", 5, 3, name={"S": "run 5"})
    early_clock = v("a", 6, 2, name={"S": "run 6, by a clock behind"})

    latest = latest_by([late_clock, early_clock], parse_moment("2026-12-04", NOW).until)

    assert latest["a"].state["name"] == {"S": "run 6, by a clock behind"}


def test_a_hand_edit_counts_after_its_run_and_before_the_next() -> None:
    edit = v("a", 1, 2, suffix="m" + "9".zfill(40), tradable={"BOOL": False})

    latest = latest_by([v("a", 1, 1), edit, v("a", 2, 3)], parse_moment("2026-12-02", NOW).until)

    assert latest["a"] == edit


def test_the_universe_is_active_assets_of_the_classes_asked_sorted_by_ticker() -> None:
    versions = [
        v("b", 1, 1, symbol="BBB"),
        v("a", 1, 1, symbol="AAA"),
        v("c", 1, 1, symbol="BTC/USD", asset_class="crypto"),
        v("d", 1, 1, symbol="DDD"),
        v("d", 2, 2, symbol="DDD", status="inactive"),
    ]
    until = parse_moment("2026-12-02", NOW).until

    active = universe(versions, until)
    everything = universe(versions, until, all_statuses=True)
    crypto = universe(versions, until, asset_classes=["crypto"])

    assert [a.symbol for a in active] == ["AAA", "BBB", "BTC/USD"]
    assert [(a.symbol, a.status) for a in everything][-1] == ("DDD", "inactive")
    assert [a.symbol for a in crypto] == ["BTC/USD"]


def test_a_removed_item_leaves_its_asset_out_even_with_every_status() -> None:
    gone = Version(
        asset_id="a",
        version=f"{1:012d}m1",
        symbol="AAA",
        state={"status": {"S": "active"}},
        changed_at="2026-12-02T09:00:00.000000Z",
        reason="manual",
        removed=True,
    )
    until = parse_moment("2026-12-02", NOW).until

    assert universe([v("a", 1, 1), gone], until, all_statuses=True) == []
    assert len(universe([v("a", 1, 1), gone], parse_moment("2026-12-01", NOW).until)) == 1


def test_an_asset_carries_its_values_typed_and_exact() -> None:
    asset = Asset.of(
        v("a", 7, 1, attributes={"L": [{"S": "has_options"}]}, price_increment={"N": "0.010"})
    )

    assert asset.price_increment == Decimal("0.010") and asset.tradable is True
    assert asset.attributes == ("has_options",) and asset.shortable is None
    assert (asset.run_seq, asset.reason) == (7, "catalog")
    assert asset.to_json()["price_increment"] == "0.010"
    assert asset.to_json()["attributes"] == ["has_options"]


def test_steps_say_what_changed_from_the_assets_version_before() -> None:
    found = steps(
        [
            v("a", 3, 3, symbol="BBB"),
            v("a", 1, 1, symbol="AAA"),
            v("z", 2, 2, symbol="AAA"),
            v("a", 4, 4, symbol="BBB", tradable={"BOOL": False}),
        ]
    )

    assert [(s.version.asset_id, s.version.run_seq) for s in found] == [
        ("a", 1),
        ("z", 2),
        ("a", 3),
        ("a", 4),
    ]
    assert found[0].changes["symbol"] == (None, "AAA")
    assert found[0].changes["status"] == (None, "active")
    assert dict(found[2].changes) == {"symbol": ("AAA", "BBB")}
    assert dict(found[3].changes) == {"tradable": (True, False)}
    assert found[3].to_json()["changes"] == {"tradable": {"old": True, "new": False}}


def test_history_begins_where_the_backfill_recorded_it() -> None:
    begins = "2026-12-02T03:00:00.000000Z"

    check_begun(parse_moment("2026-12-02", NOW), begins)  # that day's end is after it
    with pytest.raises(HistoryNotBegunError, match="ask for 2026-12-02 or later"):
        check_begun(parse_moment("2026-12-01", NOW), begins)
    with pytest.raises(HistoryNotBegunError, match="history has not begun"):
        check_begun(parse_moment("2026-12-05", NOW), None)
