"""The history of an assets table for other services and notebooks (docs/history.md).

    from asset_sync.history import asset_history, universe_as_of

    active = universe_as_of("2026-12-01", asset_classes=["us_equity"])  # list[Asset]
    for step in asset_history("META"):  # every asset that held META, oldest first
        print(step.version.symbol, step.version.changed_at, dict(step.changes))

The tables, region and endpoint come from the environment as for the CLI (`ASSETS_TABLE`,
`HISTORY_TABLE`, `AWS_REGION`, `AWS_ENDPOINT_URL_DYNAMODB`), or from the arguments. Reading
needs `dynamodb:Query` and `dynamodb:GetItem` on the history table and its index only.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Mapping, Sequence
from datetime import date, datetime

from asset_sync.config import ConfigError, settings_from_env
from asset_sync.dal.client import dynamodb_client
from asset_sync.dal.history import HistoryTable, history_table_for
from asset_sync.history.model import (
    Asset,
    HistoryError,
    Moment,
    Step,
    check_begun,
    moment_of,
    steps,
    universe,
)
from asset_sync.history.versions import now


class History:
    """Reads one history table: where it begins, the universe as of a moment, an asset's
    versions."""

    def __init__(self, table: HistoryTable, now: Callable[[], datetime] = now) -> None:
        self.table = table
        self.now = now

    @classmethod
    def open(
        cls,
        history_table: str | None = None,
        *,
        assets_table: str | None = None,
        region: str | None = None,
        endpoint_url: str | None = None,
        environ: Mapping[str, str] | None = None,
    ) -> History:
        """The history of `assets_table` (default: ASSETS_TABLE, else signal9_assets) in
        `history_table` (default: HISTORY_TABLE, else `<assets table>_history`)."""
        env = os.environ if environ is None else environ
        settings = settings_from_env(env, for_sync=False, validate=False).with_overrides(
            assets_table=assets_table, region=region, dynamodb_endpoint_url=endpoint_url
        )
        name = history_table or history_table_for(settings.assets_table, env)[0]
        client = dynamodb_client(settings.region, settings.dynamodb_endpoint_url)
        return cls(HistoryTable(client, name))

    def begins_at(self) -> str | None:
        """When history became complete (ISO 8601 UTC), or None: not begun."""
        return self.table.begins_at()

    def universe(
        self, moment: Moment, *, asset_classes: Sequence[str] = (), all_statuses: bool = False
    ) -> list[Asset]:
        """Every asset as the table held it at `moment` (active ones unless `all_statuses`);
        HistoryNotBegunError for a moment before history began."""
        check_begun(moment, self.begins_at())
        versions = self.table.versions()
        return universe(
            versions, moment.until, asset_classes=asset_classes, all_statuses=all_statuses
        )

    def universe_as_of(
        self,
        when: date | datetime | str,
        *,
        asset_classes: Sequence[str] = (),
        all_statuses: bool = False,
    ) -> list[Asset]:
        """`universe` at a date (the end of that UTC day), an aware datetime or their ISO text."""
        moment = moment_of(when, self.now())
        return self.universe(moment, asset_classes=asset_classes, all_statuses=all_statuses)

    def asset_history(self, symbol_or_id: str) -> list[Step]:
        """Every version of every asset that held this ticker (or of this asset id), oldest
        first, each with what changed from the asset's version before."""
        asset_ids = self.table.asset_ids_of(symbol_or_id)
        versions = [v for asset_id in asset_ids for v in self.table.versions_of(asset_id)]
        if symbol_or_id not in asset_ids:
            versions += self.table.versions_of(symbol_or_id)  # an asset id itself
        return steps(versions)


def universe_as_of(
    when: date | datetime | str,
    *,
    asset_classes: Sequence[str] = (),
    all_statuses: bool = False,
    history_table: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> list[Asset]:
    """The universe as of `when` (a date: the end of that UTC day), active assets unless
    `all_statuses`; HistoryNotBegunError before history began (see `History`)."""
    history = History.open(history_table, region=region, endpoint_url=endpoint_url)
    return history.universe_as_of(when, asset_classes=asset_classes, all_statuses=all_statuses)


def asset_history(
    symbol_or_id: str,
    *,
    history_table: str | None = None,
    region: str | None = None,
    endpoint_url: str | None = None,
) -> list[Step]:
    """Every version of the asset(s) that held a ticker, or of one asset id, oldest first."""
    history = History.open(history_table, region=region, endpoint_url=endpoint_url)
    return history.asset_history(symbol_or_id)


__all__ = ["ConfigError", "History", "HistoryError", "asset_history", "universe_as_of"]
