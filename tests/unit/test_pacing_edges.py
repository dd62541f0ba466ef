"""Pacing and backoff (logic/pacing.py) at their edges: whose generator draws the jitter, and a
caller whose slot has already come."""

from __future__ import annotations

import random
from types import SimpleNamespace

import pytest

from asset_sync.logic import pacing
from asset_sync.logic.pacing import Pacer, full_jitter


def test_a_given_generator_draws_the_jitter() -> None:
    drawn = full_jitter(3, 0.5, 5.0, random.Random(7))
    assert drawn == random.Random(7).uniform(0, 4.0)  # min(5.0, 0.5 * 2**3)
    assert full_jitter(3, 0.5, 5.0, random.Random(7)) == drawn  # reproducible


def test_a_caller_whose_slot_has_come_neither_sleeps_nor_stops(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(pacing, "time", SimpleNamespace(monotonic=lambda: 100.0))  # frozen
    slept: list[float] = []
    pacer = Pacer(2.0, sleep=lambda seconds: slept.append(seconds) or True)  # "stop" if asked

    assert pacer.wait() is False and slept == []  # its slot is now: no sleep to cut short
    assert pacer.wait() is True and slept == [0.5]  # the next one waits, and is told to stop
