"""The assets the stand-in knows: the current catalog, retired assets and scripted
inconsistencies, published as immutable snapshots that lists and lookups serve from."""

from __future__ import annotations

import json
import threading
from collections.abc import Iterable, Sequence
from typing import cast

from asset_sync.local.catalog import Asset, dumps_catalog


class Snapshot:
    """An immutable view of the universe: what lists and lookups serve, indexed lazily.

    ``current`` is the catalog as last given (any JSON values, hostile ones included),
    ``retired`` the known assets absent from it; ``omitted`` / ``forgotten`` are the scripted
    inconsistencies (symbols or ids).
    """

    def __init__(
        self,
        current: Sequence[object],
        retired: Sequence[Asset],
        omitted: frozenset[str] = frozenset(),
        forgotten: frozenset[str] = frozenset(),
    ) -> None:
        self.current = current
        self.retired = retired
        self._omitted = omitted
        self._forgotten = forgotten
        self._lock = threading.Lock()
        self._index: dict[str, Asset] | None = None
        self._listed: list[object] | None = None
        self._filtered: dict[tuple[str, str, str, tuple[str, ...]], bytes] = {}

    def _visible(self, records: Sequence[object]) -> list[object]:
        return [r for r in records if not _matches(r, self._forgotten)]

    def lookup(self, key: str) -> Asset | None:
        """The asset a ``GET /v2/assets/{key}`` finds (symbol, id, cusip, old crypto symbol)."""
        with self._lock:
            if self._index is None:
                self._index = self._build_index()
            return self._index.get(key)

    def _build_index(self) -> dict[str, Asset]:
        layers = [
            [r for r in self._visible(records) if isinstance(r, dict)]
            for records in (self.retired, self.current)  # the current catalog wins a key
        ]
        index: dict[str, Asset] = {}
        # Lowest precedence first: symbol wins over id, cusip, then the old crypto symbology.
        for field in ("old_crypto", "cusip", "id", "symbol"):
            for records in layers:
                for asset in records:
                    key = _lookup_key(asset, field)
                    if key is not None:
                        index[key] = asset
        return index

    def listing(
        self, status: str, asset_class: str, exchange: str, attrs: tuple[str, ...]
    ) -> bytes:
        """The list body for these (already defaulted) filters; an empty filter matches all."""
        key = (status, asset_class, exchange, attrs)
        with self._lock:
            cached = self._filtered.get(key)
            if cached is not None:
                return cached
            if self._listed is None:
                visible = self._visible([*self.current, *self.retired])
                self._listed = [r for r in visible if not _matches(r, self._omitted)]
            listed = self._listed
        wanted = set(attrs)
        selected = [
            a
            for a in listed
            if not isinstance(a, dict)  # a non-object record passes every filter, to be seen
            or (
                (not status or a.get("status") == status)
                and (not asset_class or a.get("class") == asset_class)
                and (not exchange or a.get("exchange") == exchange)
                and (not wanted or _any_attribute(a, wanted))
            )
        ]
        body = _dumps(selected)
        with self._lock:
            self._filtered[key] = body
        return body


class Universe:
    """Every asset the stand-in has served, by ``id``; changes publish a new `Snapshot`."""

    def __init__(self, assets: Sequence[Asset]) -> None:
        self._lock = threading.Lock()  # serializes changes of the universe
        self._current: list[Asset] = private_copy(assets)
        self._retired: dict[str, Asset] = {}
        self._omitted: frozenset[str] = frozenset()
        self._forgotten: frozenset[str] = frozenset()
        self.snapshot = Snapshot(self._current, [])  # replaced whole: readers need no lock

    def set_assets(self, assets: Sequence[Asset]) -> None:
        """Replace the current catalog; known assets absent from it are retired."""
        records = private_copy(assets)
        with self._lock:
            present = {i for r in records if (i := _asset_id(r)) is not None}
            retired = {i: a for i, a in self._retired.items() if i not in present}
            for record in self._current:
                asset_id = _asset_id(record)
                if asset_id is not None and asset_id not in present and isinstance(record, dict):
                    retired[asset_id] = _retire(record)
            self._current, self._retired = records, retired
            self._publish()

    def omit_from_list(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Leave these assets out of every list response (ValueError for an unknown key)."""
        with self._lock:
            self._omitted |= self._known_keys(symbols_or_ids)
            self._publish()

    def forget(self, symbols_or_ids: str | Iterable[str]) -> None:
        """Make these assets unknown to lookups and lists (ValueError for an unknown key)."""
        with self._lock:
            self._forgotten |= self._known_keys(symbols_or_ids)
            self._publish()

    def clear_inconsistencies(self) -> None:
        """Undo every `omit_from_list` and `forget`."""
        with self._lock:
            self._omitted = self._forgotten = frozenset()
            self._publish()

    def _publish(self) -> None:
        """Swap in a snapshot of the current state (caller holds the lock)."""
        self.snapshot = Snapshot(
            self._current, list(self._retired.values()), self._omitted, self._forgotten
        )

    def _known_keys(self, symbols_or_ids: str | Iterable[str]) -> frozenset[str]:
        """``symbols_or_ids`` as a set, each naming a known asset (caller holds the lock)."""
        keys = frozenset([symbols_or_ids] if isinstance(symbols_or_ids, str) else symbols_or_ids)
        known = {
            value
            for record in [*self._current, *self._retired.values()]
            if isinstance(record, dict)
            for field in ("symbol", "id")
            if isinstance(value := record.get(field), str)
        }
        unknown = sorted(keys - known)
        if unknown:
            raise ValueError(f"no known asset has the symbol or id {', '.join(unknown)}")
        return keys


def _lookup_key(asset: Asset, field: str) -> str | None:
    """The key under which ``asset`` is found by ``field``, if it has one."""
    if field == "old_crypto":
        symbol = asset.get("symbol")
        ok = asset.get("class") == "crypto" and isinstance(symbol, str) and "/" in symbol
        return symbol.replace("/", "") if ok and isinstance(symbol, str) else None
    if field == "cusip" and asset.get("class") != "us_equity":
        return None  # "CUSIP is also accepted for US equities"
    value = asset.get(field)
    return value if isinstance(value, str) else None


def _matches(record: object, keys: frozenset[str] | set[str]) -> bool:
    """Whether ``record``'s symbol or id is one of ``keys``."""
    if not keys or not isinstance(record, dict):
        return False
    return any(isinstance(v := record.get(f), str) and v in keys for f in ("symbol", "id"))


def _dumps(records: Sequence[object]) -> bytes:
    """:func:`dumps_catalog` of any JSON values: test catalogs may hold non-object records."""
    return dumps_catalog(cast("Sequence[Asset]", records))


def private_copy(records: Sequence[object]) -> list[Asset]:
    """A deep copy through JSON: what the stand-in serves never changes behind its back."""
    copy: list[Asset] = json.loads(_dumps(records))
    return copy


def _asset_id(record: object) -> str | None:
    value = record.get("id") if isinstance(record, dict) else None
    return value if isinstance(value, str) else None


def _retire(asset: Asset) -> Asset:
    """``asset`` as Alpaca reports it once delisted: inactive and not tradable."""
    return {**asset, "status": "inactive", "tradable": False}


def _any_attribute(asset: Asset, wanted: set[str]) -> bool:
    attrs = asset.get("attributes")
    return isinstance(attrs, list) and not wanted.isdisjoint(attrs)
