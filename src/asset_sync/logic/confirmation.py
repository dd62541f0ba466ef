"""Confirmed delistings: Alpaca is asked about every candidate before it is delisted (pure).

Any active item missing from the list (and no old side of a rename) is only a delisting
*candidate*: a sample of them is looked up by id, and they are delisted only if Alpaca confirms
it (inactive or unknown). If any looked-up candidate is still active the list is inconsistent,
and only the candidates confirmed one by one are delisted. The lookups themselves are I/O: they
are passed in.
"""

from __future__ import annotations

import random
from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from asset_sync.logic.models import ACTIVE, StoredValue
from asset_sync.logic.planning import ItemPlan


def _text(value: StoredValue | None) -> str:
    return value if isinstance(value, str) else ""


@dataclass
class Confirmation:
    """What Alpaca said about the delisting candidates."""

    confirmed: list[str] = field(default_factory=list)  # to delist
    kept_active: list[str] = field(default_factory=list)  # Alpaca still reports them active
    unconfirmed: list[str] = field(default_factory=list)  # not looked up, or the lookup failed
    lookups: int = 0

    @property
    def consistent(self) -> bool:
        """True when the list can be trusted for every candidate."""
        return not self.kept_active and not self.unconfirmed


class LookupFailedError(Exception):
    """A lookup still failed after its retries."""


Lookup = Callable[[str], Mapping[str, Any] | None]  # the asset, None for 404; LookupFailedError


def confirm_delistings(
    candidates: Sequence[ItemPlan],
    olds: Mapping[str, Mapping[str, StoredValue]],
    lookup: Lookup,
    *,
    sample_size: int,
    listed: Collection[str],
    rng: random.Random,
) -> Confirmation:
    """Look candidates up (all of them, or a random sample of `sample_size`) and decide.

    A candidate is confirmed when Alpaca reports its asset inactive or unknown, or active
    under another symbol that is in the list (the asset moved). If every looked-up candidate
    is confirmed, every candidate is; otherwise only those confirmed one by one.
    """
    symbols = sorted(c.symbol for c in candidates)
    sample = symbols if len(symbols) <= sample_size else sorted(rng.sample(symbols, sample_size))
    result = Confirmation()
    confirmed: list[str] = []
    for symbol in sample:
        key = _text(olds.get(symbol, {}).get("asset_id")) or symbol
        result.lookups += 1
        try:
            asset = lookup(key)
        except LookupFailedError:
            result.unconfirmed.append(symbol)
            continue
        if asset is None or asset.get("status") != ACTIVE:
            confirmed.append(symbol)
        elif asset.get("symbol") != symbol and asset.get("symbol") in listed:
            confirmed.append(symbol)  # the asset lives on under a listed symbol
        else:
            result.kept_active.append(symbol)
    if result.consistent:
        result.confirmed = symbols
    else:
        result.confirmed = confirmed
        looked_up = set(sample)
        result.unconfirmed += [s for s in symbols if s not in looked_up]
        result.unconfirmed.sort()
    return result
