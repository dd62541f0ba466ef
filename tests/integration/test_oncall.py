"""The on-call toolkit through the real CLI: history, show, doctor (and that none of them writes).

Writes are counted on the wire by a DynamoProxy in front of moto's server.
"""

from __future__ import annotations

import pytest
from tests.support import CANARY_SECRET, Env, asset_record, run_cli

from asset_sync.dal import run_state
from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS, DynamoProxy
from asset_sync.logic.sync import LeaseHeldError, SyncError
from asset_sync.wiring import build_run

FOREIGN = {"sector": {"S": "Technology"}, "score": {"N": "0.000000001"}, "tags": {"SS": ["a"]}}


def three_syncs_one_refused(env: Env) -> None:
    env.serve([asset_record(f"S{i}") for i in range(20)])
    build_run(env.settings).run()
    env.serve([asset_record(f"S{i}") for i in range(10)])  # half gone: the guard refuses
    with pytest.raises(SyncError):
        build_run(env.settings).run()
    env.serve([asset_record(f"S{i}", name=f"S{i} Renamed Inc.") for i in range(20)])
    build_run(env.settings).run()


def test_history_lists_every_run_newest_first_with_numbers_and_durations(env: Env) -> None:
    three_syncs_one_refused(env)
    env.hold_lease()
    with pytest.raises(LeaseHeldError):
        build_run(env.settings).run()  # recorded as skipped

    result = run_cli("history", "--json", env=env.cli_env())

    assert result.code == 0, result.stderr
    runs = result.json()["runs"]
    assert [r["outcome"] for r in runs] == ["skipped", "succeeded", "refused", "succeeded"]
    numbers = [r["run_seq"] for r in runs]
    assert numbers == sorted(numbers, reverse=True) and len(set(numbers)) == 4
    assert all(r["duration_seconds"] > 0 for r in runs)
    assert runs[1]["updated"] == 20 and runs[3]["created"] == 20
    assert "guard refused" in runs[2]["message"]
    text = run_cli("history", "--limit", "2", env=env.cli_env())
    assert text.code == 0
    assert "skipped" in text.stdout and "refused" not in text.stdout  # newest two only
    assert "run  started (UTC)" in text.stdout


def test_history_keeps_the_newest_runs_and_drops_older_ones(
    env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(run_state, "HISTORY_KEEP", 3)  # 400 in production; same mechanism
    env.serve([asset_record("A")])
    reports = [build_run(env.settings).run() for _ in range(5)]

    kept = env.state.history(limit=100)

    assert [r["run_seq"] for r in kept] == [r.run_seq for r in reports][::-1][:3]


def test_show_prints_every_attribute_marks_the_owned_ones_and_names_an_unknown_symbol(
    env: Env,
) -> None:
    env.serve([asset_record("BRK.B", margin_requirement_long="0.000000001")])
    build_run(env.settings).run()
    env.assets.client.update_item(
        TableName=env.settings.assets_table,
        Key={"symbol": {"S": "BRK.B"}},
        UpdateExpression="SET sector = :sector, score = :score, tags = :tags",
        ExpressionAttributeValues={f":{name}": value for name, value in FOREIGN.items()},
    )

    shown = run_cli("show", "BRK.B", "--json", env=env.cli_env())
    missing = run_cli("show", "NOPE", env=env.cli_env())
    text = run_cli("show", "BRK.B", env=env.cli_env())

    assert shown.code == 0, shown.stderr
    attributes = shown.json()["attributes"]
    assert set(attributes) == set(env.raw_item("BRK.B") or {})  # every attribute
    assert attributes["margin_requirement_long"] == {
        "value": "0.000000001", "type": "N", "owner": "sync"
    }  # fmt: skip
    assert attributes["score"] == {"value": "0.000000001", "type": "N", "owner": "other"}
    assert attributes["tags"]["owner"] == "other" and attributes["tags"]["type"] == "SS"
    assert attributes["sync_run_seq"]["owner"] == "sync"
    assert missing.code == 1 and "no item for symbol 'NOPE'" in missing.stderr
    assert "* sync_hash" in text.stdout and "  sector" in text.stdout


def test_doctor_passes_on_a_good_setup_and_fails_clearly_without_printing_the_secret(
    env: Env,
) -> None:
    env.serve([asset_record("A")])
    build_run(env.settings).run()

    good = run_cli("doctor", env=env.cli_env())
    wrong_keys = run_cli(
        "doctor", env={**env.cli_env(), "APCA_API_SECRET_KEY": CANARY_SECRET + "-wrong"}
    )
    no_table = run_cli("doctor", "--table", "no_such_assets_table", env=env.cli_env())
    as_json = run_cli("doctor", "--json", env=env.cli_env())

    assert good.code == 0, good.stdout + good.stderr
    assert good.stdout.count("ok  ") == 5 and "FAIL" not in good.stdout
    assert as_json.code == 0 and as_json.json()["ok"] is True
    assert wrong_keys.code == 1
    assert "FAIL  Alpaca: " in wrong_keys.stdout and "rejected the keys" in wrong_keys.stdout
    assert no_table.code == 1
    assert "does not exist" in no_table.stdout and "asset-sync create-table" in no_table.stdout
    for result in (good, wrong_keys, no_table, as_json):
        assert CANARY_SECRET not in result.stdout + result.stderr


def test_doctor_says_when_no_run_is_recorded_and_when_a_dead_holders_lease_is_left(
    env: Env,
) -> None:
    fresh = run_cli("doctor", env=env.cli_env())
    env.hold_lease(seconds=-5)  # a holder that died; its lease has expired
    stale = run_cli("doctor", env=env.cli_env())

    assert fresh.code == 1 and "no sync has recorded a run" in fresh.stdout
    assert stale.code == 1 and "asset-sync unlock" in stale.stdout


def test_history_show_and_doctor_make_no_write(env: Env, moto_url: str) -> None:
    env.serve([asset_record("A")])
    build_run(env.settings).run()
    with DynamoProxy(moto_url) as proxy:
        cli_env = {**env.cli_env(), "AWS_ENDPOINT_URL_DYNAMODB": proxy.url}
        for command in (["history"], ["show", "A"], ["doctor"], ["status"]):
            assert run_cli(*command, env=cli_env).code == 0, command

        assert proxy.stats.total() > 0
        assert proxy.stats.total(WRITE_OPERATIONS) == 0
