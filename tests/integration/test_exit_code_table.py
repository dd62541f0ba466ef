"""The README's exit-code table, run cell by cell through the real CLI (with `--json`).

Each row of the table is a failure; each column a command. For every cell that names a code the
failure is set up (moto's server and the Alpaca stand-in over HTTP), the command runs as a child
process, and its exit code must be the cell's; a failure must print exactly one `asset-sync: ...`
line on stderr and one JSON object with that `exit_code` on stdout, a success one JSON object.
The table's columns must be every command the CLI has.
"""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field

import boto3
import click
import pytest
from tests.support import CREDENTIALS, CliResult, Env, asset_record, fresh_env
from tests.support.cli_output import (
    SilentServer,
    child_pids,
    odd_table,
    one_error_line,
    one_json_object,
    state_table_for,
    unique,
)
from tests.support.event_bus import quarantine_bucket
from tests.support.reliability import REPO_ROOT, child_env, cli_command, finish, wait_until
from tests.support.stream_records import record, synced

from asset_sync.cli import main
from asset_sync.dal.history import HistoryTable
from asset_sync.events.quarantine import UNREADABLE, Quarantine
from asset_sync.history.backfill import backfill
from asset_sync.history.versions import now, timestamp
from asset_sync.local.moto_server import LOCAL_CREDENTIALS, free_port
from asset_sync.local.stand_in import AlpacaStandIn, Fault
from asset_sync.wiring import build_run

BOTO_CREDENTIALS = {
    "aws_access_key_id": LOCAL_CREDENTIALS["AWS_ACCESS_KEY_ID"],
    "aws_secret_access_key": LOCAL_CREDENTIALS["AWS_SECRET_ACCESS_KEY"],
}
MARKER = "<!-- exit-code table: parsed by tests/integration/test_exit_code_table.py -->"
SKIP = "·"
SIGNALS = "SIGINT / SIGTERM"
ACKNOWLEDGED = re.compile(r"^asset-sync: (SIG[A-Z]+: stopping|still stopping)[^\n]*\n", re.M)


def readme_table() -> tuple[list[str], dict[str, dict[str, str]]]:
    """The commands (columns) and, per failure (row), each command's cell."""
    text = (REPO_ROOT / "README.md").read_text()
    assert MARKER in text, "the README lost its exit-code table"
    lines = text.split(MARKER, 1)[1].strip().splitlines()
    rows = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in lines[: next(i for i, line in enumerate(lines) if not line.startswith("|"))]
    ]
    header, _, *body = rows
    commands = header[1:]
    return commands, {row[0]: dict(zip(commands, row[1:], strict=True)) for row in body}


COMMANDS, TABLE = readme_table()


def leaf_commands(group: click.Group, prefix: str = "") -> set[str]:
    """Every command name the CLI accepts (`events replay` for a subcommand; a group that runs
    on its own, as `history`, is a command too)."""
    names = set()
    for name, command in group.commands.items():
        if isinstance(command, click.Group):
            names |= leaf_commands(command, f"{prefix}{name} ")
            if command.invoke_without_command:
                names.add(f"{prefix}{name}")
        else:
            names.add(f"{prefix}{name}")
    return names


def test_the_table_covers_every_command_and_only_documented_codes() -> None:
    assert set(COMMANDS) == leaf_commands(main)
    codes = {cell for row in TABLE.values() for cell in row.values()}
    assert codes <= {"0", "1", "2", "3", "4", SKIP, "130 / 143"}, codes
    assert set(TABLE) == {*SCENARIOS, SIGNALS}


# -- the failures ------------------------------------------------------------------------------

BASE_ARGS = {
    "show": ["show", "A"],
    "demo": ["demo", "--assets", "10"],
    "events replay": ["events", "replay"],
    "history backfill": ["history", "backfill"],
    "history replay": ["history", "replay"],
}


@dataclass
class Cell:
    """How to run one command under one failure."""

    args: list[str]
    variables: dict[str, str] = field(default_factory=dict)


def base(command: str) -> list[str]:
    return list(BASE_ARGS.get(command, [command]))


def seeded(env: Env) -> None:
    env.serve([asset_record("A"), asset_record("B")])
    build_run(env.settings).run()
    history = history_table(env)
    history.create()
    backfill(env.assets.client, env.settings.assets_table, history, timestamp(now()))


def history_table(env: Env) -> HistoryTable:
    return HistoryTable(env.assets.client, f"{env.settings.assets_table}_history")


Scenario = Callable[[Env, str], Cell]


def success(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(base(command))


def bad_usage(env: Env, command: str) -> Cell:
    return Cell(["show", ""] if command == "show" else [*base(command), "--no-such-flag"])


def invalid_setting(env: Env, command: str) -> Cell:
    return Cell(base(command), {"AWS_REGION": "us east 1"})


def missing_table(env: Env, command: str) -> Cell:
    return Cell(base(command), {"ASSETS_TABLE": unique("no_such_table")})


def odd_assets_table(env: Env, command: str) -> Cell:
    table = odd_table(env, "id")  # keyed by `id`, without status-index
    state_table_for(env, table)
    return Cell(base(command), {"ASSETS_TABLE": table})


def odd_state_table(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(base(command), {"SYNC_STATE_TABLE": odd_table(env, "id")})


def not_dynamodb(env: Env, command: str) -> Cell:
    return Cell(base(command), {"AWS_ENDPOINT_URL_DYNAMODB": env.stand_in.base_url})


def unreachable(env: Env, command: str) -> Cell:
    return Cell(base(command), {"AWS_ENDPOINT_URL_DYNAMODB": f"http://127.0.0.1:{free_port()}"})


def another_tables_state(env: Env, command: str) -> Cell:
    seeded(env)
    variables = {"SYNC_STATE_TABLE": env.settings.state_table}
    return Cell([*base(command), "--table", unique("other_assets")], variables)


def no_keys(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(base(command), {"APCA_API_KEY_ID": "", "APCA_API_SECRET_KEY": ""})


def invalid_alpaca_setting(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(base(command), {"APCA_API_BASE_URL": "paper-api.alpaca.markets"})


def rejected_keys(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(base(command), {"APCA_API_SECRET_KEY": "not-the-right-secret"})


def fetch_fails(env: Env, command: str) -> Cell:
    seeded(env)
    env.stand_in.script(*[Fault.status(503)] * 6)  # every attempt of one command
    return Cell(base(command))


def guard_refuses(env: Env, command: str) -> Cell:
    seeded(env)
    env.stand_in.script(Fault.body(b"[]"))
    return Cell(base(command))


def lease_held(env: Env, command: str) -> Cell:
    seeded(env)
    env.hold_lease()
    return Cell(base(command))


def no_item(env: Env, command: str) -> Cell:
    seeded(env)
    return Cell(["show", "NOPE"])


def doctor_check_fails(env: Env, command: str) -> Cell:
    return Cell(base(command))  # no run recorded yet


EVENTS = "events replay"


def events_setup(moto_url: str, *, bus: bool = True) -> dict[str, str]:
    """A quarantine bucket and (unless not `bus`) an event bus on moto, as `events replay`
    finds them in its environment."""
    boto = {"endpoint_url": moto_url, "region_name": "us-east-1", **BOTO_CREDENTIALS}
    quarantine = Quarantine(boto3.client("s3", **boto), quarantine_bucket(moto_url))
    name = unique("bus")
    if bus:
        boto3.client("events", **boto).create_event_bus(Name=name)
    return {
        "EVENTS_QUARANTINE_BUCKET": quarantine.bucket,
        "EVENT_BUS_NAME": name,
        "AWS_ENDPOINT_URL_S3": moto_url,
        "AWS_ENDPOINT_URL_EVENTBRIDGE": moto_url,
    }


def history_not_begun(env: Env, command: str) -> Cell:
    history_table(env).create()  # and no backfill
    return Cell(base(command))


def history_unwritable(env: Env, command: str) -> Cell:
    seeded(env)
    unreadable = record(None, synced("BAD"))
    del unreadable["dynamodb"]["NewImage"]  # today's code cannot read it either
    history_table(env).quarantine("0bad", unreadable, UNREADABLE, "injected", "now")
    return Cell(base(command))


def events_missing(env: Env, command: str) -> Cell:
    return Cell(base(command), {"EVENTS_QUARANTINE_BUCKET": unique("no-such-bucket")})


def events_unpublishable(env: Env, command: str) -> Cell:
    unreadable = record(None, synced("BAD"))
    del unreadable["dynamodb"]["NewImage"]  # today's code cannot read it either
    return Cell(base(command), {QUARANTINE_RECORD: json.dumps(unreadable)})


SCENARIOS: dict[str, Scenario] = {
    "none": success,
    'bad usage (an unknown flag or command, a value out of range, `show ""`)': bad_usage,
    "an invalid setting (region, table name, endpoint URL, `ASSET_CLASSES` naming no class)": (
        invalid_setting
    ),
    "a table does not exist": missing_table,
    "the assets table lacks an index, or has another key": odd_assets_table,
    "the state table has another key": odd_state_table,
    "the endpoint is not DynamoDB": not_dynamodb,
    "DynamoDB cannot be reached": unreachable,
    "the state table records another assets table's runs": another_tables_state,
    "Alpaca's keys are not set": no_keys,
    "an invalid Alpaca setting (base URL, a secret under 8 characters)": invalid_alpaca_setting,
    "Alpaca rejects the keys, or its base URL has a path": rejected_keys,
    "the catalog cannot be fetched": fetch_fails,
    "the guard refuses the plan": guard_refuses,
    "another sync holds the run lease": lease_held,
    "the item is not in the table": no_item,
    "a `doctor` check fails (no run recorded, a dead holder's lease)": doctor_check_fails,
    "the quarantine bucket or the event bus is missing (not set, or does not exist)": (
        events_missing
    ),
    "a quarantined event cannot be published yet": events_unpublishable,
    "history has not begun (no backfill completed), or `--as-of` is before it began": (
        history_not_begun
    ),
    "a quarantined stream record cannot be written yet": history_unwritable,
}
QUARANTINE_RECORD = "test: a stream record to quarantine before the command runs"


def check(result: CliResult, expected: int) -> str | None:
    """What is wrong with one cell's run (None: nothing)."""
    if result.code != expected:
        return f"exit {result.code}, expected {expected}: {result.stderr[-500:]}"
    try:
        output = one_json_object(result)
        if expected:
            one_error_line(result)
            assert output["exit_code"] == expected, output
    except (AssertionError, ValueError, KeyError) as error:
        return f"output: {error!r}"
    return None


@pytest.mark.parametrize("row", list(SCENARIOS))
def test_each_cell_of_the_readme_table(moto_url: str, row: str) -> None:
    cells = {command: code for command, code in TABLE[row].items() if code != SKIP}
    runs: dict[str, tuple[Cell, dict[str, str]]] = {}
    stand_ins = []
    try:
        for command in cells:  # one pair of tables and one stand-in per cell
            api = make_stand_in()
            stand_ins.append(api)
            env = fresh_env(moto_url, api)
            cell = SCENARIOS[row](env, command)
            events = events_setup(moto_url) if command == EVENTS else {}
            variables = {**env.cli_env(), **events, **cell.variables}
            if QUARANTINE_RECORD in variables:
                quarantined = json.loads(variables.pop(QUARANTINE_RECORD))
                s3 = boto3.client("s3", endpoint_url=moto_url, region_name="us-east-1")
                bucket = variables["EVENTS_QUARANTINE_BUCKET"]
                Quarantine(s3, bucket).put(quarantined, UNREADABLE, "injected", None, now=1.0)
            runs[command] = (cell, variables)
        with ThreadPoolExecutor(max_workers=4) as pool:
            results = dict(
                zip(
                    runs,
                    pool.map(lambda run: run_cell(run[0], run[1]), runs.values()),
                    strict=True,
                )
            )
    finally:
        for api in stand_ins:
            api.stop()
    problems = {
        command: problem
        for command, result in results.items()
        if (problem := check(result, int(cells[command])))
    }
    assert problems == {}


def make_stand_in() -> AlpacaStandIn:
    api = AlpacaStandIn([], key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key)
    api.start()
    return api


def run_cell(cell: Cell, variables: dict[str, str]) -> CliResult:
    process = subprocess.Popen(
        cli_command(*cell.args, "--json"),
        env=child_env(variables),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    return finish(process, timeout=180)


# -- the signals -------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM], ids=lambda s: s.name)
@pytest.mark.parametrize("command", COMMANDS)
def test_a_signal_stops_every_command_with_its_code(env: Env, command: str, sig: int) -> None:
    assert TABLE[SIGNALS][command] == "130 / 143"
    seeded(env)
    with SilentServer() as silent:
        variables = env.cli_env()
        if command == "sync":  # it hangs fetching the catalog, after taking the lease
            variables["APCA_API_BASE_URL"] = silent.url
        elif command == EVENTS:  # it hangs reading the quarantine
            variables |= {
                "EVENTS_QUARANTINE_BUCKET": "quarantine",
                "EVENT_BUS_NAME": "bus",
                "AWS_ENDPOINT_URL_S3": silent.url,
                "AWS_ENDPOINT_URL_EVENTBRIDGE": silent.url,
            }
        elif command != "demo":  # it hangs on its first DynamoDB request
            variables["AWS_ENDPOINT_URL_DYNAMODB"] = silent.url
        process = subprocess.Popen(
            cli_command(*base(command), "--json", fast=False),
            env=child_env(variables, PYTHONUNBUFFERED="1"),
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
            cwd=REPO_ROOT,
            start_new_session=True,
        )
        try:

            def reached() -> bool:  # the demo: its moto server runs (started after the
                # demo's signal handlers); the others: their first request is hanging
                if command == "demo":
                    return bool(child_pids(process.pid, running="moto.server"))
                return silent.accepted > 0

            assert wait_until(lambda: reached() or process.poll() is not None, 60, 0.02)
            assert process.poll() is None, process.communicate(timeout=10)
            os.killpg(process.pid, sig)
            result = finish(process, timeout=60)
        finally:
            if process.poll() is None:
                os.killpg(process.pid, signal.SIGKILL)
                process.communicate(timeout=10)

    expected = 130 if sig == signal.SIGINT else 143
    # `sync` and `demo` first acknowledge the signal (they finish their writes in flight)
    final = CliResult(result.code, result.stdout, ACKNOWLEDGED.sub("", result.stderr))
    assert check(final, expected) is None, (result.code, result.stdout[-500:], result.stderr)
    assert re.search(rf"\b{signal.Signals(sig).name}\b", one_error_line(final))
