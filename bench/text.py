"""How figures are written in docs/benchmarks.md: operations, units, sizes."""

from __future__ import annotations

from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS
from bench.records import Cell

OP_SHORT = {  # in the order the report lists operations
    "GetItem": "Get",
    "BatchGetItem": "BatchGet",
    "Query": "Query",
    "Scan": "Scan",
    "PutItem": "Put",
    "UpdateItem": "Update",
    "BatchWriteItem": "BatchWrite",
    "TransactWriteItems": "TransactWrite",
}
_ORDER = list(OP_SHORT)


def op_order(operation: str) -> int:
    """Where an operation goes in a list of requests (unknown ones last)."""
    return _ORDER.index(operation) if operation in _ORDER else len(_ORDER)


def op_short(operation: str) -> str:
    """`BatchGet` for `BatchGetItem`."""
    return OP_SHORT.get(operation, operation)


def requests_text(entry: Cell, writes_only: bool = False, reads_only: bool = False) -> str:
    """`Query 7, Update 1, TransactWrite 1`: median requests by operation."""
    names = sorted({op for run in entry.runs for op in run.requests}, key=op_order)
    if writes_only or reads_only:
        names = [op for op in names if (op in WRITE_OPERATIONS) == writes_only]
    return ", ".join(f"{op_short(op)} {entry.median_requests(op):,.0f}" for op in names)


def rcu_text(value: float) -> str:
    """Read units: one decimal below 100."""
    return f"{value:,.1f}" if value < 100 else f"{value:,.0f}"


def mb(value: float) -> str:
    """Bytes as MB (or kB below 0.1 MB)."""
    return f"{value / 1e6:.1f} MB" if value >= 1e5 else f"{value / 1e3:.0f} kB"


def short(value: float, seconds: bool) -> str:
    """A bar label: `12k`, `1.2k`, `3.4` (seconds under 10), `120`."""
    if value >= 10_000:
        return f"{value / 1000:.0f}k"
    if value >= 1_000:
        return f"{value / 1000:.1f}k"
    if seconds and value < 10:
        return f"{value:.1f}"
    return f"{value:.0f}"


def mark(ok: bool) -> str:
    """A target's verdict."""
    return "**met**" if ok else "**missed**"
