"""What a run wrote (or, dry, would write), counted into its report.

`preview` computes a plan's writes without sending them; `tally` adds what the writes did (or
would do) to the report's counters, one final action per item.
"""

from __future__ import annotations

from asset_sync.contract import Count
from asset_sync.logic.apply import ApplyOutcome, RunIdentity
from asset_sync.logic.apply_groups import member_action, write_change
from asset_sync.logic.item_writes import diff_item, is_archive, member_writes
from asset_sync.logic.models import ItemChange
from asset_sync.logic.planning import Action, ItemPlan, Plan
from asset_sync.logic.ports import AssetStore
from asset_sync.logic.report import RunReport

# The counter each item's final action adds to (None: not counted by itself).
COUNTERS: dict[Action, Count | None] = {
    Action.CREATE: Count.CREATED,
    Action.UPDATE: Count.UPDATED,
    Action.REACTIVATE: Count.REACTIVATED,
    Action.DELIST: Count.DELISTED,
    Action.REPAIR: Count.REPAIRED,
    Action.RENAME: Count.RENAMED,
    Action.ARCHIVE: None,  # counted as archived below
    Action.DEPART: None,  # the old side of a rename: the rename is counted once, on arrival
    Action.UNCHANGED: Count.UNCHANGED,
    Action.SUPERSEDED: Count.SUPERSEDED,
    Action.GONE: Count.VANISHED,
}


def preview(store: AssetStore, plan: Plan, run: RunIdentity) -> ApplyOutcome:
    """What applying `plan` would write, item by item, writing nothing (it reads the items)."""
    wanted = [i.symbol for i in plan.writes if i.current is not None]
    olds = store.get_items([*wanted, *(s for g in plan.groups for s in g.reads)])
    outcome = ApplyOutcome()
    for item in plan.writes:
        old = olds.get(item.symbol)
        if old is None:
            outcome.changes[item.symbol] = ItemChange(item.action.value)
        else:
            outcome.changes[item.symbol] = diff_item(item, old, run.timestamp, run.run_seq).change
        outcome.done[item.symbol] = item.action
    for group in plan.groups:
        planned = member_writes(group, olds, run.timestamp, run.run_seq)
        for member, member_write in zip(group.members, planned, strict=True):
            outcome.changes[member.symbol] = write_change(member_write)
            outcome.done[member.symbol] = member_action(member)
    return outcome


def tally(report: RunReport, outcome: ApplyOutcome) -> None:
    """Add the writes' outcome to the report: each item's final action to its counter (an
    archive item's write is `archived`, and also `delisted` when its asset was active)."""
    for symbol, action in outcome.done.items():
        name = COUNTERS[action]
        if name is not None:
            setattr(report, name, getattr(report, name) + 1)
        if is_archive(symbol) and action in (Action.ARCHIVE, Action.DELIST):
            report.archived += 1
    report.changes = outcome.changes
    report.failures = outcome.failures
    report.failed = len(outcome.failures)
    report.not_written = len(outcome.not_attempted)
    report.conflicts_resolved = outcome.conflicts_resolved


def delisting_candidates(plan: Plan) -> list[ItemPlan]:
    """What the plan would turn inactive: the active items missing from the list, and the
    active holders of reused tickers (displaced, listed nowhere)."""
    displaced = [m.source for group in plan.groups for m in group.delistings if m.source]
    return [*plan.delists, *(ItemPlan(symbol, Action.DELIST) for symbol in displaced)]
