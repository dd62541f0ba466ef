"""The publisher's retries: which failures it retries, and that it never outlives its deadline."""

from __future__ import annotations

import random
from typing import Any

import pytest
from botocore.exceptions import ReadTimeoutError
from tests.support.fake_eventbridge import (
    FakeEventBridge,
    accept,
    entries,
    entry_errors,
    in_turn,
    raising,
    request_error,
    symbol_of,
)
from tests.support.sim_clock import SimClock

from asset_sync.events.clock import Deadline
from asset_sync.events.publisher import REQUEST_SECONDS, Publisher


def publisher(client: FakeEventBridge) -> Publisher:
    return Publisher(
        client,  # type: ignore[arg-type]
        "bus",
        sleep=client.clock.sleep,
        jitter=random.Random(7),
    )


def test_entries_failed_with_retryable_codes_are_retried_alone() -> None:
    clock = SimClock(real_time=False)
    failing = {"B": "ThrottlingException", "D": "InternalFailure"}
    client = FakeEventBridge(clock, in_turn(entry_errors(failing), accept))

    outcome = publisher(client).publish(entries("A", "B", "C", "D"), Deadline.after(clock, 60))

    assert outcome.published == {0, 1, 2, 3}
    assert (outcome.refused, outcome.pending) == ({}, {})
    assert client.requests == [["A", "B", "C", "D"], ["B", "D"]]


@pytest.mark.parametrize(
    "code",
    [
        "AccessDeniedException",
        "MalformedDetail",
        "InvalidArgument",
        "NotAuthorizedForSourceException",
    ],
)
def test_entries_refused_with_a_non_retryable_code_are_not_retried(code: str) -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, entry_errors({"B": code}))

    outcome = publisher(client).publish(entries("A", "B", "C"), Deadline.after(clock, 60))

    assert outcome.published == {0, 2}
    assert outcome.refused == {1: code}
    assert client.requests == [["A", "B", "C"]]


@pytest.mark.parametrize(
    "code", ["ThrottlingException", "AccessDeniedException", "ResourceNotFoundException"]
)
def test_a_failing_request_is_retried_until_the_deadline_and_never_past_it(code: str) -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, request_error(code), latency=REQUEST_SECONDS)
    deadline = Deadline.after(clock, 58)

    outcome = publisher(client).publish(entries("A", "B"), deadline)

    assert outcome.published == set()
    assert outcome.pending == {0: code, 1: code}
    assert len(client.requests) >= 3  # retried, with backoff
    assert clock.monotonic() <= deadline.at  # even with every request taking its longest
    assert all(start + REQUEST_SECONDS <= deadline.at for start in client.started_at)


def test_backoff_grows_and_stays_bounded() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, request_error("ThrottlingException"), latency=0.0)

    outcome = publisher(client).publish(entries("A"), Deadline.after(clock, 600))

    gaps = [b - a for a, b in zip(client.started_at, client.started_at[1:], strict=False)]
    assert outcome.rounds == len(client.requests) > 10
    assert max(gaps) <= 20.0
    assert sum(gaps[-5:]) > sum(gaps[:5])  # later waits are longer


def test_a_timeout_is_retried_like_throttling() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, in_turn(raising(timeout()), accept))

    outcome = publisher(client).publish(entries("A"), Deadline.after(clock, 60))

    assert outcome.published == {0}
    assert len(client.requests) == 2


def timeout() -> ReadTimeoutError:
    return ReadTimeoutError(endpoint_url="http://events")


def test_an_invalid_request_is_split_and_only_the_guilty_entry_is_refused() -> None:
    clock = SimClock(real_time=False)

    def answer(request: list[dict[str, Any]]) -> dict[str, Any]:
        if "BAD" in [symbol_of(e) for e in request]:
            return request_error("ValidationException")(request)
        return accept(request)

    client = FakeEventBridge(clock, answer)

    outcome = publisher(client).publish(entries("A", "BAD", "C"), Deadline.after(clock, 60))

    assert outcome.published == {0, 2}
    assert outcome.refused == {1: "ValidationException"}
    assert client.requests == [["A", "BAD", "C"], ["A"], ["BAD"], ["C"]]


def test_nothing_is_sent_when_the_deadline_leaves_no_room_for_a_request() -> None:
    clock = SimClock(real_time=False)
    client = FakeEventBridge(clock, accept)

    outcome = publisher(client).publish(entries("A"), Deadline.after(clock, REQUEST_SECONDS - 1))

    assert client.requests == []
    assert outcome.pending == {0: "NotSent"}
