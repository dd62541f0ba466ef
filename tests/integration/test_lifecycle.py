"""Stopping the CLI sync: SIGINT and SIGTERM at seeded points during writes, two Ctrl-Cs, a newer
run started right after, a stop during the fetch, and a terminal's progress bar.

The sync runs as a child process (`python -m asset_sync.cli sync --json`, the unchanged CLI) at a
slow pace (`MAX_WRITES_PER_SECOND=40`, ~7 s for the 280 creates of day 1), its DynamoDB traffic
through `WriteWatch`, a proxy that counts asset writes as they arrive and once they are applied
(and can hold them, to make writes in flight that take seconds). The signal goes out once a
seeded number of writes was applied. After each stop:

- the process exits 130 (SIGINT) or 143 (SIGTERM) and no asset write reaches the table after it
  exited (the proxy's counts do not move afterwards);
- at most the writes in flight and those started before the signal arrived are sent after it
  (a bound of `WRITE_CONCURRENCY` + two seconds of pace, against a rest of the plan at least
  1.3 times larger, usually 2-3 times): stopping does not write the rest of the plan;
- every item is entirely old or entirely new, and the report (`--json`) and the stored run record
  count exactly the new items; the lease is given back;
- the next run, started at once, succeeds and leaves the table a clean run leaves.
"""

from __future__ import annotations

import json
import os
import pty
import random
import re
import select
import signal
import subprocess
import time
from collections.abc import Iterator

import pytest
from tests.support import Env, run_cli
from tests.support.lifecycle import (
    DAY1,
    DAY2,
    Expected,
    WriteWatch,
    signal_at,
    signal_name,
    split_items,
    start_sync,
    stop_line,
    written,
)
from tests.support.reliability import (
    REPO_ROOT,
    child_env,
    cli_command,
    finish,
    owned_view,
    reference_views,
)

from asset_sync.local.stand_in import Fault
from asset_sync.logic.sync import LeaseHeldError
from asset_sync.wiring import build_run

WRITE_CONCURRENCY = 8  # the default
AFTER_SIGNAL_BOUND = WRITE_CONCURRENCY + 2 * 40  # in flight + two seconds of the child's pace
CODES = {signal.SIGINT: 130, signal.SIGTERM: 143}


@pytest.fixture(scope="module")
def expected(moto_url: str) -> Expected:
    """Owned attributes after clean day-1 and day-2 runs (a separate table)."""
    return Expected(*reference_views(moto_url, DAY1, DAY2))


@pytest.fixture
def watch(moto_url: str, env: Env) -> Iterator[WriteWatch]:
    with WriteWatch(moto_url, env.settings.assets_table) as proxy:
        yield proxy


def planned_writes(old: dict[str, dict[str, object]], new: dict[str, dict[str, object]]) -> int:
    return sum(1 for symbol, item in new.items() if old.get(symbol) != item)


def assert_next_run_converges(env: Env, want: dict[str, dict[str, object]], left: int) -> None:
    """A run started at once (a CLI child, straight to moto) writes what was left, no more."""
    result = run_cli("sync", "--json", env=env.cli_env(), timeout=120)
    assert result.code == 0, result.stderr
    report = result.json()
    assert report["outcome"] == "succeeded"
    assert written(report) == left
    assert owned_view(env.snapshot()) == want
    assert env.state.read().lock_owner is None


@pytest.mark.parametrize(
    ("sig", "day", "seed"),
    [
        (signal.SIGINT, 1, 1),
        (signal.SIGTERM, 1, 2),
        (signal.SIGINT, 2, 3),
        (signal.SIGTERM, 2, 6),
    ],
    ids=["SIGINT-day1", "SIGTERM-day1", "SIGINT-day2", "SIGTERM-day2"],
)
def test_a_signal_during_writes_stops_records_what_was_written_and_the_next_run_converges(
    env: Env, watch: WriteWatch, expected: Expected, sig: int, day: int, seed: int
) -> None:
    old: dict[str, dict[str, object]] = {}
    if day == 2:
        env.serve(DAY1)
        build_run(env.settings).run()
        old = expected.day1
    before = env.state.read()
    new = expected.day1 if day == 1 else expected.day2
    env.serve(DAY1 if day == 1 else DAY2)
    planned = planned_writes(old, new)
    threshold = random.Random(seed).randint(5, planned // 3)

    process = start_sync(env, watch)
    signal_at(process, lambda: watch.applied >= threshold, sig)
    at_signal = watch.arrived
    result = finish(process, timeout=60)
    applied_at_exit, arrived_at_exit = watch.applied, watch.arrived

    assert result.code == CODES[sig], result.stderr
    assert watch.settled() == applied_at_exit, "a write reached the table after the exit"
    assert watch.arrived == arrived_at_exit
    assert arrived_at_exit - at_signal <= AFTER_SIGNAL_BOUND < planned - threshold
    stop_line(result.stderr, sig)
    report = result.json()
    assert report["outcome"] == "interrupted"
    assert report["failed"] == 0
    assert written(report) + report["not_written"] == planned
    assert report["not_written"] > 0
    olds, news = split_items(env.snapshot(), old, new)
    changed = {s for s in news if old.get(s) != new[s]}
    assert len(changed) == written(report) == applied_at_exit
    assert olds | news == set(old) | changed
    state = env.state.read()
    assert state.lock_owner is None, "the lease was not given back"
    assert state.last_run_outcome == "interrupted"
    assert state.last_run is not None
    assert written(state.last_run) == written(report)
    assert state.last_run["not_written"] == report["not_written"]
    assert state.last_sync_timestamp == before.last_sync_timestamp  # not advanced

    assert_next_run_converges(env, new, planned - written(report))


def test_two_ctrl_cs_while_writes_are_in_flight_skip_nothing_and_the_lease_outlives_the_writes(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    env.serve(DAY1)
    planned = len(expected.day1)
    watch.hold_after = random.Random(5).randint(10, 60)
    watch.hold_seconds = 3.0  # every later write is in flight for 3 s

    process = start_sync(env, watch)
    signal_at(process, lambda: watch.holding >= 1, signal.SIGINT)
    time.sleep(0.3)
    assert watch.holding >= 1
    process.send_signal(signal.SIGINT)
    # a newer run while the old one waits for its writes: the lease is still held
    with pytest.raises(LeaseHeldError, match=r"holds the run lease: run .* lease until"):
        build_run(env.settings).run()
    assert watch.holding >= 1, "the writes in flight ended before the newer run tried"
    result = finish(process, timeout=60)
    applied_at_exit = watch.applied

    assert result.code == 130, result.stderr
    in_flight = re.findall(r"still stopping, (\d+) writes in flight", result.stderr)
    assert in_flight and int(in_flight[0]) >= 1, result.stderr
    stop_line(result.stderr, signal.SIGINT)
    assert watch.settled() == applied_at_exit == watch.arrived  # every held write finished first
    report = result.json()
    assert report["outcome"] == "interrupted"
    _, news = split_items(env.snapshot(), {}, expected.day1)
    assert len(news) == written(report) == applied_at_exit
    assert report["created"] + report["not_written"] == planned
    assert env.state.read().lock_owner is None

    assert_next_run_converges(env, expected.day1, planned - written(report))


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=signal_name)
def test_a_signal_while_fetching_stops_at_once_and_writes_nothing(
    env: Env, watch: WriteWatch, expected: Expected, sig: int
) -> None:
    env.serve(DAY1)
    env.stand_in.script(Fault.slow(30), route="list")  # the catalog takes 30 s to arrive

    process = start_sync(env, watch)
    signal_at(process, lambda: env.stand_in.list_requests >= 1, sig)
    sent = time.monotonic()
    result = finish(process, timeout=60)
    took = time.monotonic() - sent

    assert result.code == CODES[sig], result.stderr
    assert took < 15, f"stopping waited {took:.1f} s for the 30 s response"  # generous
    assert f"stopped ({signal_name(sig)}) before writing anything" in result.stderr
    assert result.json()["outcome"] == "interrupted"
    assert watch.settled() == 0 and watch.arrived == 0
    assert env.snapshot() == {}
    state = env.state.read()
    assert state.lock_owner is None and state.last_run_outcome == "interrupted"

    assert_next_run_converges(env, expected.day1, len(expected.day1))


def test_a_cli_deadline_stops_writing_30_s_before_it_and_exits_1(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    env.serve(DAY1)
    planned = len(expected.day1)
    # at 20 writes/s the plan needs 14 s; the run may write for 38 - 30 = 8 s
    process = start_sync(env, watch, "--deadline-seconds", "38", MAX_WRITES_PER_SECOND="20")
    result = finish(process, timeout=60)
    applied_at_exit = watch.applied

    assert result.code == 1, result.stderr
    assert "stopped (the deadline was near) after writing" in result.stderr
    assert watch.settled() == applied_at_exit
    report = result.json()
    assert report["outcome"] == "interrupted"
    assert 0 < written(report) < planned
    assert written(report) + report["not_written"] == planned
    _, news = split_items(env.snapshot(), {}, expected.day1)
    assert len(news) == written(report) == applied_at_exit
    assert env.state.read().lock_owner is None

    assert_next_run_converges(env, expected.day1, planned - written(report))


def test_ctrl_c_pressed_again_and_again_until_the_exit_still_exits_130(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    """Signals keep coming while the run waits for its writes, records itself, prints and exits:
    none of them may cut that short or change the exit code."""
    env.serve(DAY1)
    watch.hold_after = random.Random(6).randint(10, 60)
    watch.hold_seconds = 1.0

    process = start_sync(env, watch)
    signal_at(process, lambda: watch.holding >= 1, signal.SIGINT)
    end = time.monotonic() + 60
    while process.poll() is None and time.monotonic() < end:
        try:
            process.send_signal(signal.SIGINT)
        except ProcessLookupError:
            break
        time.sleep(0.005)
    result = finish(process, timeout=10)

    assert result.code == 130, result.stderr[-2000:]
    assert "Traceback" not in result.stderr
    stop_line(result.stderr, signal.SIGINT)
    report = result.json()
    _, news = split_items(env.snapshot(), {}, expected.day1)
    assert len(news) == written(report) == watch.settled()
    assert env.state.read().lock_owner is None


def test_a_stop_with_stderr_gone_still_records_the_real_counts(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    """`asset-sync sync 2>&1 | head`: once the reader is gone every stderr write fails (EPIPE);
    the stop messages must not break the stop itself."""
    env.serve(DAY1)
    planned = len(expected.day1)
    threshold = random.Random(7).randint(5, planned // 3)
    process = subprocess.Popen(
        cli_command("sync", "--json", fast=False),
        env=child_env(
            env.cli_env(), AWS_ENDPOINT_URL_DYNAMODB=watch.url, MAX_WRITES_PER_SECOND="40"
        ),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    assert process.stderr is not None
    process.stderr.close()  # the reader of stderr went away
    signal_at(process, lambda: watch.applied >= threshold, signal.SIGINT)
    stdout, _ = process.communicate(timeout=60)

    assert process.returncode == 130
    report = json.loads(stdout)
    assert report["outcome"] == "interrupted"
    _, news = split_items(env.snapshot(), {}, expected.day1)
    assert len(news) == written(report) == watch.settled()
    state = env.state.read()
    assert state.lock_owner is None
    assert state.last_run_outcome == "interrupted"
    assert state.last_run is not None and written(state.last_run) == len(news)


def read_pty(fd: int, until: float, out: bytearray) -> None:
    """Append what the terminal shows until `until` (monotonic) or its end."""
    while time.monotonic() < until:
        ready, _, _ = select.select([fd], [], [], 0.02)
        if ready:
            try:
                chunk = os.read(fd, 65536)
            except OSError:  # the child closed its end
                return
            if not chunk:
                return
            out.extend(chunk)


def test_on_a_terminal_the_stop_lines_start_on_their_own_line_and_the_bar_stays_honest(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    env.serve(DAY1)
    planned = len(expected.day1)
    watch.hold_after = 20
    watch.hold_seconds = 2.0
    main_fd, child_fd = pty.openpty()
    process = subprocess.Popen(
        cli_command("sync", fast=False),
        env=child_env(
            env.cli_env(), AWS_ENDPOINT_URL_DYNAMODB=watch.url, MAX_WRITES_PER_SECOND="40"
        ),
        stdout=subprocess.PIPE,
        stderr=child_fd,
        text=True,
        cwd=REPO_ROOT,
    )
    os.close(child_fd)
    shown = bytearray()
    try:
        end = time.monotonic() + 60
        while watch.holding < 1 and process.poll() is None and time.monotonic() < end:
            read_pty(main_fd, time.monotonic() + 0.01, shown)
        process.send_signal(signal.SIGINT)
        read_pty(main_fd, time.monotonic() + 0.3, shown)
        process.send_signal(signal.SIGINT)
        stdout, _ = process.communicate(timeout=60)
        read_pty(main_fd, time.monotonic() + 2, shown)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
        os.close(main_fd)
    text = shown.decode(errors="replace")

    assert process.returncode == 130, text
    assert "writing  [" in text, "no progress bar was shown"
    stopping = text.index("asset-sync: SIGINT: stopping")
    assert text[:stopping].endswith("\n"), "the stop line was appended to the progress bar"
    assert re.search(r"\nasset-sync: still stopping, \d+ writes in flight", text), text
    assert "writing  [" not in text[stopping:], "the bar was drawn again after the stop line"
    percents = [int(p) for p in re.findall(r"(\d+)%", text[:stopping])]
    report_written = int(re.search(r"created (\d+)", stdout).group(1))  # type: ignore[union-attr]
    assert max(percents) <= 100 * report_written // planned + 1, "the bar claimed unwritten items"
    assert text.rfind("\x1b[?25h") > text.rfind("\x1b[?25l"), "the cursor was left hidden"
    assert f"stopped (SIGINT) after writing {report_written} of {planned}" in text
    assert "interrupted" in stdout


def test_a_signal_while_the_lease_is_being_taken_stops_before_the_fetch(
    env: Env, watch: WriteWatch, expected: Expected
) -> None:
    """The signal arrives before the run starts reading (it cannot be abandoned there); it must
    not then wait for a whole fetch before it stops."""
    env.serve(DAY1)
    env.stand_in.script(Fault.slow(30), route="list")
    watch.hold_acquire = 2.0

    process = start_sync(env, watch)
    signal_at(process, lambda: watch.acquiring, signal.SIGTERM)
    sent = time.monotonic()
    result = finish(process, timeout=90)
    took = time.monotonic() - sent

    assert result.code == 143, result.stderr
    assert took < 15, f"stopping waited {took:.1f} s for the 30 s response"  # generous
    assert "stopped (SIGTERM) before writing anything" in result.stderr
    assert watch.settled() == 0 and env.snapshot() == {}
    state = env.state.read()
    assert state.lock_owner is None and state.last_run_outcome == "interrupted"
