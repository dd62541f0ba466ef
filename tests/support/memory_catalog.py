"""An in-memory catalog source (logic.catalog.CatalogSource): Alpaca's list and lookups.

`list_assets_bodies` answers one JSON array per requested class, as Alpaca's
`GET /v2/assets?status=active&asset_class=C` does; `get_asset` answers a record by id or symbol
(the `answers` given for a key first, an exception among them raised), else not found.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from asset_sync.logic.catalog import CatalogAssetNotFoundError


class MemoryCatalog:
    """The catalog port in memory, counting its requests as `attempts`."""

    def __init__(
        self,
        records: Iterable[Mapping[str, Any]] = (),
        answers: Mapping[str, Mapping[str, Any] | Exception] | None = None,
    ) -> None:
        self.records = [dict(record) for record in records]
        self.answers = dict(answers or {})
        self.attempts = 0
        self.looked_up: list[str] = []
        self.list_error: Exception | None = None

    def list_assets_bodies(self, asset_classes: Sequence[str] = ()) -> list[bytes]:
        self.attempts += 1
        if self.list_error is not None:
            raise self.list_error
        return [
            json.dumps([r for r in self.records if r.get("class") == c]).encode()
            for c in asset_classes
        ]

    def get_asset(self, symbol_or_id: str) -> dict[str, Any]:
        self.attempts += 1
        self.looked_up.append(symbol_or_id)
        answer = self.answers.get(symbol_or_id)
        if isinstance(answer, Exception):
            raise answer
        if answer is not None:
            return dict(answer)
        for record in self.records:
            if symbol_or_id in (record.get("id"), record.get("symbol")):
                return dict(record)
        raise CatalogAssetNotFoundError(f"asset {symbol_or_id!r} not found")
