"""Issue 19's statements about any history, checked on a table (the harness's or the oracle's).

They come from the catalogs and the foreign writes alone, not from the oracle's rule: every
asset id active in the catalog is active under exactly its catalog ticker, links are consistent,
and every foreign attribute is on the item of the asset it was written for.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

from tests.support.identity_oracle import Day, Item, archive_key, is_archive

from asset_sync.logic.models import ACTIVE, INACTIVE


def history_problems(items: Mapping[str, Item], days: Sequence[Day]) -> list[str]:
    """What is wrong with `items` after the sync of the last of `days`."""
    return [
        *_listed_exactly(items, days[-1]),
        *_links(items, days),
        *_foreign(items, days),
    ]


def _listed_exactly(items: Mapping[str, Item], day: Day) -> list[str]:
    problems = []
    for asset_id, listing in sorted(day.catalog.items()):
        item = items.get(listing.ticker)
        if item is None or (item.asset_id, item.status) != (asset_id, ACTIVE):
            problems.append(f"{asset_id} is listed as {listing.ticker}, which holds {item}")
    for symbol, item in sorted(items.items()):
        listed = day.catalog.get(item.asset_id)
        if item.status == ACTIVE and (listed is None or listed.ticker != symbol):
            problems.append(f"{symbol} is active for {item.asset_id}, listed as {listed}")
    return problems


def _links(items: Mapping[str, Item], days: Sequence[Day]) -> list[str]:
    """Links describe the asset's real past: tickers it had, never the item's own key."""
    tickers_of: dict[str, set[str]] = {}
    holders_of: dict[str, set[str]] = {}
    for day in days:
        for asset_id, listing in day.catalog.items():
            tickers_of.setdefault(asset_id, set()).add(listing.ticker)
            holders_of.setdefault(listing.ticker, set()).add(asset_id)
    problems = []
    homes: dict[str, list[str]] = {}
    for symbol, item in sorted(items.items()):
        past = tickers_of.get(item.asset_id, set()) - {symbol}
        if item.renamed_to is None:
            homes.setdefault(item.asset_id, []).append(symbol)
        elif item.status != INACTIVE or item.previous_symbol is not None:
            problems.append(f"{symbol}: an old item must be inactive, without previous_symbol")
        for link in (item.previous_symbol, item.renamed_to):
            if link is not None and link not in past:
                problems.append(f"{symbol}: link {link} is no other ticker {item.asset_id} had")
        replaced = item.replaces_asset_id
        if replaced is not None and replaced not in holders_of.get(symbol, set()) - {item.asset_id}:
            problems.append(f"{symbol}: replaces_asset_id {replaced} never held it")
        if is_archive(symbol) and (symbol != archive_key(item.asset_id) or item.status == ACTIVE):
            problems.append(f"{symbol}: an archive item holds {item.asset_id}, {item.status}")
    for asset_id in sorted(tickers_of):
        if len(homes.get(asset_id, [])) != 1:
            problems.append(f"{asset_id} has not exactly one home: {homes.get(asset_id)}")
    return problems


def _foreign(items: Mapping[str, Item], days: Sequence[Day]) -> list[str]:
    """Foreign values only on items of their asset; each asset's latest values on its home."""
    written: set[tuple[str, str, str]] = set()
    latest: dict[str, dict[str, str]] = {}
    for day in days:
        for write in day.foreign:
            written.add((write.asset_id, write.name, write.value))
            latest.setdefault(write.asset_id, {})[write.name] = write.value
    problems = []
    for symbol, item in sorted(items.items()):
        for name, value in sorted(item.foreign.items()):
            if (item.asset_id, name, value) not in written:
                problems.append(f"{symbol} (of {item.asset_id}) has {name}={value}, not its own")
        if item.renamed_to is None and dict(item.foreign) != latest.get(item.asset_id, {}):
            wanted = latest.get(item.asset_id, {})
            problems.append(f"{symbol}, home of {item.asset_id}: {item.foreign} != {wanted}")
    return problems
