"""An in-process EventBridge client for unit tests: scripted PutEvents answers on a clock."""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import ClientError
from tests.support.sim_clock import SimClock

from asset_sync.events.entries import make_entry

Answer = Callable[[list[dict[str, Any]]], dict[str, Any]]


def entries(*symbols: str) -> list[dict[str, Any]]:
    return [make_entry("Asset Listed", {"symbol": symbol}) for symbol in symbols]


def symbol_of(entry: dict[str, Any]) -> str:
    return str(json.loads(entry["Detail"])["symbol"])


def accept(request: list[dict[str, Any]]) -> dict[str, Any]:
    return {"FailedEntryCount": 0, "Entries": [{"EventId": "e"} for _ in request]}


def request_error(code: str) -> Answer:
    def answer(request: list[dict[str, Any]]) -> dict[str, Any]:
        raise ClientError({"Error": {"Code": code, "Message": "no"}}, "PutEvents")

    return answer


def entry_errors(codes: dict[str, str]) -> Answer:
    """Fails the entries whose symbol is in `codes` with that code; accepts the others."""

    def answer(request: list[dict[str, Any]]) -> dict[str, Any]:
        results = [
            {"ErrorCode": codes[symbol_of(e)]} if symbol_of(e) in codes else {"EventId": "e"}
            for e in request
        ]
        return {"FailedEntryCount": sum("ErrorCode" in r for r in results), "Entries": results}

    return answer


@dataclass
class FakeEventBridge:
    """Answers each put_events with `answer(entries)`, taking `latency` seconds of the clock."""

    clock: SimClock
    answer: Answer
    latency: float = 0.05
    requests: list[list[str]] = field(default_factory=list)
    started_at: list[float] = field(default_factory=list)

    def put_events(self, Entries: list[dict[str, Any]]) -> dict[str, Any]:  # noqa: N803
        self.started_at.append(self.clock.monotonic())
        self.requests.append([symbol_of(entry) for entry in Entries])
        assert all(entry["EventBusName"] == "bus" for entry in Entries)
        self.clock.advance(self.latency)
        return self.answer(Entries)


def in_turn(*answers: Answer) -> Answer:
    """Each request gets the next answer; the last one answers every request after."""
    queue = list(answers)

    def answer(request: list[dict[str, Any]]) -> dict[str, Any]:
        current = queue.pop(0) if len(queue) > 1 else queue[0]
        return current(request)

    return answer


def raising(error: Exception) -> Answer:
    """Every request raises `error` (a timeout, a dropped connection)."""

    def answer(request: list[dict[str, Any]]) -> dict[str, Any]:
        raise error

    return answer
