"""`asset-sync unlock --force` while a sync is writing, through the real CLI: the holder stops at
its next lease check and says that an operator cleared its lease (not that a newer run took it
over, nor that it expired), and counts the writes it never started `not_written`, as a stop by
SIGINT does; the run is recorded as such and the next run completes the rest.
"""

from __future__ import annotations

from tests.support import Env, run_cli
from tests.support.cli_output import one_error_line
from tests.support.lifecycle import DAY1, WriteWatch, start_sync, written
from tests.support.reliability import finish, wait_until


def test_a_forced_unlock_stops_a_live_sync_which_says_so_and_counts_the_rest_not_written(
    env: Env, moto_url: str
) -> None:
    env.serve(DAY1)
    with WriteWatch(moto_url, env.settings.assets_table) as watch:
        process = start_sync(env, watch, MAX_WRITES_PER_SECOND="10")
        assert wait_until(lambda: watch.applied >= 10 or process.poll() is not None, 60, 0.05)
        assert process.poll() is None, "the sync ended before the unlock"
        unlocked = run_cli("unlock", "--force", env=env.cli_env())
        result = finish(process)
        landed = watch.settled()

    assert unlocked.code == 0, unlocked.stderr
    assert unlocked.stdout.startswith("cleared the run lease of run ")
    assert result.code == 1, result.stderr
    report = result.json()
    message = report["message"]
    assert report["outcome"] == "interrupted", message
    assert "the run lease was cleared by an operator (`asset-sync unlock --force`)" in message
    for false_claim in ("newer run", "expired", "taken", "took"):
        assert false_claim not in message, message
    assert report["failed"] == 0 and report["failures"] == {}
    assert report["not_written"] > 0
    assert written(report) == landed  # what it says it wrote is what reached the table
    assert written(report) + report["not_written"] == len(DAY1)
    assert "unlock --force" in one_error_line(result)
    last = env.state.read().last_run or {}
    assert last["outcome"] == "interrupted" and last["not_written"] == report["not_written"]
    assert env.state.read().lock_owner is None

    after = run_cli("sync", "--json", env=env.cli_env())
    assert after.code == 0, after.stderr
    assert after.json()["created"] == report["not_written"]
