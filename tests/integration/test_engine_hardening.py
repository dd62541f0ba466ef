"""Issue 15 through the real code path: moto's server, the Alpaca stand-in and the proxies.

* owned attributes that another writer left in a type the sync never writes (NULL, a string
  set, a map, binary, a number set, a mixed list), and `sync_version` 0 or not a number, are
  replaced by the catalog's values on the next run, with one write each;
* a lost reply to the final state write (release + run record + history) still ends the run
  `succeeded`, with the record stored once, also after a burst of lost replies during apply;
* the report's request counts are what DynamoDB (the proxy) received;
* decimals are compared in all of DynamoDB's 38 digits, parsed strictly, `-0` equals `0`;
* an undecodable record is invalid on its own; a delisting whose item vanished is `vanished`.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Iterator
from decimal import Decimal
from typing import Any

import pytest
from tests.support import Env, asset_record, fresh_env, run_cli
from tests.support.reliability import foreign_view, owned_view

from asset_sync import wiring
from asset_sync.dal.client import dynamodb_client
from asset_sync.local.dynamo_proxy import (
    DROP_AFTER_APPLY,
    WRITE_OPERATIONS,
    DynamoProxy,
    FaultPlan,
)
from asset_sync.local.stand_in import Fault
from asset_sync.logic.report import RunReport
from asset_sync.logic.sync import Progress, SyncError
from asset_sync.wiring import build_run

# -- helpers --------------------------------------------------------------------------------------


def through(env: Env, proxy: DynamoProxy) -> Env:
    """The fixture's tables, reached by the sync through `proxy` (helpers still go direct)."""
    settings = env.settings.with_overrides(dynamodb_endpoint_url=proxy.url)
    return Env(settings, env.assets, env.state, env.stand_in)


def run(env: Env, progress: Progress | None = None) -> RunReport:
    """One sync; the report, whether or not it succeeded."""
    try:
        return build_run(env.settings, progress).run()
    except SyncError as error:
        return error.report


def hand_edit(env: Env, symbol: str, values: dict[str, Any]) -> None:
    """A manual fix as the writer rules ask: SET `values` (raw attribute values) and
    `sync_version + 1`, in one UpdateItem."""
    names = {f"#a{i}": name for i, name in enumerate(values)}
    sets = [f"#a{i} = :a{i}" for i in range(len(values))]
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": symbol}},
        UpdateExpression=f"SET {', '.join(sets)}, sync_version = sync_version + :one",
        ExpressionAttributeNames=names,
        ExpressionAttributeValues={
            **{f":a{i}": raw for i, raw in enumerate(values.values())},
            ":one": {"N": "1"},
        },
    )


def history_of(env: Env, run_id: str) -> list[dict[str, Any]]:
    return [record for record in env.state.history(1000) if record.get("run_id") == run_id]


class LoseFirstRecordReply(DynamoProxy):
    """The first TransactWriteItems (the release + run record) is applied and its reply lost;
    other operations follow the fault plan."""

    def _choose_fault(self, operation: str) -> str | None:
        if operation != "TransactWriteItems":
            return super()._choose_fault(operation)
        with self._lock:
            self.stats.requests[operation] += 1
            if self.stats.requests[operation] > 1:
                return None
            self.stats.faults[DROP_AFTER_APPLY] += 1
            return DROP_AFTER_APPLY


@pytest.fixture
def proxy(moto_url: str) -> Iterator[DynamoProxy]:
    with DynamoProxy(moto_url) as plain:
        yield plain


# -- 1: foreign-typed owned attributes, sync_version 0 -------------------------------------------

FOREIGN_VALUES = {
    "cusip-null": ("cusip", {"NULL": True}),
    "attributes-string-set": ("attributes", {"SS": ["has_options", "manual"]}),
    "exchange-map": ("exchange", {"M": {"code": {"S": "NASDAQ"}}}),
    "name-binary": ("name", {"B": b"\x00\xffname"}),
    "margin-number-set": ("margin_requirement_long", {"NS": ["30", "31"]}),
    "attributes-mixed-list": ("attributes", {"L": [{"S": "has_options"}, {"N": "1"}]}),
    "tradable-as-string": ("tradable", {"S": "true"}),
    "borrow-status-null": ("borrow_status", {"NULL": True}),
}


@pytest.mark.parametrize("case", sorted(FOREIGN_VALUES))
@pytest.mark.parametrize("cusip", [None, "037833100"], ids=["catalog-no-cusip", "catalog-cusip"])
def test_an_owned_attribute_of_a_foreign_type_is_replaced_by_the_next_run(
    env: Env, moto_url: str, proxy: DynamoProxy, case: str, cusip: str | None
) -> None:
    """Found: the type was dropped on read, the write conditioned on `attribute_not_exists`
    and it failed 8 times a run, every run (`partial`, the catalog's values never landed)."""
    extra = {"cusip": cusip} if cusip else {}
    env.serve([asset_record("AAPL", **extra), asset_record("MSFT")])
    assert run(env).outcome == "succeeded"
    name, raw = FOREIGN_VALUES[case]
    hand_edit(env, "AAPL", {name: raw, "sector": {"S": "Tech"}})
    edited = env.raw_item("AAPL")
    assert edited is not None and edited[name] == raw
    version = int(edited["sync_version"]["N"])
    # the catalog changes the name, so a plain run plans an update of AAPL
    catalog = [asset_record("AAPL", name="Apple Inc. (renamed)", **extra), asset_record("MSFT")]
    env.serve(catalog)

    report = run(through(env, proxy))

    assert (report.outcome, report.failures, report.updated) == ("succeeded", {}, 1)
    assert proxy.stats.total(WRITE_OPERATIONS) == 3  # lease, one UpdateItem, the record
    item = env.item("AAPL")
    assert item is not None
    assert item["name"] == "Apple Inc. (renamed)"
    assert item["sector"] == "Tech"  # the other service's attribute
    assert item["sync_version"] == version + 1
    reference = fresh_reference(env, moto_url, catalog)
    assert owned_view({"AAPL": env.raw_item("AAPL") or {}}, _BOOKKEEPING) == reference
    assert run(env).unchanged == 2  # and it stays synced


_BOOKKEEPING = (
    "created_at",
    "updated_at",
    "last_sync_timestamp",
    "sync_run_seq",
    "sync_version",
    "sync_action",  # an update here, a listing in the reference
)


def fresh_reference(env: Env, moto_url: str, catalog: list[dict[str, Any]]) -> dict[str, Any]:
    """AAPL's owned attributes as a first sync of `catalog` on an empty table stores them."""
    ref = fresh_env(moto_url, env.stand_in)
    ref.serve(catalog)
    assert run(ref).outcome == "succeeded"
    return owned_view({"AAPL": ref.raw_item("AAPL") or {}}, _BOOKKEEPING)


@pytest.mark.parametrize(
    ("stored", "expected"),
    [({"N": "0"}, 1), ({"N": "-3"}, -2), ({"S": "7"}, 1), ({"NULL": True}, 1), ({"N": "1.5"}, 1)],
    ids=["zero", "negative", "string", "null", "fraction"],
)
def test_an_odd_sync_version_does_not_block_the_next_update(
    env: Env, proxy: DynamoProxy, stored: dict[str, Any], expected: int
) -> None:
    """Found (version 0): a stored 0 was treated as absent and the condition never held."""
    env.serve([asset_record("AAPL")])
    run(env)
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "AAPL"}},
        UpdateExpression="SET sync_version = :v",
        ExpressionAttributeValues={":v": stored},
    )
    env.serve([asset_record("AAPL", name="Apple Inc. (renamed)")])

    report = run(through(env, proxy))

    assert (report.outcome, report.failures, report.updated) == ("succeeded", {}, 1)
    assert proxy.stats.total(["UpdateItem"]) == 2  # the lease and the item, nothing repeated
    item = env.item("AAPL")
    assert item is not None
    assert (item["name"], item["sync_version"]) == ("Apple Inc. (renamed)", expected)


def test_the_cli_updates_items_a_hand_fix_left_with_foreign_types_and_exits_0(env: Env) -> None:
    env.serve([asset_record(s) for s in ("A", "B", "C")])
    assert run(env).outcome == "succeeded"
    hand_edit(env, "A", {"cusip": {"NULL": True}})
    hand_edit(env, "B", {"attributes": {"SS": ["x", "y"]}})
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "C"}},
        UpdateExpression="SET sync_version = :zero",
        ExpressionAttributeValues={":zero": {"N": "0"}},
    )
    env.serve([asset_record(s, name=f"{s} renamed", cusip="123456789") for s in ("A", "B", "C")])

    result = run_cli("sync", "--json", env=env.cli_env())

    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["outcome"], report["updated"], report["failed"]) == ("succeeded", 3, 0)
    for symbol in ("A", "B", "C"):
        raw = env.raw_item(symbol)
        assert raw is not None
        assert raw["cusip"] == {"S": "123456789"}
        assert raw["attributes"] == {"L": [{"S": "has_options"}]}
        assert raw["name"] == {"S": f"{symbol} renamed"}


# -- 2: a lost reply to the run record; request counts --------------------------------------------


def assert_recorded_once(env: Env, report: RunReport) -> None:
    state = env.state.read()
    assert state.lock_owner is None  # the lease was given back
    assert state.last_run is not None and state.last_run["run_id"] == report.run_id
    assert (state.last_run_outcome, state.last_sync_timestamp) == (
        "succeeded",
        report.last_sync_timestamp,
    )
    entries = history_of(env, report.run_id)
    assert len(entries) == 1 and entries[0]["run_seq"] == report.run_seq


def test_a_lost_reply_to_the_run_record_still_reports_succeeded(env: Env, moto_url: str) -> None:
    """Found: boto3's retry of the applied transaction failed its condition and the run raised
    (CLI exit 1 without a report, the Lambda retried) although everything was written."""
    env.serve([asset_record(s) for s in ("A", "B", "C")])
    with LoseFirstRecordReply(moto_url) as proxy:
        report = build_run(through(env, proxy).settings).run()  # raises if not succeeded

        assert proxy.stats.faults[DROP_AFTER_APPLY] == 1
        assert proxy.stats.requests["TransactWriteItems"] == 2  # boto3 retried it once
    assert (report.outcome, report.created) == ("succeeded", 3)
    assert_recorded_once(env, report)


def test_every_reply_to_the_run_record_lost_is_confirmed_by_a_re_read(
    env: Env, moto_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    # two attempts per call instead of ten, so the test takes seconds (the outcome is the same)
    monkeypatch.setattr(
        wiring, "dynamodb_client", functools.partial(dynamodb_client, max_attempts=2)
    )
    env.serve([asset_record("A")])
    plan = FaultPlan(
        rate=1.0, kinds=(DROP_AFTER_APPLY,), operations=frozenset({"TransactWriteItems"})
    )
    with DynamoProxy(moto_url, plan) as proxy:
        report = build_run(through(env, proxy).settings).run()

        assert proxy.stats.faults[DROP_AFTER_APPLY] >= 2
    assert report.outcome == "succeeded"
    assert_recorded_once(env, report)


def test_the_cli_exits_0_with_its_report_when_the_records_reply_is_lost(
    env: Env, moto_url: str
) -> None:
    env.serve([asset_record("A"), asset_record("B")])
    with LoseFirstRecordReply(moto_url) as proxy:
        result = run_cli(
            "sync", "--json", env={**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}
        )
        assert proxy.stats.faults[DROP_AFTER_APPLY] == 1
    assert result.code == 0, result.stderr
    report = result.json()
    assert (report["outcome"], report["created"]) == ("succeeded", 2)
    assert env.state.read().last_run["run_id"] == report["run_id"]  # type: ignore[index]


def test_a_burst_of_lost_replies_during_apply_then_a_lost_record_reply_still_succeeds(
    env: Env, moto_url: str
) -> None:
    """Found: with one client for items and state, the retries of lost item replies (they end
    in ConditionalCheckFailed and are never refunded) could leave the release with no boto3
    retry at all, and the run raised although everything was written."""
    env.serve([asset_record(f"S{i:03d}") for i in range(120)])
    plan = FaultPlan(rate=0.5, kinds=(DROP_AFTER_APPLY,), operations=frozenset({"PutItem"}))
    with LoseFirstRecordReply(moto_url, plan) as proxy:
        report = build_run(through(env, proxy).settings).run()

        stats = proxy.stats
        drops = stats.faults[DROP_AFTER_APPLY] - 1
        assert drops >= 40  # 40 x 14 tokens > the quota of 500
        # boto3 gave up retrying some lost item replies: the items client's quota ran dry
        assert stats.requests["PutItem"] < 120 + drops
        assert stats.requests["TransactWriteItems"] == 2  # the record's reply lost, retried
        assert report.dynamodb_requests == stats.total()
        assert report.dynamodb_write_requests == stats.total(WRITE_OPERATIONS)
    assert (report.outcome, report.created, report.failures) == ("succeeded", 120, {})
    assert_recorded_once(env, report)
    assert len(env.snapshot()) == 120


def test_the_state_table_has_a_client_and_retry_quota_of_its_own(env: Env) -> None:
    """boto3 keeps one retry quota per client: the lease and the run record must not share
    the items' (counted together all the same)."""
    assets, state = wiring.tables(env.settings)
    assert assets.client is not state.client
    assert assets.stats is state.stats
    state.read()
    assets.get_item("NONE")
    assert assets.stats.requests == 2


def test_request_counts_in_the_report_equal_what_dynamodb_received(env: Env, moto_url: str) -> None:
    """Found: attempts that ended in a dropped connection were not counted (150 creates
    reported as 133 writes while the proxy saw 195 PutItem)."""
    env.serve([asset_record(f"S{i:03d}") for i in range(150)])
    plan = FaultPlan(
        rate=0.3, kinds=(DROP_AFTER_APPLY,), operations=frozenset({"PutItem"}), seed=15
    )
    with DynamoProxy(moto_url, plan) as proxy:
        report = build_run(through(env, proxy).settings).run()
        stats = proxy.stats

    assert (report.outcome, report.created) == ("succeeded", 150)
    assert stats.faults[DROP_AFTER_APPLY] >= 20
    assert report.dynamodb_requests == stats.total()
    assert report.dynamodb_write_requests == stats.total(WRITE_OPERATIONS)
    assert report.dynamodb_retries > 0
    stored = env.state.read().last_run
    assert stored is not None
    # the stored record was taken before its own request: every write but that one
    assert stored["dynamodb_write_requests"] == stats.total(WRITE_OPERATIONS) - 1


def test_an_unchanged_run_makes_exactly_two_write_requests(env: Env, proxy: DynamoProxy) -> None:
    env.serve([asset_record(s) for s in ("A", "B")])
    run(env)

    report = run(through(env, proxy))

    assert (report.outcome, report.unchanged) == ("succeeded", 2)
    assert proxy.stats.total(WRITE_OPERATIONS) == report.dynamodb_write_requests == 2


# -- 3: decimals ----------------------------------------------------------------------------------

DIGITS_38 = "0.12345678901234567890123456789012345678"  # 38 significant digits


def with_digit_changed(text: str, position: int) -> str:
    """`text` with its `position`-th significant digit (1-based) moved by one."""
    digits = [i for i, c in enumerate(text) if c.isdigit()][1:]  # skip the leading "0"
    at = digits[position - 1]
    return text[:at] + str((int(text[at]) + 1) % 10) + text[at + 1 :]


def test_decimals_differing_in_any_of_38_digits_are_written(env: Env, proxy: DynamoProxy) -> None:
    """Found: values were normalised with Python's 28-digit default context, so two values
    that differ from the 29th digit on hashed equal and the change was never written."""
    symbols = [f"D{k:02d}" for k in range(1, 39)]
    env.serve([asset_record(s, margin_requirement_long=DIGITS_38) for s in symbols])
    assert run(env).created == 38
    changed = {s: with_digit_changed(DIGITS_38, k) for k, s in enumerate(symbols, start=1)}
    assert len(set(changed.values())) == 38 and DIGITS_38 not in changed.values()
    env.serve([asset_record(s, margin_requirement_long=changed[s]) for s in symbols])

    report = run(through(env, proxy))

    assert (report.outcome, report.updated) == ("succeeded", 38)
    for symbol, text in changed.items():
        raw = env.raw_item(symbol)
        assert raw is not None and raw["margin_requirement_long"] == {"N": text}, symbol
        change = report.changes[symbol].fields["margin_requirement_long"]
        assert (change.old, change.new) == (Decimal(DIGITS_38), Decimal(text))


def test_a_large_exponent_is_accepted_and_stored_without_it(env: Env) -> None:
    """Found: `"1E+29"` was rejected with `[<class 'decimal.InvalidOperation'>]`."""
    raw_body = (
        b'[{"id": "id-BIG", "class": "us_equity", "exchange": "NYSE", "symbol": "BIG",'
        b' "name": "Big", "status": "active", "tradable": true, "min_order_size": "1E+29",'
        b' "price_increment": 1E+29, "min_trade_increment": "-2.5e-30"}]'
    )
    env.serve([asset_record("BIG")])  # the scope; the list itself is the raw body
    env.stand_in.script(Fault.body(raw_body), route="list")

    report = run(env)

    assert (report.outcome, report.invalid, report.created) == ("succeeded", 0, 1)
    raw = env.raw_item("BIG")
    assert raw is not None
    assert raw["min_order_size"] == {"N": "1" + "0" * 29}
    assert raw["price_increment"] == {"N": "1" + "0" * 29}
    assert Decimal(raw["min_trade_increment"]["N"]) == Decimal("-2.5e-30")


@pytest.mark.parametrize(
    "text",
    [
        "1_0",
        " 30 ",
        "30 ",
        "\t30",
        "1__0",
        "3_0.0",
        "NaN",
        "-Infinity",
        "0x1E",
        "30,0",
        "\u0663\u0660",
    ],
)
def test_lenient_decimal_spellings_make_the_record_invalid_and_leave_its_item(
    env: Env, proxy: DynamoProxy, text: str
) -> None:
    """Found: Python's Decimal() stored `"1_0"` as 10 and `" 30 "` as 30."""
    env.serve([asset_record("A"), asset_record("B")])
    run(env)
    before = env.raw_item("A")
    # A's record changes its name too: had the decimal been accepted, A would be written
    env.serve([asset_record("A", name="changed", margin_requirement_long=text), asset_record("B")])

    report = run(through(env, proxy))

    assert (report.outcome, report.invalid, report.unchanged) == ("succeeded", 1, 1)
    (invalid,) = report.invalid_records
    assert (invalid.index, invalid.symbol) == (0, "A")
    assert "margin_requirement_long" in invalid.reason
    assert env.raw_item("A") == before
    assert proxy.stats.total(WRITE_OPERATIONS) == 2


@pytest.mark.parametrize("zero", ['"-0"', "-0", '"-0.000"', "-0.0", '"0E+5"', '"-0e-7"'])
def test_negative_zero_equals_zero_and_makes_no_write(
    env: Env, proxy: DynamoProxy, zero: str
) -> None:
    """Found: `-0` and `0` hashed differently (one needless write)."""
    record = asset_record("Z", margin_requirement_long="0")
    env.serve([record])
    assert run(env).created == 1
    body = json.dumps([{**record, "margin_requirement_long": "@ZERO@"}])
    env.stand_in.script(Fault.body(body.replace('"@ZERO@"', zero).encode()), route="list")

    report = run(through(env, proxy))

    assert (report.outcome, report.invalid, report.unchanged) == ("succeeded", 0, 1)
    assert proxy.stats.total(WRITE_OPERATIONS) == 2


# -- 4: undecodable records -----------------------------------------------------------------------


def test_records_with_invalid_utf8_are_invalid_on_their_own(env: Env) -> None:
    """Found: `msgspec.DecodeError: Invalid UTF-8 encoded string` escaped validation and the
    whole run ended with a traceback."""
    env.serve([asset_record(s) for s in ("A", "B", "C")])
    run(env)
    before_b = env.raw_item("B")

    def encoded(record: dict[str, Any]) -> bytes:
        return json.dumps(record).encode()

    records = [
        encoded(asset_record("A", name="A changed")),
        encoded(asset_record("B", name="B changed")).replace(b"B changed", b"B \xff\xfe"),
        encoded(asset_record("C", name="C changed")),
        encoded(asset_record("NEW\xe9", id="id-undecodable")).replace(b"NEW\\u00e9", b"NEW\xe9"),
        b'{"symbol": "\xc3\x28", "id": 1}',
    ]
    assert b"\xff\xfe" in records[1] and b"NEW\xe9" in records[3]
    env.stand_in.script(Fault.body(b"[" + b", ".join(records) + b"]"), route="list")

    report = run(env)

    assert (report.outcome, report.fetched, report.invalid) == ("succeeded", 5, 3)
    by_index = {r.index: r for r in report.invalid_records}
    assert sorted(by_index) == [1, 3, 4]
    assert by_index[1].symbol == "B"  # read from the rest of the record: B is protected
    assert by_index[3].symbol is None and by_index[4].symbol is None  # nothing to protect
    assert all("UTF-8" in r.reason for r in report.invalid_records)
    assert env.raw_item("B") == before_b
    assert report.updated == 2
    for symbol in ("A", "C"):
        item = env.item(symbol)
        assert item is not None and item["name"] == f"{symbol} changed"
    assert len(env.snapshot()) == 3


# -- 5: the smaller points ------------------------------------------------------------------------


def test_a_delisting_whose_item_was_deleted_meanwhile_is_counted_vanished(env: Env) -> None:
    """Found: it was counted `unchanged`."""
    kept = [f"K{i:02d}" for i in range(11)]  # one delisting in 12: within the guard's 10 %
    env.serve([asset_record(s) for s in [*kept, "D"]])
    run(env)
    env.serve([asset_record(s) for s in kept])  # D leaves the catalog
    env.stand_in.forget("D")  # and Alpaca confirms it: unknown

    def delete_d(message: str) -> None:
        if message.startswith("writing"):  # after planning, before the write
            env.assets.client.delete_item(
                TableName=env.settings.assets_table, Key={"symbol": {"S": "D"}}
            )

    report = run(env, Progress(stage=delete_d))

    assert report.outcome == "succeeded"
    assert (report.delisted, report.vanished, report.unchanged, report.failed) == (0, 1, 11, 0)
    assert env.item("D") is None  # not created again by the delisting
    assert json.loads(json.dumps(report.summary()))["vanished"] == 1


def test_a_delisting_another_writer_made_first_is_unchanged_not_vanished(env: Env) -> None:
    """Found by tests/unit/test_apply.py: it was counted `vanished` (deleted) instead."""
    kept = [f"K{i:02d}" for i in range(11)]
    env.serve([asset_record(s) for s in [*kept, "D"]])
    run(env)
    env.serve([asset_record(s) for s in kept])
    env.stand_in.forget("D")

    def delist_d(message: str) -> None:
        if message.startswith("writing"):
            hand_edit(env, "D", {"status": {"S": "inactive"}})

    report = run(env, Progress(stage=delist_d))

    assert report.outcome == "succeeded"
    assert (report.delisted, report.vanished, report.unchanged, report.failed) == (0, 0, 12, 0)
    item = env.item("D")
    assert item is not None and item["status"] == "inactive"


def test_foreign_attributes_survive_every_case_above(env: Env, proxy: DynamoProxy) -> None:
    """All hand edits at once on one table, then one run: only owned values change."""
    symbols = sorted(FOREIGN_VALUES)
    env.serve([asset_record(s.upper()) for s in symbols])
    run(env)
    for case, (name, raw) in FOREIGN_VALUES.items():
        hand_edit(env, case.upper(), {name: raw, "note": {"S": case}})
    foreign_before = foreign_view(env.snapshot())
    env.serve([asset_record(s.upper(), name="renamed") for s in symbols])

    report = run(through(env, proxy))

    assert (report.outcome, report.updated, report.failed) == ("succeeded", len(symbols), 0)
    assert foreign_view(env.snapshot()) == foreign_before
    assert proxy.stats.total(WRITE_OPERATIONS) == len(symbols) + 2
