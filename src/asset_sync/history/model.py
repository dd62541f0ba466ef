"""The questions history answers, over versions (pure): the universe as of a moment, and what
changed from one version of an asset to the next.

"As of" is at the run's resolution: a sync run's changes count from the run's start
(`last_sync_timestamp`, by that machine's clock), a hand edit's from when the stream recorded
it. The universe as of T holds, for every asset, its latest version (by run number) among those
that changed by T; a version that records a deleted item leaves the asset out.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from decimal import Decimal

from asset_sync.dal.serialization import AttributeValue, deserialize, same_value, to_json
from asset_sync.history.versions import STATE_ATTRIBUTES, Version, parse_time, timestamp
from asset_sync.logic.models import ACTIVE

_DATE = re.compile(r"\d{4}-\d{2}-\d{2}")


class HistoryError(Exception):
    """A question history cannot answer truthfully (the message says why and what to do)."""


class HistoryNotBegunError(HistoryError):
    """History has not begun (no backfill completed), or began after the moment asked about."""

    def __init__(self, asked: str, begins_at: str | None) -> None:
        self.asked = asked
        self.begins_at = begins_at
        if begins_at is None:
            message = (
                "history has not begun: no `asset-sync history backfill` has completed on this "
                "history table (run it once the stream writer runs; docs/history.md)"
            )
        else:
            message = (
                f"history begins at {begins_at} (when `asset-sync history backfill` recorded "
                f"every asset); {asked} is before it: ask for {begins_at[:10]} or later"
            )
        super().__init__(message)


@dataclass(frozen=True)
class Moment:
    """An "as of" question: every change up to `until` (exclusive), as the user wrote it."""

    until: datetime
    label: str

    @property
    def last_included(self) -> str:
        """The latest stored time that counts (for messages and JSON)."""
        return timestamp(self.until - timedelta(microseconds=1))


def parse_moment(text: str, now: datetime) -> Moment:
    """`YYYY-MM-DD` (the end of that UTC day) or an ISO 8601 time with a zone (that instant);
    HistoryError for anything else, and for a moment after `now`."""
    value = text.strip()
    try:
        if _DATE.fullmatch(value):
            until = datetime.combine(date.fromisoformat(value), datetime.min.time(), UTC)
            moment = Moment(until + timedelta(days=1), value)
        else:
            instant = datetime.fromisoformat(value)
            if instant.tzinfo is None:
                raise HistoryError(f"{value!r} has no time zone: add Z (UTC) or an offset")
            moment = Moment(instant.astimezone(UTC) + timedelta(microseconds=1), value)
    except ValueError:
        raise HistoryError(
            f"{value!r} is not a date (YYYY-MM-DD, a UTC day) or an ISO 8601 time with a zone"
        ) from None
    today_ends = datetime.combine(now.astimezone(UTC).date(), datetime.min.time(), UTC)
    if moment.until > today_ends + timedelta(days=1):
        raise HistoryError(f"{value!r} is in the future (today is {now.date().isoformat()} UTC)")
    return moment


def moment_of(when: date | datetime | str, now: datetime) -> Moment:
    """`when` as a Moment: a date is the end of that UTC day, an aware datetime that instant,
    a string as `parse_moment` reads it."""
    if isinstance(when, datetime):
        return parse_moment(when.isoformat(), now)
    if isinstance(when, date):
        return parse_moment(when.isoformat(), now)
    return parse_moment(when, now)


def check_begun(moment: Moment, begins_at: str | None) -> None:
    """HistoryNotBegunError unless history was complete by the end of the moment asked about."""
    if begins_at is None or parse_time(begins_at) >= moment.until:
        raise HistoryNotBegunError(moment.label, begins_at)


def latest_by(versions: Iterable[Version], until: datetime) -> dict[str, Version]:
    """Each asset's latest version (highest `version`) among those changed before `until`."""
    latest: dict[str, Version] = {}
    for version in versions:
        if parse_time(version.changed_at) >= until:
            continue
        kept = latest.get(version.asset_id)
        if kept is None or version.version > kept.version:
            latest[version.asset_id] = version
    return latest


@dataclass(frozen=True)
class Asset:
    """An asset as the table held it at a moment: its ticker then and its owned attributes.

    Decimals are exact (`Decimal`); an attribute the asset did not have is None (an empty
    tuple for `attributes`). `run_seq` and `changed_at` say which change left it so.
    """

    symbol: str
    asset_id: str
    status: str
    asset_class: str | None
    exchange: str | None
    name: str | None
    tradable: bool | None
    marginable: bool | None
    shortable: bool | None
    easy_to_borrow: bool | None
    fractionable: bool | None
    borrow_status: str | None
    cusip: str | None
    attributes: tuple[str, ...]
    min_order_size: Decimal | None
    min_trade_increment: Decimal | None
    price_increment: Decimal | None
    maintenance_margin_requirement: Decimal | None
    margin_requirement_long: Decimal | None
    margin_requirement_short: Decimal | None
    run_seq: int | None
    changed_at: str
    reason: str

    @classmethod
    def of(cls, version: Version) -> Asset:
        """The asset a version records."""
        values = {name: deserialize(raw) for name, raw in version.state.items()}

        def text(name: str) -> str | None:
            value = values.get(name)
            return value if isinstance(value, str) else None

        def flag(name: str) -> bool | None:
            value = values.get(name)
            return value if isinstance(value, bool) else None

        def number(name: str) -> Decimal | None:
            value = values.get(name)
            return value if isinstance(value, Decimal) else None

        listed = values.get("attributes")
        return cls(
            symbol=version.symbol,
            asset_id=version.asset_id,
            status=text("status") or "",
            asset_class=text("asset_class"),
            exchange=text("exchange"),
            name=text("name"),
            tradable=flag("tradable"),
            marginable=flag("marginable"),
            shortable=flag("shortable"),
            easy_to_borrow=flag("easy_to_borrow"),
            fractionable=flag("fractionable"),
            borrow_status=text("borrow_status"),
            cusip=text("cusip"),
            attributes=listed if isinstance(listed, tuple) else (),
            min_order_size=number("min_order_size"),
            min_trade_increment=number("min_trade_increment"),
            price_increment=number("price_increment"),
            maintenance_margin_requirement=number("maintenance_margin_requirement"),
            margin_requirement_long=number("margin_requirement_long"),
            margin_requirement_short=number("margin_requirement_short"),
            run_seq=version.run_seq,
            changed_at=version.changed_at,
            reason=version.reason,
        )

    def to_json(self) -> dict[str, object]:
        """JSON form: decimals as their exact text, attributes as a list."""
        out: dict[str, object] = {}
        for name, value in self.__dict__.items():
            if isinstance(value, Decimal):
                out[name] = format(value, "f")
            elif isinstance(value, tuple):
                out[name] = list(value)
            else:
                out[name] = value
        return out


def universe(
    versions: Iterable[Version],
    until: datetime,
    *,
    asset_classes: Sequence[str] = (),
    all_statuses: bool = False,
) -> list[Asset]:
    """The assets as of `until`, sorted by ticker then asset id: active ones unless
    `all_statuses`, of `asset_classes` when given."""
    chosen = []
    for version in latest_by(versions, until).values():
        if version.removed:
            continue
        if not all_statuses and version.status != ACTIVE:
            continue
        if asset_classes and version.asset_class not in asset_classes:
            continue
        chosen.append(Asset.of(version))
    return sorted(chosen, key=lambda asset: (asset.symbol, asset.asset_id))


@dataclass(frozen=True)
class Step:
    """One version of an asset and what changed from the one before (`symbol` included)."""

    version: Version
    changes: Mapping[str, tuple[object, object]] = field(default_factory=dict)

    def to_json(self) -> dict[str, object]:
        """JSON form: the version's state and its changes, values as JSON."""
        version = self.version
        return {
            "asset_id": version.asset_id,
            "version": version.version,
            "symbol": version.symbol,
            "run_seq": version.run_seq,
            "changed_at": version.changed_at,
            "reason": version.reason,
            "sync_action": version.sync_action,
            "removed": version.removed,
            "state": {name: to_json(version.state.get(name)) for name in STATE_ATTRIBUTES},
            "changes": {
                name: {"old": old, "new": new} for name, (old, new) in self.changes.items()
            },
        }


def steps(versions: Iterable[Version]) -> list[Step]:
    """Versions oldest first, each with what changed from the previous version of the same
    asset (everything, for an asset's first version). Oldest by run number, as runs are
    ordered (every asset's versions share the runs' numbering), never by clocks."""
    ordered = sorted(versions, key=lambda v: (v.version, v.asset_id))
    previous: dict[str, Version] = {}
    out = []
    for version in ordered:
        out.append(Step(version, changes(previous.get(version.asset_id), version)))
        previous[version.asset_id] = version
    return out


def changes(before: Version | None, after: Version) -> dict[str, tuple[object, object]]:
    """{name: (old, new)} of the ticker and each owned attribute that differs (JSON values)."""
    found: dict[str, tuple[object, object]] = {}
    if before is None or before.symbol != after.symbol:
        found["symbol"] = (before.symbol if before else None, after.symbol)
    old_state: Mapping[str, AttributeValue] = before.state if before else {}
    for name in STATE_ATTRIBUTES:
        if not same_value(old_state.get(name), after.state.get(name)):
            found[name] = (to_json(old_state.get(name)), to_json(after.state.get(name)))
    return found


@dataclass(frozen=True)
class Difference:
    """How one universe became another, by asset id: assets that entered (listed, or back),
    left (delisted), moved to another ticker, and changed otherwise (the names of what)."""

    entered: tuple[Asset, ...]
    left: tuple[Asset, ...]
    moved: tuple[tuple[Asset, Asset], ...]
    changed: tuple[tuple[Asset, tuple[str, ...]], ...]


def difference(before: Sequence[Asset], after: Sequence[Asset]) -> Difference:
    """The difference between two universes (each asset compared with itself)."""
    old = {asset.asset_id: asset for asset in before}
    new = {asset.asset_id: asset for asset in after}
    moved, changed = [], []
    for asset_id in sorted(old.keys() & new.keys()):
        was, now = old[asset_id], new[asset_id]
        if was.symbol != now.symbol:
            moved.append((was, now))
        fields = tuple(
            name for name in STATE_ATTRIBUTES if getattr(was, name) != getattr(now, name)
        )
        if fields:
            changed.append((now, fields))
    return Difference(
        entered=tuple(new[a] for a in sorted(new.keys() - old.keys())),
        left=tuple(old[a] for a in sorted(old.keys() - new.keys())),
        moved=tuple(moved),
        changed=tuple(changed),
    )
