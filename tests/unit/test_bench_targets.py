"""The benchmark's targets judge what they promise: k identity changes at most k + 2 write
requests, one TransactWriteItems each, 2 write units per item, attributes on their asset."""

from __future__ import annotations

from typing import Any

from bench import targets
from bench.records import (
    Cell,
    ItemBytes,
    Meta,
    Results,
    Run,
    ScenarioSize,
    SizeFigures,
    StateBytes,
)

K, ITEMS = 6, 13
TEXT_META = "date cpu_model python moto boto3 botocore mode src_digest repetitions_note"


def a_run(requests: dict[str, int], assets_wcu: int = 2 * ITEMS, **extra: Any) -> Run:
    zero = (
        "wall_s cpu_s process_cpu_s peak_rss_mb rss_before_mb moto_cpu_s setup_s load1 "
        "requests_total request_bytes response_bytes item_writes failed_item_writes "
        "conditional_puts base_wcu gsi_wcu wcu assets_table_item_writes state_table_wcu "
        "transact_wcu rcu items_read alpaca_lookups alpaca_lists"
    )
    fields: dict[str, Any] = dict.fromkeys(zero.split(), 0)
    writes = sum(v for op, v in requests.items() if op.endswith(("Item", "Items")))
    return Run(
        **{**fields, **extra},
        code=None,
        requests=requests,
        write_requests=writes,
        assets_wcu=assets_wcu,
        rcu_by_op={},
        phases=[],
        result={},
        check="ok",
    )


def verdicts(run: Run) -> dict[str, bool]:
    size = ScenarioSize(k=0, served=0, identity_changes=K, identity_items=ITEMS)
    every = dict.fromkeys(SizeFigures.__struct_fields__[:6], size)
    results = Results(
        meta=Meta(**dict.fromkeys(TEXT_META.split(), ""), nproc=2, mem_gb=1.0),
        sizes=[500],
        scenarios={
            "500": SizeFigures(
                **every,
                reassigned=size,
                item_bytes=ItemBytes(
                    asset_sync_mean=1, asset_sync_max=1, naive_mean=1, naive_max=1
                ),
                state_bytes=StateBytes(whole_per_item=1, projected_per_item=1),
            )
        },
        cells=[Cell(n=500, scenario="reassigned", impl="asset_sync", runs=[run])],
    )
    judged = {v.target.split(" (N=")[0]: v.met for v in targets.evaluate(results)}
    return {name: judged[name] for name in (ONE_TRANSACTION_EACH, TWO_UNITS_PER_ITEM, FOLLOW)}


ONE_TRANSACTION_EACH = "k identity changes => <= k + 2 write requests, one TransactWriteItems each"
TWO_UNITS_PER_ITEM = "k identity changes => 2 write units per item written on the assets table"
FOLLOW = "tickers reassigned: other services' attributes follow their asset"


def test_one_transaction_per_identity_change_meets_the_targets() -> None:
    run = a_run(
        {"TransactWriteItems": K + 1, "UpdateItem": 1}, foreign_sample=40, foreign_survived=40
    )
    assert verdicts(run) == {ONE_TRANSACTION_EACH: True, TWO_UNITS_PER_ITEM: True, FOLLOW: True}


def test_a_change_written_item_by_item_misses_them() -> None:
    run = a_run({"TransactWriteItems": K, "UpdateItem": 3}, foreign_sample=40, foreign_survived=40)
    assert verdicts(run)[ONE_TRANSACTION_EACH] is False


def test_more_units_than_two_per_item_or_a_lost_attribute_miss_them() -> None:
    run = a_run(
        {"TransactWriteItems": K + 1, "UpdateItem": 1},
        assets_wcu=2 * ITEMS + 1,
        foreign_sample=40,
        foreign_survived=39,
    )
    assert verdicts(run) == {ONE_TRANSACTION_EACH: True, TWO_UNITS_PER_ITEM: False, FOLLOW: False}
