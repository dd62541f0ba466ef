"""Human-readable text for the CLI and the demo (one module both import; no I/O).

Every line goes through `safe`, so catalog text (symbols, names, reasons in messages) reaches a
terminal with control characters shown as escapes: an `ESC [2J` in a symbol cannot clear a
screen, and a bidi override cannot reorder a line.
"""

from __future__ import annotations

import unicodedata
from collections.abc import Iterable, Mapping
from typing import Any

from asset_sync.contract import Count, Outcome
from asset_sync.logic.report import RunReport

MAX_CHANGES_SHOWN = 25
_ESCAPED_CATEGORIES = frozenset({"Cc", "Cf", "Zl", "Zp", "Cs", "Co", "Cn"})


def safe(text: object) -> str:
    """`text` with every control or formatting character written as an escape (`\\x1b`)."""
    out = []
    for char in str(text):
        if unicodedata.category(char) in _ESCAPED_CATEGORIES:
            code = ord(char)
            out.append(f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}")
        else:
            out.append(char)
    return "".join(out)


def lines_to_text(lines: Iterable[str]) -> str:
    """Join lines, each made safe (the line breaks between them are ours)."""
    return "\n".join(safe(line) for line in lines)


def render_report(report: RunReport) -> str:
    """A readable summary of a run."""
    dry = "dry run, " if report.dry_run else ""
    full = "full reconciliation, " if report.full else ""
    number = f"run number {report.run_seq}" if report.run_seq is not None else "no run number"
    lines = [
        f"sync {report.last_sync_timestamp} ({dry}{full}{number}, id {report.run_id[:8]}): "
        f"{report.outcome} in {report.duration_seconds:.1f} s",
        f"  scope {', '.join(report.scope)}; DynamoDB region {report.region} ({report.endpoint})",
        f"  fetched {report.fetched:,} records: {report.valid:,} valid, {report.invalid:,} "
        f"invalid, {report.duplicate_records:,} of duplicate symbols, "
        f"{report.id_conflict_records:,} sharing an asset id"
        + (f"; {report.blocked:,} left out" if report.blocked else ""),
        f"  {'would write' if report.dry_run else 'wrote'}: created {report.created:,}, "
        f"updated {report.updated:,}, reactivated {report.reactivated:,}, "
        f"delisted {report.delisted:,}, renamed {report.renamed:,}, "
        f"repaired {report.repaired:,}"
        + (f", archived {report.archived:,}" if report.archived else "")
        + f"; unchanged {report.unchanged:,}"
        + (f"; superseded {report.superseded:,}" if report.superseded else "")
        + (f"; vanished {report.vanished:,}" if report.vanished else "")
        + (f"; not written {report.not_written:,}" if report.not_written else ""),
        f"  DynamoDB: {report.dynamodb_write_requests:,} write requests, "
        f"{report.dynamodb_requests:,} requests in all, {report.dynamodb_retries:,} retries; "
        f"Alpaca: {report.alpaca_attempts:,} requests",
    ]
    if report.outcome == Outcome.REFUSED and report.delist_candidates:
        lines.append(
            f"  would delist {report.delist_candidates:,} of {report.active_in_scope:,} active "
            f"assets in scope: {_first(report.delist_candidate_symbols)}"
        )
    elif report.delist_candidates:
        lines.append(
            f"  delisting: {report.delist_candidates:,} candidates, "
            f"{report.delist_lookups:,} looked up with Alpaca"
        )
    lines += [f"  warning: {warning}" for warning in report.warnings]
    if report.message:
        lines.append(f"  {report.message}")
    for rename in report.renames[:MAX_CHANGES_SHOWN]:
        lines.append(f"  renamed: {rename['from']} -> {rename['to']} (asset {rename['asset_id']})")
    for moved in report.reassignments[:MAX_CHANGES_SHOWN]:
        lines.append(
            f"  reassigned: {moved['symbol']} from asset {moved['from']} to asset {moved['to']}"
        )
    for symbol, why in sorted(report.blocked_records.items())[:MAX_CHANGES_SHOWN]:
        lines.append(f"  left out: {symbol}: {why}")
    if report.kept_active:
        lines.append(f"  kept (Alpaca still reports them active): {_first(report.kept_active)}")
    if report.unconfirmed:
        lines.append(f"  kept (not confirmed with Alpaca): {_first(report.unconfirmed)}")
    for conflict in report.id_conflicts[:10]:
        lines.append(
            f"  asset id {conflict['asset_id']} on several catalog symbols, left as they are: "
            f"{', '.join(conflict['symbols'])}"
        )
    created = sorted(s for s, c in report.changes.items() if c.action in ("create", "list"))
    if created:
        more = f" (+{len(created) - 10:,} more)" if len(created) > 10 else ""
        lines.append(f"  created: {', '.join(created[:10])}{more}")
    changed = sorted(s for s, c in report.changes.items() if c.action not in ("create", "list"))
    if changed:
        lines.append(f"  changes ({len(changed):,}; first {MAX_CHANGES_SHOWN}):")
        for symbol in changed[:MAX_CHANGES_SHOWN]:
            change = report.changes[symbol].to_json()
            fields = change.get("fields", {})
            detail = ", ".join(
                f"{name}: {value['old']!r} -> {value['new']!r}"
                for name, value in (fields.items() if isinstance(fields, dict) else [])
            )
            lines.append(f"    {symbol:<12} {change['action']:<10} {detail}")
    for record in report.invalid_records[:10]:
        symbol = f" ({record.symbol})" if record.symbol is not None else ""
        lines.append(f"  invalid record #{record.index}{symbol}: {record.reason}")
    if report.duplicates:
        lines.append(f"  duplicate symbols (left as they were): {_first(report.duplicates)}")
    for symbol, failure in sorted(report.failures.items())[:10]:
        lines.append(f"  failed {symbol}: {failure}")
    return lines_to_text(lines)


def _first(symbols: list[str], limit: int = 20) -> str:
    more = f" (+{len(symbols) - limit:,} more)" if len(symbols) > limit else ""
    return ", ".join(symbols[:limit]) + more


def render_counts(record: Mapping[str, Any]) -> str:
    """`fetched 12,000, valid 11,998, created 3, ..., duplicate records 2` for a stored run
    record: fetched = valid + invalid + duplicate records + id conflict records."""
    names = (
        Count.FETCHED,
        Count.VALID,
        Count.CREATED,
        Count.UPDATED,
        Count.REACTIVATED,
        Count.DELISTED,
        Count.RENAMED,
        Count.ARCHIVED,
        Count.REPAIRED,
        Count.UNCHANGED,
        Count.INVALID,
        Count.DUPLICATE_RECORDS,
        Count.ID_CONFLICT_RECORDS,
        Count.BLOCKED,
        Count.FAILED,
        Count.NOT_WRITTEN,
    )
    return ", ".join(
        f"{name.replace('_', ' ')} {record[name]:,}"
        for name in names
        if isinstance(record.get(name), int)
        and (record[name] or name in (Count.FETCHED, Count.VALID))
    )
