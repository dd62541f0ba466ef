"""Planning decisions and the attribute-level write, rule by rule (issue 15's survivors:
decimal-only changes, `created_at` overwritten, timestamps as None, the per-field report)."""

from __future__ import annotations

import json
from dataclasses import replace
from decimal import Decimal
from typing import Any

import pytest
from tests.support import minimal_record as rec

from asset_sync.dal.assets import state_from_item
from asset_sync.logic.item_writes import diff_item, identity_links, new_item, next_version
from asset_sync.logic.models import (
    ACTIVE,
    CONTENT_ATTRIBUTES,
    DECIMAL_ATTRIBUTES,
    INACTIVE,
    CatalogAsset,
    CurrentState,
    FieldChange,
    StoredValue,
    Unrecognized,
    ValidatedCatalog,
)
from asset_sync.logic.planning import (
    Action,
    IdentityGroup,
    ItemPlan,
    Member,
    Plan,
    Role,
    build_plan,
    check_guard,
    in_scope,
    plan_item,
    stored_content_matches,
)
from asset_sync.logic.validation import validate_catalog

T1, T2 = 1, 2
TS1, TS2 = "2026-11-01T04:00:00.000000Z", "2026-11-02T04:00:00.000000Z"
FULL: dict[str, Any] = {
    **rec("A"),
    "marginable": True,
    "shortable": False,
    "easy_to_borrow": True,
    "fractionable": False,
    "borrow_status": "easy",
    "attributes": ["x", "y"],
    "cusip": "123",
    "min_order_size": "1",
    "min_trade_increment": "0.001",
    "price_increment": "0.01",
    "maintenance_margin_requirement": "25",
    "margin_requirement_long": "30",
    "margin_requirement_short": "40",
}
# a different value of every content field (same type)
CHANGED: dict[str, Any] = {
    "id": "id-other",
    "name": "Other",
    "exchange": "ARCA",
    "class": "crypto",
    "tradable": False,
    "marginable": False,
    "shortable": True,
    "easy_to_borrow": False,
    "fractionable": True,
    "borrow_status": "hard",
    "attributes": ["y", "x"],
    "cusip": "456",
    "min_order_size": "1.0000001",
    "min_trade_increment": "0.002",
    "price_increment": "0.010000000000000000000000000000001",
    "maintenance_margin_requirement": "25.5",
    "margin_requirement_long": "31",
    "margin_requirement_short": "-40",
}
API_NAME = {
    "asset_id": "id",
    "asset_class": "class",
}


def asset_of(record: dict[str, Any]) -> CatalogAsset:
    catalog = validate_catalog(json.dumps([record]).encode())
    assert not catalog.invalid, catalog.invalid
    return catalog.assets[record["symbol"]]


def catalog_of(*records: dict[str, Any]) -> ValidatedCatalog:
    return validate_catalog(json.dumps(list(records)).encode())


def stored(record: dict[str, Any], seq: int = T1, **extra: StoredValue) -> dict[str, StoredValue]:
    return {**new_item(asset_of(record), TS1, seq), **extra}


def state(item: dict[str, StoredValue], *, whole: bool = False) -> CurrentState:
    return state_from_item(str(item["symbol"]), item, whole=whole)


def test_the_test_data_changes_every_content_field() -> None:
    before, after = asset_of(FULL).content, asset_of({**FULL, **CHANGED}).content
    assert set(before) == set(after) == set(CONTENT_ATTRIBUTES)
    assert all(before[name] != after[name] for name in CONTENT_ATTRIBUTES)


@pytest.mark.parametrize("field", sorted(CHANGED))
def test_a_change_of_any_one_field_is_planned_written_and_reported(field: str) -> None:
    old = stored(FULL)
    asset = asset_of({**FULL, field: CHANGED[field]})
    attribute = {v: k for k, v in API_NAME.items()}.get(field, field)

    item = plan_item(asset, state(old), T2)
    assert item is not None and item.action == Action.UPDATE
    write = diff_item(item, old, TS2, T2)

    assert write.set_values[attribute] == asset.content[attribute]
    assert write.change.fields == {attribute: FieldChange(old[attribute], asset.content[attribute])}
    assert write.change.action == "update"
    assert write.remove == ()
    assert write.set_values["sync_hash"] == asset.content_hash != old["sync_hash"]
    untouched = set(CONTENT_ATTRIBUTES) - {attribute}
    assert not untouched & set(write.set_values)


@pytest.mark.parametrize("name", DECIMAL_ATTRIBUTES)
def test_a_decimal_only_change_is_not_unchanged(name: str) -> None:
    old = stored(FULL)
    value = str(Decimal(str(old[name])) + Decimal("1E-20"))
    item = plan_item(asset_of({**FULL, name: value}), state(old), T2)
    assert item is not None and item.action == Action.UPDATE
    text = format(old[name], "f")
    respelled = text + ("0" if "." in text else ".00")
    same = plan_item(asset_of({**FULL, name: respelled}), state(old), T2)
    assert same is not None and same.action == Action.UNCHANGED  # only the spelling differs


@pytest.mark.parametrize(
    "field",
    ["marginable", "shortable", "easy_to_borrow", "fractionable", "borrow_status", "cusip"],
)
def test_a_field_the_catalog_no_longer_sends_is_removed(field: str) -> None:
    old = stored(FULL)
    item = plan_item(asset_of({k: v for k, v in FULL.items() if k != field}), state(old), T2)
    assert item is not None
    write = diff_item(item, old, TS2, T2)
    assert write.remove == (field,)
    assert field not in write.set_values
    assert write.change.fields == {field: FieldChange(old[field], None)}


def test_bookkeeping_of_an_update() -> None:
    old = stored(FULL, sync_version=Decimal(7))
    item = plan_item(asset_of({**FULL, "name": "New"}), state(old), T2)
    assert item is not None
    values = diff_item(item, old, TS2, T2).set_values
    assert "created_at" not in values  # kept: when the sync created the item
    assert (values["updated_at"], values["last_sync_timestamp"]) == (TS2, TS2)
    assert (values["sync_version"], values["sync_run_seq"]) == (8, T2)
    assert isinstance(values["sync_run_seq"], Decimal) and "status" not in values


@pytest.mark.parametrize("created", [None, Decimal(5), Unrecognized({"NULL": True})])
def test_created_at_is_set_only_when_no_text_is_stored(created: StoredValue | None) -> None:
    old = stored(FULL)
    del old["created_at"]
    if created is not None:
        old["created_at"] = created
    item = plan_item(asset_of({**FULL, "name": "New"}), state(old), T2)
    assert item is not None
    assert diff_item(item, old, TS2, T2).set_values["created_at"] == TS2


@pytest.mark.parametrize("action", ["delist", "reactivate", "update", "repair"])
def test_created_at_survives_every_kind_of_write(action: str) -> None:
    old = stored(FULL) if action != "reactivate" else {**stored(FULL), "status": INACTIVE}
    asset = None if action == "delist" else asset_of({**FULL, "name": "New"})
    plan = ItemPlan("A", Action(action), asset, state(old))
    values = diff_item(plan, old, TS2, T2).set_values
    assert "created_at" not in values
    assert values["updated_at"] == TS2 == values["last_sync_timestamp"]


def test_a_delisting_sets_only_the_status_and_bookkeeping() -> None:
    old = stored(FULL)
    write = diff_item(ItemPlan("A", Action.DELIST, None, state(old)), old, TS2, T2)
    assert set(write.set_values) == {
        "status",
        "updated_at",
        "last_sync_timestamp",
        "sync_version",
        "sync_run_seq",
        "sync_action",
    }
    assert write.set_values["status"] == INACTIVE and write.remove == ()
    assert write.change.fields == {"status": FieldChange(ACTIVE, INACTIVE)}
    assert write.change.action == "delist"


def test_a_reactivation_sets_the_status_and_clears_a_stale_rename_link() -> None:
    old = stored(FULL, status=INACTIVE, renamed_to="B")
    item = plan_item(asset_of(FULL), state(old), T2)
    assert item is not None and item.action == Action.REACTIVATE
    write = diff_item(item, old, TS2, T2)
    assert write.set_values["status"] == ACTIVE
    assert write.remove == ("renamed_to",)
    assert write.change.fields == {
        "status": FieldChange(INACTIVE, ACTIVE),
        "renamed_to": FieldChange("B", None),
    }


def test_identity_links_per_action() -> None:
    asset = asset_of(FULL)
    assert identity_links(ItemPlan("A", Action.CREATE, asset)) == {
        "previous_symbol": None,
        "renamed_to": None,
    }
    assert identity_links(ItemPlan("A", Action.REACTIVATE, asset)) == {"renamed_to": None}
    for action in (Action.UPDATE, Action.DELIST, Action.REPAIR, Action.UNCHANGED):
        assert identity_links(ItemPlan("A", action, asset)) == {}


def test_every_single_write_records_its_sync_action() -> None:
    old = stored(FULL, sync_hash="drifted")
    for action, recorded in (
        (Action.UPDATE, "update"),
        (Action.REPAIR, "repair"),
        (Action.REACTIVATE, "reactivate"),
        (Action.CREATE, "list"),
    ):
        write = diff_item(ItemPlan("A", action, asset_of(FULL)), old, TS2, T2)
        assert write.set_values["sync_action"] == recorded
        assert write.expected["sync_action"] == "list"  # conditioned on the value it replaces
    delist = diff_item(ItemPlan("A", Action.DELIST), old, TS2, T2)
    assert delist.set_values["sync_action"] == "delist"
    assert new_item(asset_of(FULL), TS2, T2)["sync_action"] == "list"


def test_a_listing_over_an_item_another_service_made_clears_stale_links() -> None:
    old = {"symbol": "A", "previous_symbol": "X", "renamed_to": "Y", "sector": "Tech"}
    write = diff_item(ItemPlan("A", Action.CREATE, asset_of(FULL)), old, TS2, T2)
    assert set(write.remove) == {"previous_symbol", "renamed_to"}
    assert "sector" not in write.set_values and "sector" not in write.remove


def test_a_repair_reports_the_hash_and_an_update_does_not() -> None:
    old = stored(FULL, sync_hash="drifted")
    for action, reported in ((Action.REPAIR, True), (Action.UPDATE, False)):
        write = diff_item(ItemPlan("A", action, asset_of(FULL)), old, TS2, T2)
        assert write.set_values["sync_hash"] == asset_of(FULL).content_hash
        hashes = FieldChange("drifted", asset_of(FULL).content_hash)
        assert write.change.fields.get("sync_hash") == (hashes if reported else None)
    fine = stored(FULL)
    write = diff_item(ItemPlan("A", Action.REPAIR, asset_of(FULL)), fine, TS2, T2)
    assert "sync_hash" not in write.set_values and write.change.fields == {}


def test_a_foreign_typed_value_is_replaced() -> None:
    old = stored(FULL, cusip=Unrecognized({"NULL": True}), attributes=Unrecognized({"SS": ["x"]}))
    write = diff_item(ItemPlan("A", Action.UPDATE, asset_of(FULL)), old, TS2, T2)
    assert (write.set_values["cusip"], write.set_values["attributes"]) == ("123", ("x", "y"))
    no_cusip = {k: v for k, v in FULL.items() if k != "cusip"}
    write = diff_item(ItemPlan("A", Action.UPDATE, asset_of(no_cusip)), old, TS2, T2)
    assert write.remove == ("cusip",)


@pytest.mark.parametrize(
    ("version", "following"),
    [
        (None, 1),
        (Decimal(0), 1),
        (Decimal(1), 2),
        (Decimal(41), 42),
        (Decimal(-3), -2),
        (Decimal("2.0"), 3),
        (Decimal("1.5"), 1),
        (Decimal("NaN"), 1),
        (Decimal("Infinity"), 1),
        ("7", 1),
        (True, 1),
        (Unrecognized({"NULL": True}), 1),
    ],
)
def test_next_version(version: StoredValue | None, following: int) -> None:
    result = next_version(version)
    assert result == following and isinstance(result, Decimal)


def test_a_new_item_holds_every_owned_attribute_of_a_create() -> None:
    asset = asset_of(FULL)
    item = new_item(asset, TS1, 9)
    assert item == {
        "symbol": "A",
        "status": ACTIVE,
        **asset.content,
        "created_at": TS1,
        "updated_at": TS1,
        "last_sync_timestamp": TS1,
        "sync_hash": asset.content_hash,
        "sync_version": 1,
        "sync_run_seq": 9,
        "sync_action": "list",
    }


# -- plan_item ----------------------------------------------------------------------------------


def test_plan_item_decisions() -> None:
    asset, old = asset_of(FULL), stored(FULL)
    inactive = replace(asset_of(FULL), status=INACTIVE)

    def check(
        a: CatalogAsset | None,
        item: dict[str, StoredValue] | None,
        expected: Action | None,
        seq: int = T2,
    ) -> None:
        current = state(item) if item is not None else None
        plan = plan_item(a, current, seq)
        if expected is None:
            assert plan is None
        else:
            assert plan == ItemPlan("A", expected, a, current)

    check(asset, None, Action.CREATE)
    check(None, None, None)
    check(None, {**old, "status": INACTIVE}, None)
    check(None, old, Action.DELIST)
    check(asset, old, Action.UNCHANGED)
    check(asset, old, Action.UNCHANGED, T1)  # its own number: not newer
    check(asset, old, Action.SUPERSEDED, T1 - 1)
    check(None, old, Action.SUPERSEDED, T1 - 1)
    check(asset, {**old, "status": INACTIVE}, Action.REACTIVATE)
    check(inactive, old, Action.UPDATE)  # listed, no longer active
    check(inactive, {**old, "status": INACTIVE}, Action.UNCHANGED)
    check(asset, {"symbol": "A", "sector": "x"}, Action.CREATE)  # made by another service
    check(asset, {**old, "status": "weird"}, Action.CREATE)
    check(asset, {**old, "sync_hash": "other"}, Action.UPDATE)


def test_full_reconciliation_compares_every_stored_value() -> None:
    asset, old = asset_of(FULL), stored(FULL)

    def action(item: dict[str, StoredValue], a: CatalogAsset = asset) -> Action:
        current = state(item, whole=True)
        plan = plan_item(a, current, T2, full=True)
        assert plan is not None and (plan.symbol, plan.asset, plan.current) == ("A", a, current)
        assert plan_item(a, current, T2) == plan_item(a, current, T2, full=False)  # the default
        return plan.action

    assert action(old) == Action.UNCHANGED
    assert action({**old, "name": "edited"}) == Action.REPAIR  # hash right, value drifted
    assert action({**old, "sync_hash": "wrong"}) == Action.REPAIR  # values right, hash wrong
    assert action({**old, "name": "edited", "sync_hash": "wrong"}) == Action.UPDATE
    assert action(old, asset_of({**FULL, "name": "new"})) == Action.UPDATE
    inactive = replace(asset_of(FULL), status=INACTIVE)
    assert action(old, inactive) == Action.UPDATE  # status differs: not a value comparison
    # without the whole item (a plain read) a full run compares hashes only
    plain = plan_item(asset, state({**old, "name": "edited"}), T2, full=True)
    assert plain is not None and plain.action == Action.UNCHANGED


def test_stored_content_matches_is_exact_per_field() -> None:
    asset, old = asset_of(FULL), stored(FULL)
    assert stored_content_matches(asset, old)
    assert stored_content_matches(asset, {**old, "margin_requirement_long": Decimal("30.000")})
    for name in CONTENT_ATTRIBUTES:
        assert not stored_content_matches(asset, {k: v for k, v in old.items() if k != name}), name
    assert not stored_content_matches(asset, {**old, "extra": "x", "tradable": "True"})
    assert not stored_content_matches(asset_of(rec("A")), {**stored(rec("A")), "cusip": "1"})


# -- build_plan, in_scope, guard ----------------------------------------------------------------


def test_build_plan_sorts_symbols_and_counts_active_in_scope() -> None:
    table = {
        "U": stored(rec("U")),
        "D": stored(rec("D")),
        "R": stored(rec("R"), status=INACTIVE),
        "C2": stored(rec("C2", **{"class": "crypto"})),
        "N": stored(rec("N"), sync_run_seq=Decimal(T2 + 1)),
        "P": stored(rec("P")),
        "I": stored(rec("I"), status=INACTIVE),
    }
    states = {s: state(i) for s, i in table.items()}
    catalog = catalog_of(
        rec("U", name="changed"),
        rec("R"),
        rec("NEW"),
        rec("N", name="older"),
        rec("P", tradable="invalid"),
    )
    plan = build_plan(catalog, states, T2, ("us_equity",))
    assert [i.symbol for i in plan.updates] == ["U"]
    assert [i.symbol for i in plan.reactivations] == ["R"]
    assert [i.symbol for i in plan.creates] == ["NEW"]
    assert [i.symbol for i in plan.delists] == ["D"]  # not P (protected), not C2 (scope)
    assert (plan.superseded, plan.unchanged, plan.repairs) == (1, 0, [])
    assert plan.active_in_scope == 4  # U, D, N, P
    assert [i.symbol for i in plan.writes] == ["NEW", "U", "R", "D"]
    assert not plan.is_empty and Plan().is_empty
    everything = build_plan(catalog, states, T2)
    assert sorted(i.symbol for i in everything.delists) == ["C2", "D"]
    assert everything.active_in_scope == 5


def test_build_plan_passes_full_on_and_counts_superseded() -> None:
    drifted = {**stored(rec("A")), "name": "edited"}
    gone = stored(rec("G"))
    newer = [stored(rec(s), sync_run_seq=Decimal(T2 + 1)) for s in ("N1", "N2")]
    whole = {i["symbol"]: state(i, whole=True) for i in (drifted, gone, *newer)}
    catalog = catalog_of(rec("A"), rec("N1", name="x"), rec("N2", name="y"))
    full = build_plan(catalog, whole, T2, full=True)
    assert [i.symbol for i in full.repairs] == ["A"] and [i.symbol for i in full.delists] == ["G"]
    assert full.superseded == 2
    plain = build_plan(catalog, whole, T2)
    assert plain.repairs == [] and plain.unchanged == 1 and plain.superseded == 2


def test_plan_writes_order() -> None:
    def items(tag: str) -> list[ItemPlan]:
        return [ItemPlan(tag, Action.UPDATE)]

    group = IdentityGroup((Member("N", Role.ARRIVE, source="O"), Member("O", Role.DEPART, "N")))
    plan = Plan(
        creates=items("c"),
        updates=items("u"),
        reactivations=items("r"),
        delists=items("d"),
        repairs=items("p"),
        groups=[group],
    )
    assert [i.symbol for i in plan.writes] == ["c", "u", "r", "p", "d"]
    assert group.symbols == ("N", "O") and group.reads == ("N", "O")
    assert not plan.is_empty and Plan().is_empty and Plan(groups=[group]).writes == []


def test_in_scope() -> None:
    s = CurrentState("A", ACTIVE, asset_class="crypto")
    assert in_scope(s, ()) and in_scope(s, ("crypto",)) and in_scope(s, ["us_equity", "crypto"])
    assert not in_scope(s, ("us_equity",))
    assert not in_scope(CurrentState("A", ACTIVE), ("us_equity",))


def guard_plan(delists: int, active: int) -> Plan:
    return Plan(
        delists=[ItemPlan(f"D{i}", Action.DELIST) for i in range(delists)], active_in_scope=active
    )


def test_the_guard_at_its_boundary() -> None:
    catalog = catalog_of(rec("A"))
    assert check_guard(catalog, guard_plan(10, 100), 0.1, False).allowed  # exactly 10 %
    refused = check_guard(catalog, guard_plan(11, 100), 0.1, False)
    assert not refused.allowed
    assert refused.reason == (
        "the plan would delist 11 of 100 active assets (11.0%), more than the allowed 10.0% "
        "(use --force to override, or raise --max-delist-fraction)"
    )
    assert check_guard(catalog, guard_plan(0, 0), 0.0, False).allowed
    zero = check_guard(catalog, guard_plan(1, 0), 0.5, False)
    assert not zero.allowed and "(100.0%)" in zero.reason
    assert check_guard(catalog, guard_plan(11, 100), 0.1, True).allowed
    empty = check_guard(catalog_of(rec("A", tradable="x")), Plan(), 0.1, False)
    assert empty.allowed is False and refused.allowed is False
    assert empty.reason == (
        "the fetched catalog has no valid assets (1 records fetched); refusing to treat every "
        "asset as delisted (use --force to override)"
    )
    assert check_guard(catalog_of(), Plan(), 0.1, True).allowed
    assert check_guard(catalog, Plan(), 0.1, False).reason == ""
