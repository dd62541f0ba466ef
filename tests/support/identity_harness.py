"""The interface issue 19's history tests drive (tests/unit/test_identity_histories.py).

The lead wires a real implementation (the sync against moto's server and the Alpaca stand-in)
into the `identity_harness` fixture of tests/unit/conftest.py.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Protocol


class IdentityHarness(Protocol):
    """One empty table, synced run after run; other services write on it between runs."""

    def sync(self, records: Sequence[Mapping[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
        """One sync run of these catalog records (build them with
        tests.support.minimal_record(symbol, id=..., name=..., cusip=...)); every
        delisting confirmed, the guard forced; returns the (detail-type, detail) of the
        events this run's writes produce."""
        ...

    def put_foreign(self, symbol: str, name: str, value: str) -> None:
        """Another service's UpdateItem SET of one attribute on an existing item."""
        ...

    def table(self) -> dict[str, dict[str, Any]]:
        """Every item, attribute -> plain value (str, bool, Decimal, list)."""
        ...


# What the fixture gives: each call a new harness on a new, empty table (a property test
# needs one per example; a function-scoped fixture would be shared by all of them).
NewIdentityHarness = Callable[[], IdentityHarness]
