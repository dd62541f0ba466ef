"""Text for the history commands (`universe`, `show --history`): pure, every line made safe."""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Sequence

from asset_sync.history.model import Asset, Moment, Step
from asset_sync.render import lines_to_text

ASSET_FIELDS: tuple[str, ...] = tuple(Asset.__dataclass_fields__)
FLAGS = (
    ("tradable", "T"),
    ("shortable", "S"),
    ("easy_to_borrow", "E"),
    ("marginable", "M"),
    ("fractionable", "F"),
)
SUMMARY = ("status", "asset_class", "exchange", "name")


def _flag(value: bool | None) -> str:
    return "-" if value is None else ("y" if value else "n")


def universe_text(assets: Sequence[Asset], heading: str) -> str:
    """A heading, then one line per asset: ticker, status, class, exchange, flags, name."""
    width = max([6, *(len(asset.symbol) for asset in assets)])
    flags = " ".join(letter for _, letter in FLAGS)
    header = f"{'symbol':<{width}}  {'status':<8} {'class':<10} {'exchange':<9} {flags}  name"
    lines = [heading, header]
    for asset in assets:
        marks = " ".join(_flag(getattr(asset, name)) for name, _ in FLAGS)
        lines.append(
            f"{asset.symbol:<{width}}  {asset.status:<8} {asset.asset_class or '-':<10} "
            f"{asset.exchange or '-':<9} {marks}  {asset.name or ''}"
        )
    lines.append(
        "flags: " + ", ".join(f"{letter} {name}" for name, letter in FLAGS) + " (y/n, - absent)"
    )
    return lines_to_text(lines)


def universe_csv(assets: Sequence[Asset]) -> str:
    """CSV with a header row: every field of `Asset` (decimals exact, attributes `;`-joined)."""
    out = io.StringIO()
    writer = csv.writer(out, lineterminator="\n")
    writer.writerow(ASSET_FIELDS)
    for asset in assets:
        row = asset.to_json()
        writer.writerow(
            [
                ";".join(value) if isinstance(value := row[name], list) else _cell(value)
                for name in ASSET_FIELDS
            ]
        )
    return out.getvalue().rstrip("\n")


def _cell(value: object) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)


def universe_heading(table: str, moment: Moment, count: int, begins_at: str | None) -> str:
    """`universe of ... as of ...: N assets (history begins ...)`."""
    return (
        f"{count:,} assets in {table} as of {moment.label} (changes up to "
        f"{moment.last_included}); history begins {begins_at}"
    )


def steps_text(symbol: str, table: str, found: Sequence[Step]) -> str:
    """`show SYMBOL --history`: each version, oldest first, with what changed."""
    asset_ids = list(dict.fromkeys(step.version.asset_id for step in found))
    lines = [
        f"{symbol} in {table}: {len(found)} versions of {len(asset_ids)} "
        f"asset{'s' if len(asset_ids) != 1 else ''} ({', '.join(asset_ids)}), oldest first"
    ]
    for step in found:
        version = step.version
        run = f"run {version.run_seq}" if version.run_seq is not None else "hand edit"
        what = version.sync_action or ("removed" if version.removed else "edit")
        lines.append(
            f"  {run:<10} {version.changed_at[:19].replace('T', ' ')}  {version.symbol:<8} "
            f"{what} ({version.reason})  asset {version.asset_id}"
        )
        lines.append(f"      {_changes(step)}")
    return lines_to_text(lines)


def _changes(step: Step) -> str:
    changes = dict(step.changes)
    if "symbol" in changes and changes["symbol"][0] is None:  # the asset's first version
        shown = [f"{name} {json.dumps(changes[name][1])}" for name in SUMMARY if name in changes]
        return "first version: " + ", ".join(shown)
    if not changes:
        return "no owned attribute changed"
    return ", ".join(
        f"{name} {json.dumps(old)} -> {json.dumps(new)}" for name, (old, new) in changes.items()
    )
