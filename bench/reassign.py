"""A day of ticker reassignments (issue 19), built from one catalog.

Per `unit` (0.05% of the assets, at least one) the next day holds: two plain renames (`X` -> a
new ticker), one same-day shift (`A`=a, `B`=b -> `B`=a, `C`=b, as FB -> META -> METV on
2022-06-09), one swap (`A`=1, `B`=2 -> `A`=2, `B`=1), one reused ticker whose holder was
delisted earlier (its item inactive) and one reused the same day (the holder leaves the
catalog, is confirmed delisted by Alpaca and moves to its archive item). Every other asset is
unchanged. By docs/identity.md each of these is one identity change, written as one
TransactWriteItems: a rename writes 2 items, a shift 3, a swap 2, a reuse 2 (the ticker and
the displaced holder's archive item `__asset/<id>`).
"""

from __future__ import annotations

import random
import uuid
from collections.abc import Iterator
from dataclasses import dataclass

from asset_sync.local.catalog import Asset
from asset_sync.logic.models import ARCHIVE_PREFIX

UNIT = 0.0005
ITEMS_PER_CHANGE = {"rename": 2, "shift": 3, "swap": 2, "reuse": 2}
_LETTERS = "ABCDEFGHIJKLMNOPQRSTUVWXYZ"


@dataclass(frozen=True)
class Reassignments:
    """The next day's catalog and the identity changes it holds, by kind."""

    served: list[Asset]
    renames: tuple[tuple[str, str], ...]  # (old ticker, new ticker)
    shifts: tuple[tuple[str, str, str], ...]  # (A, B, C): A's asset to B, B's asset to C
    swaps: tuple[tuple[str, str], ...]
    reused_after_delisting: tuple[str, ...]  # the holder's item is inactive before the day
    reused_same_day: tuple[str, ...]  # the holder is active before the day
    displaced: dict[str, str]  # reused ticker -> the asset id it held

    @property
    def identity_changes(self) -> int:
        """Transactions a correct run sends: one per identity change."""
        return (
            len(self.renames)
            + len(self.shifts)
            + len(self.swaps)
            + len(self.reused_after_delisting)
            + len(self.reused_same_day)
        )

    @property
    def identity_items(self) -> int:
        """Items those transactions write."""
        reuses = len(self.reused_after_delisting) + len(self.reused_same_day)
        return (
            ITEMS_PER_CHANGE["rename"] * len(self.renames)
            + ITEMS_PER_CHANGE["shift"] * len(self.shifts)
            + ITEMS_PER_CHANGE["swap"] * len(self.swaps)
            + ITEMS_PER_CHANGE["reuse"] * reuses
        )

    def by_kind(self) -> dict[str, int]:
        """Identity changes by kind, as the report lists them."""
        return {
            "renames": len(self.renames),
            "shifts": len(self.shifts),
            "swaps": len(self.swaps),
            "reused after a delisting": len(self.reused_after_delisting),
            "reused the same day": len(self.reused_same_day),
        }

    def keys(self) -> set[str]:
        """Every item the day writes: tickers on both days and archive items."""
        keys = {s for pair in (*self.renames, *self.swaps) for s in pair}
        keys |= {s for triple in self.shifts for s in triple}
        keys |= {*self.reused_after_delisting, *self.reused_same_day}
        return keys | {ARCHIVE_PREFIX + asset_id for asset_id in self.displaced.values()}

    def moved_assets(self) -> set[str]:
        """Tickers (on the day before) whose asset moves or is displaced."""
        keys = {old for old, _ in self.renames} | {s for pair in self.swaps for s in pair}
        keys |= {s for a, b, _ in self.shifts for s in (a, b)}
        return keys | set(self.displaced)

    def expected_counts(self, n: int) -> dict[str, int]:
        """The run report's counts after a correct run over `n` assets."""
        reuses = len(self.reused_after_delisting) + len(self.reused_same_day)
        arrivals = len(self.renames) + 2 * len(self.shifts) + 2 * len(self.swaps)
        return {
            "renamed": arrivals,
            "created": reuses,
            "archived": reuses,  # every displaced holder moves to its archive item
            "delisted": len(self.reused_same_day),
            "delist_candidates": len(self.reused_same_day),
            "updated": 0,
            "unchanged": n - arrivals - reuses,
        }


def _fresh_symbols(rng: random.Random, used: set[str]) -> Iterator[str]:
    while True:
        symbol = "".join(rng.choice(_LETTERS) for _ in range(5))
        if symbol not in used:
            used.add(symbol)
            yield symbol


def _new_asset(holder: Asset, rng: random.Random) -> Asset:
    """Another company on `holder`'s ticker: a new id, a new name, no CUSIP in common."""
    return {
        **holder,
        "id": str(uuid.UUID(int=rng.getrandbits(128), version=4)),
        "name": f"{holder['name']} (new issuer)",
        "cusip": None,
    }


def reassign(catalog: list[Asset], seed: int) -> Reassignments:
    """The next day of `catalog` with its reassignments (see the module docstring)."""
    rng = random.Random(f"bench-reassign:{seed}")
    unit = max(1, round(UNIT * len(catalog)))
    served = [dict(asset) for asset in catalog]
    at = {str(asset["symbol"]): i for i, asset in enumerate(served)}
    picked = iter(rng.sample(sorted(at), 11 * unit))
    fresh = _fresh_symbols(rng, set(at))

    def take(count: int) -> list[str]:
        return [next(picked) for _ in range(count)]

    renames = tuple((old, next(fresh)) for old in take(2 * unit))
    for old, new in renames:
        served[at[old]]["symbol"] = new
    shifts = tuple((a, b, next(fresh)) for a, b in zip(*[iter(take(2 * unit))] * 2, strict=True))
    for a, b, c in shifts:
        served[at[a]]["symbol"], served[at[b]]["symbol"] = b, c
    swaps = tuple(zip(*[iter(take(2 * unit))] * 2, strict=True))
    for a, b in swaps:
        served[at[a]]["symbol"], served[at[b]]["symbol"] = b, a
    after_delisting, same_day = tuple(take(unit)), tuple(take(unit))
    displaced = {}
    for ticker in (*after_delisting, *same_day):
        displaced[ticker] = str(served[at[ticker]]["id"])
        served[at[ticker]] = _new_asset(served[at[ticker]], rng)
    return Reassignments(served, renames, shifts, swaps, after_delisting, same_day, displaced)
