"""Fresh the same morning: an Alpaca outage from the daily run until after the first catch-up,
then a catch-up that syncs, and a later catch-up that finds the table fresh and writes nothing.

The schedules and each target's input come from the synthesized dev stack (cdk.json as
committed). Every invocation is the real Lambda handler in a child process on a clock set to
its schedule's time (tests/support/skewed_clock.py), failed ones again 1 and 3 minutes later as
Lambda's asynchronous retries; DynamoDB is moto's server behind a counting DynamoProxy, Alpaca
the stand-in with its faults.
"""

from __future__ import annotations

import io
import json
import re
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any

import boto3
import pytest
from tests.support import CANARY_SECRET, CliResult, Env, asset_record, fresh_env
from tests.support import skewed_clock as clock
from tests.support.lambda_env import lambda_function_env
from tests.support.lambda_invocation import LambdaContext, scheduled_event
from tests.support.node_warning import silence_node_end_of_life
from tests.support.reliability import finish

from asset_sync import handler
from asset_sync.config import ConfigError
from asset_sync.local.dynamo_proxy import WRITE_OPERATIONS, DynamoProxy
from asset_sync.local.stand_in import AlpacaStandIn, Fault

pytestmark = pytest.mark.infra  # synthesizes the stack (needs node and aws-cdk-lib)

silence_node_end_of_life()  # before the fixture imports the CDK

DAILY_CRON = re.compile(r"^cron\((\d+) (\d+) \* \* \? \*\)$")
LAMBDA_RETRIES = (60, 180)  # Lambda's asynchronous retries of a failed invocation: ~1, ~3 min
DAY1 = [asset_record(f"SYM{n:02d}") for n in range(20)]
DAY2 = [
    *(asset_record(r["symbol"], name=f"{r['symbol']} Holdings") for r in DAY1[:3]),
    *DAY1[3:],
    asset_record("NEWCO"),
]


@dataclass(frozen=True)
class Firing:
    """One schedule firing on a given day: the rule, its time and the event its target sends."""

    rule: str
    at: datetime
    event: dict[str, Any]


@pytest.fixture(scope="module")
def rules(tmp_path_factory: pytest.TempPathFactory) -> dict[str, dict[str, Any]]:
    """The dev stage's EventBridge rules (name -> properties), synthesized as `make synth`."""
    from tests.infra.synth import resources, synthesize  # noqa: PLC0415 - imports the CDK

    asset = tmp_path_factory.mktemp("lambda_asset")
    (asset / "asset_sync").mkdir()
    (asset / "asset_sync" / "__init__.py").write_text("")
    template = synthesize(tmp_path_factory.mktemp("cdk.out"), asset).template("dev")
    found = resources(template, "AWS::Events::Rule").values()
    return {rule["Properties"]["Name"]: rule["Properties"] for rule in found}


@pytest.fixture
def proxy(moto_url: str) -> Iterator[DynamoProxy]:
    """Counts every DynamoDB request the children make."""
    with DynamoProxy(moto_url) as counting:
        yield counting


@pytest.fixture
def env_via_proxy(moto_url: str, stand_in: AlpacaStandIn, proxy: DynamoProxy) -> Env:
    """Fresh tables; the children reach them through the proxy."""
    return fresh_env(moto_url, stand_in, endpoint_url=proxy.url)


def firing(rule_name: str, props: dict[str, Any], day: date) -> Firing:
    """What EventBridge delivers when a daily rule fires on day (its target input applied)."""
    match = DAILY_CRON.match(props["ScheduleExpression"])
    assert match, props["ScheduleExpression"]
    at = datetime(day.year, day.month, day.day, int(match[2]), int(match[1]), tzinfo=UTC)
    scheduled = {
        "version": "0",
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": at.strftime("%Y-%m-%dT%H:%M:%SZ"),
        "region": "us-east-1",
        "resources": [f"arn:aws:events:us-east-1:123456789012:rule/{rule_name}"],
        "detail": {},
    }
    [target] = props["Targets"]
    return Firing(rule_name, at, delivered(target, scheduled))


def delivered(target: dict[str, Any], event: dict[str, Any]) -> dict[str, Any]:
    """The target's input: the event itself, a constant Input, or the InputTransformer's output
    (JSON template: each <name> becomes the JSON value at its top-level path)."""
    if "Input" in target:
        return dict(json.loads(target["Input"]))
    transformer = target.get("InputTransformer")
    if transformer is None:
        return event
    text = transformer["InputTemplate"]
    for name, path in transformer["InputPathsMap"].items():
        assert re.fullmatch(r"\$\.[a-z-]+", path), path
        text = text.replace(f"<{name}>", json.dumps(event[path[2:]]))
    return dict(json.loads(text))


@dataclass
class Invocation:
    """A finished handler run: its exit code, result (or exception) and JSON lines."""

    result: CliResult

    @property
    def returned(self) -> dict[str, Any]:
        assert self.result.code == 0, self.result.stderr[-3000:]
        return dict(json.loads(self.result.stdout.split("RESULT ", 1)[1]))

    @property
    def lines(self) -> list[dict[str, Any]]:
        out = self.result.stdout.splitlines()
        return [json.loads(line) for line in out if line.startswith("{")]

    def messages(self) -> list[str]:
        return [str(line["message"]) for line in self.lines if "message" in line]

    def metrics(self) -> set[str]:
        return {
            metric["Name"]
            for line in self.lines
            for directive in line.get("_aws", {}).get("CloudWatchMetrics", [])
            for metric in directive["Metrics"]
        }


def invoke(env: Env, fired: Firing, delay: float = 0) -> Invocation:
    """The handler once, with fired's event, on a clock at its time (plus delay seconds)."""
    offset = fired.at.timestamp() + delay - time.time()
    process = clock.start("--handler", json.dumps(fired.event), env=env.cli_env(), offset=offset)
    result = finish(process)
    assert CANARY_SECRET not in result.stdout + result.stderr
    return Invocation(result)


def invoke_with_retries(env: Env, fired: Firing) -> list[Invocation]:
    """As Lambda's asynchronous invocation does: the retries only after a failure."""
    runs = [invoke(env, fired)]
    for delay in LAMBDA_RETRIES:
        if runs[-1].result.code == 0:
            break
        runs.append(invoke(env, fired, delay))
    return runs


def names(env: Env) -> dict[str, str]:
    """symbol -> name of every item."""
    return {symbol: item["name"]["S"] for symbol, item in env.snapshot().items()}


def test_an_outage_until_after_the_first_catch_up_is_caught_up_the_same_morning(
    rules: dict[str, dict[str, Any]], env_via_proxy: Env, proxy: DynamoProxy
) -> None:
    env = env_via_proxy
    today = (datetime.now(UTC) + timedelta(days=1)).date()
    morning = sorted((firing(n, p, today) for n, p in rules.items()), key=lambda f: f.at)
    # What the template schedules (cdk.json as committed): the daily run, then three catch-ups.
    assert [(f.rule, f.at.strftime("%H:%M")) for f in morning] == [
        ("signal9-asset-sync-dev-schedule", "04:00"),
        ("signal9-asset-sync-dev-catch-up", "05:00"),
        ("signal9-asset-sync-dev-catch-up-2", "06:00"),
        ("signal9-asset-sync-dev-catch-up-3", "13:35"),
    ]
    daily, first, second, last = morning
    assert "catch_up" not in daily.event
    assert [f.event["catch_up"] for f in (first, second, last)] == [
        {"window_seconds": 3600},
        {"window_seconds": 7200},
        {"window_seconds": 34500},
    ]

    # Yesterday's daily run succeeded.
    env.serve(DAY1)
    yesterday = firing(daily.rule, rules[daily.rule], today - timedelta(days=1))
    assert invoke(env, yesterday).returned["outcome"] == "succeeded"
    assert names(env) == {r["symbol"]: r["name"] for r in DAY1}

    # Today Alpaca is down from the daily run until after the first catch-up's retries.
    env.serve(DAY2)
    env.stand_in.script(*[Fault.status(503)] * 500, route="list")
    for fired in (daily, first):
        runs = invoke_with_retries(env, fired)
        assert [run.result.code for run in runs] == [1, 1, 1], fired.rule
        assert all("EXCEPTION" in run.result.stderr for run in runs)
    catching_up = [line for line in runs[0].lines if line.get("message") == "catch-up: syncing"]
    assert "before today's scheduled run" in catching_up[0]["catch_up"]["reason"]
    assert names(env) == {r["symbol"]: r["name"] for r in DAY1}  # nothing of today yet
    env.stand_in.clear_faults()

    # The second catch-up syncs: today's catalog is in the table by 06:00.
    [synced] = invoke_with_retries(env, second)
    report = synced.returned
    assert (report["outcome"], report["created"], report["updated"]) == ("succeeded", 1, 3)
    assert names(env) == {r["symbol"]: r["name"] for r in DAY2}
    assert "SyncSucceeded" in synced.metrics()

    # The last catch-up finds the table fresh: one read of the state item, no write, no Alpaca.
    before = env.snapshot()
    history = env.state.history(50)
    requests, writes = proxy.stats.total(), proxy.stats.total(WRITE_OPERATIONS)
    alpaca_requests = env.stand_in.requests_served
    [fresh] = invoke_with_retries(env, last)
    result = fresh.returned
    assert result["outcome"] == "fresh"
    assert result["dynamodb_write_requests"] == 0
    assert proxy.stats.total(WRITE_OPERATIONS) - writes == 0  # counted on the wire
    assert proxy.stats.total() - requests == 1  # GetItem of the state item
    assert env.stand_in.requests_served == alpaca_requests
    assert result["last_success_run_seq"] == report["run_seq"]
    assert result["window_start"] == f"{today.isoformat()}T04:00:00Z"
    assert "sync fresh: today's sync already succeeded, nothing to do" in fresh.messages()
    assert fresh.metrics() >= {"SyncFresh"} and "SyncSucceeded" not in fresh.metrics()
    assert not [line for line in fresh.lines if line.get("level") in ("WARNING", "ERROR")]
    assert env.snapshot() == before
    assert env.state.history(50) == history  # no run record: a fresh catch-up writes nothing


def test_a_catch_up_on_a_day_whose_daily_run_succeeded_writes_nothing_at_all(
    rules: dict[str, dict[str, Any]], env_via_proxy: Env, proxy: DynamoProxy
) -> None:
    env = env_via_proxy
    today = (datetime.now(UTC) + timedelta(days=1)).date()
    env.serve(DAY1)
    daily = "signal9-asset-sync-dev-schedule"
    assert invoke(env, firing(daily, rules[daily], today)).returned["outcome"] == "succeeded"
    writes = proxy.stats.total(WRITE_OPERATIONS)
    for name in ("signal9-asset-sync-dev-catch-up", "signal9-asset-sync-dev-catch-up-2"):
        run = invoke(env, firing(name, rules[name], today))
        assert run.returned["outcome"] == "fresh", name
    assert proxy.stats.total(WRITE_OPERATIONS) == writes


def test_a_catch_up_without_any_success_yet_syncs(
    rules: dict[str, dict[str, Any]], env_via_proxy: Env
) -> None:
    """A first deploy whose daily run has not come yet: the first catch-up loads the table."""
    env = env_via_proxy
    env.serve(DAY1)
    today = (datetime.now(UTC) + timedelta(days=1)).date()
    name = "signal9-asset-sync-dev-catch-up"
    run = invoke(env, firing(name, rules[name], today))
    assert run.returned["outcome"] == "succeeded"
    assert run.returned["created"] == len(DAY1)
    syncing = [line for line in run.lines if line.get("message") == "catch-up: syncing"]
    assert syncing[0]["catch_up"]["reason"] == "no sync has succeeded yet"


# --- in-process: the secret the stack creates empty, and a malformed catch-up -----------------

LOG_STREAM = io.StringIO()


@pytest.fixture
def lambda_env(env: Env, monkeypatch: pytest.MonkeyPatch) -> Iterator[Env]:
    """The function's environment as the stack sets it, the keys in moto's Secrets Manager."""
    with lambda_function_env(env, monkeypatch, LOG_STREAM) as function_env:
        yield function_env


def test_the_secret_as_the_stack_creates_it_is_a_clear_configuration_error(
    lambda_env: Env, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The stack creates the secret without a value; until an operator puts the keys every run
    fails with the command to run, before touching the table."""
    endpoint = lambda_env.settings.dynamodb_endpoint_url
    secrets = boto3.client("secretsmanager", endpoint_url=endpoint, region_name="us-east-1")
    empty = secrets.create_secret(Name=f"signal9/asset-sync/t-{uuid.uuid4().hex[:8]}/alpaca")
    monkeypatch.setenv("ALPACA_SECRET_ID", empty["ARN"])

    with pytest.raises(ConfigError, match=r"holds no value yet.*put-secret-value"):
        handler.lambda_handler(scheduled_event("evt-empty"), LambdaContext())  # type: ignore[arg-type]
    assert lambda_env.snapshot() == {}
    assert lambda_env.state.read().run_seq == 0


@pytest.mark.parametrize("request_", [True, {"window_seconds": "3600"}, {"window_seconds": -1}])
def test_a_malformed_catch_up_is_a_configuration_error(lambda_env: Env, request_: object) -> None:
    event = {**scheduled_event("evt-bad"), "catch_up": request_}
    with pytest.raises(ConfigError, match='"catch_up" must be'):
        handler.lambda_handler(event, LambdaContext())  # type: ignore[arg-type]
    assert lambda_env.state.read().run_seq == 0
