"""Stopping at a deadline and stale leases: the Lambda handler near its time limit, a handler that
dies at it, `unlock` / `status` / the lease-held message after a run was SIGKILLed, and a stalled
run whose lease ran out while boto3 retried its write.

The handler runs in process with a context whose remaining time is short (36 s: it may write for
6 s, at 20 writes/s, of a plan that needs 14 s), or as a child (`tests.support.fast_cli
--handler`, `FAKE_LAMBDA_REMAINING_MS`) when it must die without cleaning up (31 s left: with
less than the 30 s margin a run stops before it even fetches).
"""

from __future__ import annotations

import json
import re
import signal
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import replace
from datetime import UTC, datetime
from typing import Any

import pytest
from tests.support import Env, run_cli
from tests.support.lambda_invocation import LambdaContext
from tests.support.lifecycle import (
    DAY1,
    ISO,
    Expected,
    WriteWatch,
    split_items,
    start_sync,
    written,
)
from tests.support.reliability import (
    REPO_ROOT,
    child_env,
    cli_command,
    kill,
    owned_view,
    reference_views,
    wait_for_lease_expiry,
    wait_until,
)

from asset_sync import handler
from asset_sync.local.dynamo_proxy import DynamoProxy
from asset_sync.local.stand_in import Fault
from asset_sync.logic.sync import LeaseHeldError, RunInterruptedError, SyncError
from asset_sync.wiring import build_run

EVENT = {"id": "evt-deadline", "source": "aws.events", "detail-type": "Scheduled Event"}


@pytest.fixture(scope="module")
def expected(moto_url: str) -> Expected:
    """Owned attributes after a clean day-1 run (a separate table)."""
    return Expected(reference_views(moto_url, DAY1)[0], {})


@pytest.fixture
def watch(moto_url: str, env: Env) -> Iterator[WriteWatch]:
    with WriteWatch(moto_url, env.settings.assets_table) as proxy:
        yield proxy


def function_env(monkeypatch: pytest.MonkeyPatch, env: Env, **extra: str) -> None:
    """The function's environment (keys from the environment, not Secrets Manager)."""
    for name, value in {**env.cli_env(), "SYNC_STATE_TABLE": env.settings.state_table}.items():
        monkeypatch.setenv(name, value)
    monkeypatch.delenv("ALPACA_SECRET_ID", raising=False)
    for name, value in extra.items():
        monkeypatch.setenv(name, value)
    handler.base_settings.cache_clear()


class LeaseWatcher:
    """Reads the state item every 0.1 s in a thread; remembers the latest lease expiry seen."""

    def __init__(self, env: Env) -> None:
        self.env = env
        self.latest_expiry = 0
        self._done = threading.Event()
        self._thread = threading.Thread(target=self._watch, daemon=True)

    def _watch(self) -> None:
        while not self._done.wait(0.1):
            expires = self.env.state.read().lock_expires_at
            if expires is not None:
                self.latest_expiry = max(self.latest_expiry, int(expires))

    def __enter__(self) -> LeaseWatcher:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)


# -- the Lambda deadline --------------------------------------------------------------------------


def test_a_lambda_run_near_its_deadline_stops_30_s_before_it_raises_and_its_retry_completes(
    env: Env,
    expected: Expected,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    env.serve(DAY1)
    planned = len(expected.day1)
    function_env(monkeypatch, env, MAX_WRITES_PER_SECOND="20")  # the plan needs 14 s
    remaining = 36.0
    wall_deadline = time.time() + remaining
    started = time.monotonic()

    with LeaseWatcher(env) as lease, pytest.raises(RunInterruptedError) as raised:
        handler.lambda_handler(EVENT, LambdaContext(remaining_ms=int(remaining * 1000)))  # type: ignore[arg-type]
    took = time.monotonic() - started

    # stopped writing at the margin: not before it, and well before the deadline (generous)
    assert 5.0 <= took < remaining - 20, took
    report = raised.value.report
    assert report.outcome == "interrupted"
    assert raised.value.reason == "the deadline was near"
    assert 0 < written(report.counts()) < planned
    assert written(report.counts()) + report.not_written == planned
    _, news = split_items(env.snapshot(), {}, expected.day1)
    assert len(news) == written(report.counts())
    state = env.state.read()
    assert state.lock_owner is None
    assert state.last_run_outcome == "interrupted"
    assert state.last_run is not None and written(state.last_run) == len(news)
    assert 0 < lease.latest_expiry <= wall_deadline + 10 + 1  # never past the deadline + 10 s
    assert "SyncInterrupted" in capsys.readouterr().out  # the metric of the outcome

    function_env(monkeypatch, env)  # the retry, with the default pace and a whole time limit
    result = handler.lambda_handler(EVENT, LambdaContext())  # type: ignore[arg-type]

    assert result["outcome"] == "succeeded"  # not `skipped`
    assert result["created"] == planned - len(news)
    assert owned_view(env.snapshot()) == expected.day1


def test_a_lambda_run_that_dies_at_its_deadline_blocks_the_retry_for_seconds_not_minutes(
    env: Env, expected: Expected, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The invocation has 31 s left; it hangs fetching the catalog and is killed (as Lambda kills
    it at its timeout): no cleanup, the lease stays. It may outlive the deadline by 10 s only
    (not the 900 s lease), so an attempt soon after is not `skipped`."""
    env.serve(DAY1)
    env.stand_in.script(*[Fault.slow(60)] * 10, route="list")
    handler_env = child_env(
        {**env.cli_env(), "SYNC_STATE_TABLE": env.settings.state_table},
        FAKE_LAMBDA_REMAINING_MS="31000",
    )
    process = subprocess.Popen(
        cli_command("--handler"),
        env=handler_env,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    try:
        held = wait_until(
            lambda: env.state.read().lock_owner is not None or process.poll() is not None, 60, 0.02
        )
    finally:
        kill(process)
    assert held and process.returncode == -signal.SIGKILL, "the handler ended before its kill"

    lease = env.state.read()
    assert lease.lock_expires_at is not None and lease.lock_acquired_at is not None
    acquired = datetime.strptime(lease.lock_acquired_at, "%Y-%m-%dT%H:%M:%SZ").replace(tzinfo=UTC)
    # taken with at most 31 s left: it expires at most 10 s after the deadline (+1: whole seconds)
    assert lease.lock_expires_at <= acquired.timestamp() + 31 + 10 + 1, lease.describe_lock()
    with pytest.raises(LeaseHeldError):  # until then the lease holds: a retry too soon skips
        build_run(env.settings).run()
    wait_for_lease_expiry(env, timeout=60)
    env.stand_in.clear_faults()
    function_env(monkeypatch, env)
    result = handler.lambda_handler(EVENT, LambdaContext())  # type: ignore[arg-type]

    assert result["outcome"] == "succeeded"
    assert result["created"] == len(expected.day1)
    assert owned_view(env.snapshot()) == expected.day1


# -- stale leases: status, the lease-held message, unlock -----------------------------------------


def kill_holding_the_lease(env: Env, watch: WriteWatch, lease_seconds: int) -> str:
    """Start a sync, SIGKILL it once it wrote 10 items; the dead holder's run id."""
    process = start_sync(env, watch, SYNC_LOCK_LEASE_SECONDS=str(lease_seconds))
    try:
        assert wait_until(lambda: watch.applied >= 10 or process.poll() is not None, 60, 0.002)
    finally:
        kill(process)
    assert process.returncode == -signal.SIGKILL
    watch.settled()
    owner = env.state.read().lock_owner
    assert owner is not None
    return owner


def test_a_dead_holders_lease_is_shown_named_refused_then_cleared_by_unlock_force(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    env.serve(DAY1)
    owner = kill_holding_the_lease(env, watch, lease_seconds=300)
    holder = rf"run {owner} \(number 1\), lease until {ISO} \((\d+) s left\)"

    status = run_cli("status", env=env.cli_env())  # no run has completed yet
    assert status.code == 0, status.stderr
    assert "no sync has recorded a run yet" in status.stdout
    shown = re.search(rf"a sync holds the run lease: {holder}", status.stdout)
    assert shown and 250 < int(shown.group(1)) <= 300, status.stdout
    as_json = run_cli("status", "--json", env=env.cli_env()).json()
    assert as_json["lock_owner"] == owner
    assert re.fullmatch(ISO, as_json["lock_expires_at_iso"])
    assert 250 < as_json["lock_seconds_left"] <= 300

    blocked = run_cli("sync", env=env.cli_env())
    assert blocked.code == 4
    assert re.search(rf"another sync holds the run lease: {holder}", blocked.stderr)

    refused = run_cli("unlock", env=env.cli_env())
    assert refused.code == 1
    assert re.search(rf"not cleared: {holder}; it has not expired", refused.stderr)
    assert env.state.read().lock_owner == owner

    forced = run_cli("unlock", "--force", env=env.cli_env())
    assert forced.code == 0, forced.stderr
    assert re.fullmatch(rf"cleared the run lease of {holder}\n", forced.stdout)
    assert env.state.read().lock_owner is None

    after = run_cli("sync", "--json", env=env.cli_env())  # at once
    assert after.code == 0, after.stderr
    assert after.json()["outcome"] == "succeeded"
    assert after.json()["created"] == len(expected.day1) - watch.applied
    assert owned_view(env.snapshot()) == expected.day1


def test_unlock_without_force_clears_a_lease_once_it_expired(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    env.serve(DAY1)
    owner = kill_holding_the_lease(env, watch, lease_seconds=5)
    wait_for_lease_expiry(env)

    cleared = run_cli("unlock", env=env.cli_env())
    assert cleared.code == 0, cleared.stderr
    assert re.fullmatch(
        rf"cleared the run lease of run {owner} \(number 1\), lease until {ISO} "
        r"\(expired \d+ s ago\)\n",
        cleared.stdout,
    )
    again = run_cli("unlock", env=env.cli_env())
    assert again.code == 0
    assert again.stdout == "no sync holds the run lease; nothing to clear\n"
    assert run_cli("sync", env=env.cli_env()).code == 0
    assert owned_view(env.snapshot()) == expected.day1


@pytest.mark.parametrize("force", [False, True], ids=["expired", "force"])
def test_unlock_never_clears_a_lease_taken_after_it_looked(
    env: Env, monkeypatch: pytest.MonkeyPatch, force: bool
) -> None:
    env.hold_lease("dead-run", seconds=-5)  # expired
    stale = env.state.read()
    env.hold_lease("new-run", seconds=600)  # a newer run takes the expired lease
    reads = iter([stale])
    real_read = env.state._read  # what unlock reads through (read() is its public wrapper)
    monkeypatch.setattr(env.state, "_read", lambda: next(reads, None) or real_read())

    view, cleared = env.state.unlock(force=force)

    assert not cleared
    assert view.lock_owner == "new-run"
    assert real_read().lock_owner == "new-run"


# -- never write out of turn ----------------------------------------------------------------------


class StalledDynamo(DynamoProxy):
    """What a DynamoDB in trouble does to the slow run: every write of one item is answered
    ThrottlingException while `blocking`, and every lease renewal takes `renew_stall` seconds
    and then fails with an error boto3 does not retry. Notes when each asset write landed."""

    def __init__(self, upstream: str, table: str, symbol: str) -> None:
        super().__init__(upstream)
        self.table, self.symbol = table, symbol
        self.blocking = True
        self.renew_stall = 6.0
        self.refused = 0
        self.landed: list[tuple[float, str]] = []

    def _forward(
        self, method: str, path: str, headers: Any, body: bytes
    ) -> tuple[int, bytes, dict[str, str]]:
        request = json.loads(body or b"{}")
        if request.get("UpdateExpression") == "SET lock_expires_at = :expires":
            time.sleep(self.renew_stall)
            return error_reply("com.amazonaws.dynamodb.v20120810#ValidationException")
        operation = str(headers.get("X-Amz-Target", "")).rsplit(".", 1)[-1]
        if request.get("TableName") != self.table or operation not in ("PutItem", "UpdateItem"):
            return super()._forward(method, path, headers, body)
        symbol = (request.get("Key") or request.get("Item") or {}).get("symbol", {}).get("S")
        if symbol == self.symbol and self.blocking:
            self.refused += 1
            return error_reply("com.amazon.coral.availability#ThrottlingException")
        reply = super()._forward(method, path, headers, body)
        if reply[0] == 200:
            self.landed.append((time.monotonic(), str(symbol)))
        return reply


def error_reply(error_type: str) -> tuple[int, bytes, dict[str, str]]:
    payload = json.dumps({"__type": error_type, "message": "injected by the test"}).encode()
    return 400, payload, {"content-type": "application/x-amz-json-1.0"}


def test_no_write_of_a_run_whose_lease_ran_out_lands_after_a_newer_run_took_it(
    env: Env, moto_url: str
) -> None:
    """The slow run (5 s lease, 2 writes/s, 20 changes) is stalled: its first item's write is
    throttled (boto3 keeps retrying it) and its renewal hangs 6 s, then fails, while its lease
    runs out. A newer run, whose catalog is the table's, takes the lease and succeeds; then the
    throttling ends. No write of the slow run may land after the newer run started: neither a
    retry boto3 makes, nor the write that waited for the failed renewal."""
    catalog = DAY1[:20]
    env.serve(catalog)
    build_run(env.settings).run()
    symbol = str(catalog[0]["symbol"])
    older = [{**a, "name": f"{a['name']} (old run)"} for a in catalog]
    outcome: list[BaseException | None] = []

    with StalledDynamo(moto_url, env.settings.assets_table, symbol) as proxy:
        slow = replace(
            env.settings,
            dynamodb_endpoint_url=proxy.url,
            lock_lease_seconds=5,
            max_writes_per_second=2.0,
        )
        env.serve(older)

        def slow_run() -> None:
            try:
                build_run(slow).run()
                outcome.append(None)
            except BaseException as error:  # reported below
                outcome.append(error)

        thread = threading.Thread(target=slow_run, daemon=True)
        thread.start()
        assert wait_until(lambda: proxy.refused >= 1, 30, 0.01)
        wait_for_lease_expiry(env, timeout=15)
        env.serve(catalog)  # the newer truth: the table as it was
        newer_started = time.monotonic()
        newer = build_run(env.settings).run()
        proxy.blocking = False
        thread.join(timeout=120)

    assert not thread.is_alive()
    assert newer.outcome == "succeeded"
    late = [s for landed, s in proxy.landed if landed >= newer_started]
    assert late == [], "the old run wrote after a newer run took the lease"
    names = {symbol: item["name"] for symbol, item in owned_view(env.snapshot()).items()}
    assert names == {str(a["symbol"]): {"S": a["name"]} for a in catalog}
    assert outcome and isinstance(outcome[0], SyncError) and "lease" in str(outcome[0])
