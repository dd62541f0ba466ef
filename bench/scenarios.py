"""The scenarios: what the table holds before a run, what the catalog serves, and what a
correct run reports.

The starting state is exactly what each implementation would have stored the day before: for
this project's sync `new_item` + `serialize_item` + `sync_version` 1 (what `put_new` writes),
for the naive peers their own record-as-is items. A sample of items also carries attributes of
another service (`last_pollenation_date`, `sector`).

The full-reconciliation scenarios (`sync --full`) exist for this project's sync only: the naive
peers have no such mode (they overwrite every item every day). Their drifted variant starts
from items edited by hand under an unchanged `sync_hash` (`drift_edit`), which only a full run
sees and repairs.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from decimal import Decimal
from functools import cached_property
from typing import Any

from boto3.dynamodb.types import TypeSerializer

from asset_sync.config import SyncSettings
from asset_sync.contract import Outcome
from asset_sync.dal.serialization import serialize_item
from asset_sync.local.catalog import Asset, CatalogChanges, dumps_catalog, evolve_catalog
from asset_sync.logic.item_writes import new_item
from asset_sync.logic.models import ARCHIVE_PREFIX
from asset_sync.logic.validation import validate_catalog
from bench.naive import to_item
from bench.reassign import Reassignments, reassign
from bench.records import ReportValue
from bench.units import Item

YESTERDAY = "2025-06-01T04:00:00.000000Z"  # before any run's own timestamp
FOREIGN = {"last_pollenation_date": {"S": "2026-11-28"}, "sector": {"S": "Technology"}}
SCENARIOS = (
    "initial", "nochange", "changed1", "delisted5", "reassigned", "fullnochange", "fulldrift"
)  # fmt: skip
SCENARIO_TITLES = {
    "initial": "initial load (empty table)",
    "nochange": "re-run, no change",
    "changed1": "1% of assets changed",
    "delisted5": "5% delisted",
    "reassigned": "tickers reassigned",
    "fullnochange": "full reconciliation, no change",
    "fulldrift": "full reconciliation, 0.1% drifted",
}
IMPLS = ("naive_put", "batch_writer", "asset_sync")
IMPL_TITLES = {
    "naive_put": "(a) naive PutItem each",
    "batch_writer": "(b) batch_writer",
    "asset_sync": "(c) asset-sync",
}
FULL_SCENARIOS = ("fullnochange", "fulldrift")  # `sync --full`
NO_PEER = {  # (c) only: why the peers are not measured
    "fullnochange": "no such mode (they overwrite every item on every run; see 're-run, no "
    "change')",
    "reassigned": "they key items by ticker and know no asset identity (they overwrite every "
    "item on every run; see 're-run, no change')",
}
NO_PEER["fulldrift"] = NO_PEER["fullnochange"]
SYNC_ONLY = tuple(NO_PEER)
CHANGED_FLIPS, CHANGED_RENAMES = 0.008, 0.002  # `evolve_catalog`: 1% of the assets changed
DELISTED_FRACTION = 0.05
DRIFT_FRACTION = 0.001
DELIST_CONFIRM_SAMPLE = SyncSettings().delist_confirm_sample  # lookups at most (default 50)
DELIST_LOOKUPS_PER_SECOND = SyncSettings().delist_lookups_per_second  # the pace (default 2)


@dataclass
class Scenario:
    """What the table holds before (None: empty) and what the catalog serves."""

    name: str
    start: list[Asset] | None
    served: list[Asset]
    changes: CatalogChanges | None = None
    full: bool = False  # a full reconciliation (`sync --full`)
    drift: tuple[str, ...] = ()  # symbols whose stored item is edited by hand before the run
    reassignments: Reassignments | None = None

    @property
    def touched(self) -> set[str]:
        """Items (symbols, archive keys) a correct run writes."""
        touched = set(self.drift)
        if self.changes is not None:
            touched |= set(self.changes.changed) | set(self.changes.delisted)
        if self.reassignments is not None:
            touched |= self.reassignments.keys()
        return touched

    @property
    def delisted_before(self) -> tuple[str, ...]:
        """Symbols whose item starts inactive: their asset was delisted on an earlier day."""
        return self.reassignments.reused_after_delisting if self.reassignments else ()

    def foreign_values(self, asset_id: str) -> Item:
        """Another service's attributes on the item of `asset_id`: the same for every asset,
        but where assets change tickers each asset has its own, so that any on a wrong item
        shows."""
        if self.reassignments is None:
            return FOREIGN
        return {**FOREIGN, "sector": {"S": f"sector of {asset_id}"}}

    @cached_property
    def _served_symbols(self) -> dict[str, str]:
        return {str(a["id"]): str(a["symbol"]) for a in self.served}

    def home(self, symbol: str, asset_id: str) -> str:
        """The item that holds `asset_id`, on `symbol` before the run, after a correct run."""
        served = self._served_symbols
        if asset_id in served:
            return served[asset_id]
        if self.reassignments is not None and symbol in self.reassignments.displaced:
            return ARCHIVE_PREFIX + asset_id
        return symbol

    @property
    def new_holders(self) -> tuple[str, ...]:
        """Tickers a new asset takes over: their items must carry no foreign attribute."""
        if self.reassignments is None:
            return ()
        return tuple(self.reassignments.displaced)

    @property
    def impls(self) -> tuple[str, ...]:
        """The implementations measured on this scenario."""
        return ("asset_sync",) if self.name in SYNC_ONLY else IMPLS

    def expected(self, impl: str, n: int) -> dict[str, ReportValue]:
        """What a correct run of `impl` reports (the counts `check` compares)."""
        delisted = len(self.changes.delisted) if self.changes else 0
        if impl != "asset_sync":
            return {"put": len(self.served), "delisted": delisted}
        drifted, touched = len(self.drift), len(self.touched)
        by_scenario: dict[str, dict[str, ReportValue]] = {
            "initial": {"created": n},
            "nochange": {"unchanged": n},
            "changed1": {"updated": touched, "unchanged": n - touched},
            "delisted5": {
                "delisted": delisted,
                "unchanged": len(self.served),
                "delist_candidates": delisted,
                "delist_lookups": min(delisted, DELIST_CONFIRM_SAMPLE),
            },
            "fullnochange": {"unchanged": n, "repaired": 0, "updated": 0},
            "fulldrift": {"repaired": drifted, "unchanged": n - drifted, "updated": 0},
        }
        if self.reassignments is not None:
            same_day = len(self.reassignments.reused_same_day)
            by_scenario["reassigned"] = {
                **self.reassignments.expected_counts(n),
                "delist_lookups": min(same_day, DELIST_CONFIRM_SAMPLE),
            }
        return {**by_scenario[self.name], "full": self.full}

    def check(self, impl: str, n: int, result: dict[str, ReportValue]) -> str:
        """Whether a run did what the scenario asks ("ok" or what differs)."""
        if result.get("outcome") != Outcome.SUCCEEDED:
            return f"outcome {result.get('outcome')}: {result.get('message', '')}"
        expected = self.expected(impl, n)
        wrong = {k: (result.get(k), v) for k, v in expected.items() if result.get(k) != v}
        return "ok" if not wrong else f"mismatch {wrong}"


def make_scenarios(catalog: list[Asset], seed: int) -> dict[str, Scenario]:
    """Every scenario on one catalog (every record active but where a scenario says)."""
    changed, changed_info = evolve_catalog(
        catalog, seed, listings=0, delistings=0, flips=CHANGED_FLIPS, renames=CHANGED_RENAMES
    )
    delisted, delisted_info = evolve_catalog(
        catalog, seed + 1, listings=0, delistings=DELISTED_FRACTION, flips=0, renames=0
    )
    symbols = sorted(str(asset["symbol"]) for asset in catalog)
    k_drift = max(1, round(DRIFT_FRACTION * len(symbols)))
    drifted = tuple(symbols[len(symbols) // (2 * k_drift) :: len(symbols) // k_drift][:k_drift])
    reassigned = reassign(catalog, seed + 2)
    return {
        "initial": Scenario("initial", None, catalog),
        "nochange": Scenario("nochange", catalog, catalog),
        "changed1": Scenario("changed1", catalog, changed, changed_info),
        "delisted5": Scenario("delisted5", catalog, delisted, delisted_info),
        "reassigned": Scenario("reassigned", catalog, reassigned.served, reassignments=reassigned),
        "fullnochange": Scenario("fullnochange", catalog, catalog, full=True),
        "fulldrift": Scenario("fulldrift", catalog, catalog, full=True, drift=drifted),
    }


def drift_edit(item: Item, index: int) -> Item:
    """`item` as a hand edit left it, `sync_hash` untouched: a string, a bool, a number or a
    list changed, or an attribute removed (by `index`, in turn)."""
    edited = dict(item)
    kind = index % 5
    if kind == 0:
        edited["name"] = {"S": f"{item['name']['S']} (edited by hand)"}
    elif kind == 1:
        edited["tradable"] = {"BOOL": not item["tradable"]["BOOL"]}
    elif kind == 2 and "margin_requirement_long" in item:
        edited["margin_requirement_long"] = {"N": "99"}
    elif kind == 3:
        edited["attributes"] = {"L": [{"S": "edited_by_hand"}]}
    else:
        edited.pop("exchange", None)
    return edited


def foreign_sample(catalog: list[Asset], scenario: Scenario) -> list[str]:
    """About 1% of the symbols (20 to 200), including some the scenario changes or delists."""
    symbols = sorted(str(asset["symbol"]) for asset in catalog)
    step = max(1, len(symbols) // 150)
    sample = set(symbols[::step][:200])
    if scenario.changes is not None:
        sample.update(list(scenario.changes.changed)[:20])
        sample.update(list(scenario.changes.delisted)[:20])
    if scenario.reassignments is not None:
        sample.update(scenario.reassignments.moved_assets())
    return sorted(sample)


def sync_items(catalog: list[Asset]) -> dict[str, Item]:
    """The items this project's sync stores for `catalog` (as `put_new` writes them)."""
    validated = validate_catalog(dumps_catalog(catalog))
    return {
        symbol: serialize_item(new_item(asset, YESTERDAY, run_seq=1))
        for symbol, asset in validated.assets.items()
    }


def naive_items(catalog: list[Asset]) -> dict[str, Item]:
    """The items the naive peers store for `catalog`."""
    serializer = TypeSerializer()
    decoded: list[dict[str, Any]] = json.loads(dumps_catalog(catalog), parse_float=Decimal)
    items: dict[str, Item] = {}
    for asset in decoded:
        item: Item = {}
        for name, value in to_item(asset, YESTERDAY).items():
            item[name] = dict(serializer.serialize(value))
        items[str(asset["symbol"])] = item
    return items
