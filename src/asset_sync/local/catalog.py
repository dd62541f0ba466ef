"""Deterministic generator of realistic Alpaca ``GET /v2/assets`` catalogs (stdlib only).

Records follow ``components.schemas.Assets`` of Alpaca's Trading API OpenAPI spec and the
real responses it was checked against:

* ``maintenance_margin_requirement`` is a JSON number; ``margin_requirement_long`` /
  ``margin_requirement_short`` and the crypto ``min_order_size`` / ``min_trade_increment`` /
  ``price_increment`` are decimal *strings* (``"30"``, ``"0.000000001"``);
* ``cusip`` is a string, sometimes ``null``, sometimes absent; ``borrow_status`` is only on
  US equities; ``attributes`` is usually present (sometimes empty, rarely absent);
* open strings really are open: ``exchange``, ``class``, ``borrow_status`` and ``attributes``
  carry occasional values outside the spec enums, and a few records have an unknown field;
* symbols are unique and include ``BRK.B``-style (``.``) and ``BTC/USD``-style (``/``) ones.

The mix is about 93% ``us_equity``, 3% ``crypto`` and 4% odd classes (``crypto_perp``,
``us_option``, ``ipo``). Output is a pure function of ``(n, seed)`` (and of the input catalog
for :func:`evolve_catalog`).
"""

from __future__ import annotations

import json
import random
from collections.abc import Sequence
from dataclasses import dataclass

from asset_sync.local.catalog_records import ATTRIBUTES, NAME_FIRST, Asset, Factory

__all__ = ["Asset", "CatalogChanges", "dumps_catalog", "evolve_catalog", "generate_catalog"]


@dataclass(frozen=True, slots=True)
class CatalogChanges:
    """What :func:`evolve_catalog` did, as sorted tuples of symbols.

    ``changed`` is every surviving symbol whose record differs (``flipped`` plus ``renamed``).
    """

    listed: tuple[str, ...]
    delisted: tuple[str, ...]
    changed: tuple[str, ...]
    flipped: tuple[str, ...]
    renamed: tuple[str, ...]


def generate_catalog(n: int, seed: int = 0, *, inactive: float = 0.0) -> list[Asset]:
    """Return ``n`` asset records, deterministic for ``seed``.

    ``inactive`` is the share of records marked ``status: "inactive"`` (default: none).
    """
    if n < 0:
        raise ValueError("n must be >= 0")
    if not 0.0 <= inactive <= 1.0:
        raise ValueError("inactive must be within [0, 1]")
    rng = random.Random(f"asset-sync-catalog:{seed}")  # noqa: S311 - test data
    factory = Factory(rng, set(), set())
    inactive_idx = set(rng.sample(range(n), round(inactive * n)))
    return [
        factory.make(cls, "inactive" if i in inactive_idx else "active")
        for i, cls in enumerate(factory.class_plan(n))
    ]


def _count(fraction: float, n: int, what: str) -> int:
    if not 0.0 <= fraction <= 1.0:
        raise ValueError(f"{what} must be within [0, 1]")
    k = round(fraction * n)
    if fraction > 0 and n >= 100:
        k = max(k, 1)
    return k


def _copy(asset: Asset) -> Asset:
    return {k: list(v) if isinstance(v, list) else v for k, v in asset.items()}


def _flip(asset: Asset, rng: random.Random) -> None:
    """Change at least one tradability / borrow / attribute / margin field of ``asset``."""
    kinds = ["tradable", "shortable"]
    if "borrow_status" in asset:
        kinds.append("borrow_status")
    if isinstance(asset.get("attributes"), list):
        kinds.append("attributes")
    if "margin_requirement_long" in asset:
        kinds.append("margin")
    kind = rng.choice(kinds)
    if kind == "tradable":
        asset["tradable"] = not asset.get("tradable")
    elif kind == "shortable":
        shortable = not asset.get("shortable")
        asset["shortable"] = shortable
        if not shortable:
            asset["easy_to_borrow"] = False
            if "borrow_status" in asset:
                asset["borrow_status"] = "hard_to_borrow"
    elif kind == "borrow_status":
        easy = asset.get("borrow_status") != "easy_to_borrow"
        asset["borrow_status"] = "easy_to_borrow" if easy else "hard_to_borrow"
        asset["easy_to_borrow"] = easy
        if easy:
            asset["shortable"] = True
    elif kind == "attributes":
        attrs = asset["attributes"]
        assert isinstance(attrs, list)
        missing = [a for a in ATTRIBUTES if a not in attrs]
        if attrs and (not missing or rng.random() < 0.5):
            attrs.pop(rng.randrange(len(attrs)))
        else:
            attrs.append(rng.choice(missing))
    else:
        old = asset["margin_requirement_long"]
        new = rng.choice([m for m in ("25", "30", "50", "100") if m != old])
        asset["margin_requirement_long"] = new
        asset["margin_requirement_short"] = new
        asset["maintenance_margin_requirement"] = int(new)


def _rename(asset: Asset, rng: random.Random) -> None:
    """Give ``asset`` a different name (a rebrand keeps the tail of the old name)."""
    old = str(asset.get("name", ""))
    tail = old.split(" ", 1)[1] if " " in old else old
    for _ in range(10):
        new = f"{rng.choice(NAME_FIRST)} {tail}"
        if new != old:
            asset["name"] = new
            return
    asset["name"] = f"{old} (New)"


def evolve_catalog(
    catalog: Sequence[Asset],
    seed: int,
    *,
    listings: float = 0.01,
    delistings: float = 0.01,
    flips: float = 0.01,
    renames: float = 0.002,
) -> tuple[list[Asset], CatalogChanges]:
    """Return "the next day" of ``catalog`` (a new list; the input is not touched).

    Each count is ``round(fraction * len(catalog))``, at least 1 when the fraction is positive
    and the catalog has 100+ records. Delisted records are removed; flipped and renamed
    records are disjoint survivors; new listings get fresh symbols and ids and are appended.
    """
    n = len(catalog)
    n_list = _count(listings, n, "listings")
    n_delist = min(_count(delistings, n, "delistings"), n)
    n_flip = _count(flips, n, "flips")
    n_rename = _count(renames, n, "renames")
    rng = random.Random(f"asset-sync-evolve:{seed}")  # noqa: S311 - test data

    out = [_copy(a) for a in catalog]
    delist_idx = set(rng.sample(range(n), n_delist))
    survivors = [i for i in range(n) if i not in delist_idx]
    n_flip = min(n_flip, len(survivors))
    n_rename = min(n_rename, len(survivors) - n_flip)
    picked = rng.sample(survivors, n_flip + n_rename)
    for i in picked[:n_flip]:
        _flip(out[i], rng)
    for i in picked[n_flip:]:
        _rename(out[i], rng)

    factory = Factory(
        rng, {str(a.get("symbol")) for a in catalog}, {str(a.get("id")) for a in catalog}
    )
    listed = [factory.make(cls) for cls in factory.class_plan(n_list)]
    result = [a for i, a in enumerate(out) if i not in delist_idx]
    result.extend(listed)

    flipped = sorted(str(out[i]["symbol"]) for i in picked[:n_flip])
    renamed = sorted(str(out[i]["symbol"]) for i in picked[n_flip:])
    changes = CatalogChanges(
        listed=tuple(sorted(str(a["symbol"]) for a in listed)),
        delisted=tuple(sorted(str(out[i]["symbol"]) for i in delist_idx)),
        changed=tuple(sorted(flipped + renamed)),
        flipped=tuple(flipped),
        renamed=tuple(renamed),
    )
    return result, changes


def dumps_catalog(catalog: Sequence[Asset]) -> bytes:
    """Compact UTF-8 JSON of ``catalog`` (as one ``GET /v2/assets`` body)."""
    return json.dumps(list(catalog), separators=(",", ":"), ensure_ascii=False).encode("utf-8")
