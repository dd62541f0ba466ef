"""Fixtures of the unit suite."""

from __future__ import annotations

import pytest
from tests.support.identity_harness import NewIdentityHarness
from tests.support.identity_memory import MemoryIdentityHarness


@pytest.fixture
def identity_harness() -> NewIdentityHarness:
    """Makes a new identity harness on an empty table: the real planner, identity rule and
    applier over the strict memory store, events from the consumer's own transform."""
    return MemoryIdentityHarness
