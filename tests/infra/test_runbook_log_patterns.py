"""docs/deploy.md's log filter patterns, checked against what the sync Lambda really logs.

The handler runs in-process (as tests/integration/test_handler.py runs it: moto's server for
DynamoDB and Secrets Manager, the Alpaca stand-in) through one scenario per outcome, and every
JSON line it prints is kept: Powertools' log lines and the EMF metric documents, which share the
function's log group, plus Lambda's own platform records. In docs/deploy.md every
``--filter-pattern '...'`` follows a comment ``# matches: "message", "message [outcome]"``
naming the lines it must find, as ``"message [outcome] (ExceptionName)"`` (the run report's
outcome and Powertools' ``exception_name``; a part left out matches any); the pattern must match
exactly those lines of the corpus. A pattern used again needs no second comment (or the same).

A new log message (the lead's ``sync interrupted``, say): add a scenario to SCENARIOS that makes
the handler log it, and a pattern in docs/deploy.md that finds it. Every message the handler
logs at WARNING or above must be found by some documented pattern.
"""

from __future__ import annotations

import contextlib
import io
import json
import re
import time
import uuid
from collections.abc import Callable
from pathlib import Path
from typing import Any

import boto3
import pytest
from aws_lambda_powertools.metrics.provider import cold_start
from tests.infra.filter_patterns import PatternError, compile_pattern
from tests.support import CANARY_SECRET, CREDENTIALS, Env, fresh_env
from tests.support.lambda_invocation import LambdaContext, scheduled_event

from asset_sync import handler
from asset_sync.local.catalog import generate_catalog
from asset_sync.local.stand_in import AlpacaStandIn

pytestmark = pytest.mark.infra

DEPLOY_DOC = Path(__file__).resolve().parents[2] / "docs" / "deploy.md"
FILTER_PATTERN = re.compile(r"--filter-pattern '([^']*)'")
MATCHES_COMMENT = re.compile(r"^\s*# matches: (.+)$")
REQUEST_ID = "c6af9ac6-7b61-11e6-9a41-93e8deadbeef"
# What Lambda itself writes to the log group with the JSON log format (start and report).
PLATFORM_LINES: list[dict[str, Any]] = [
    {
        "time": "2026-11-30T04:00:00.100Z",
        "type": "platform.start",
        "record": {"requestId": REQUEST_ID, "version": "$LATEST"},
    },
    {
        "time": "2026-11-30T04:01:10.100Z",
        "type": "platform.report",
        "record": {
            "requestId": REQUEST_ID,
            "metrics": {"durationMs": 70000.0, "billedDurationMs": 70000, "memorySizeMB": 1024},
            "status": "success",
        },
    },
]


SCHEDULED_EVENT = scheduled_event(
    "53dc4d37-cffa-4f76-80c9-8b7d4a4d2eaa",
    "arn:aws:events:us-east-1:123456789012:rule/signal9-asset-sync-dev-schedule",
)


def dev_context() -> LambdaContext:
    """The dev stage's function, as the runbook's log lines name it."""
    return LambdaContext("signal9-asset-sync-dev", 600_000, REQUEST_ID, memory_limit_in_mb=1024)


class Lambda:
    """The handler with the function's environment on fresh tables; collects what it prints."""

    def __init__(self, env: Env, monkeypatch: pytest.MonkeyPatch) -> None:
        self.env = env
        self.monkeypatch = monkeypatch
        endpoint = env.settings.dynamodb_endpoint_url or ""
        self.secrets = boto3.client(
            "secretsmanager", endpoint_url=endpoint, region_name="us-east-1"
        )
        self.lines: list[dict[str, Any]] = []
        for name in ("APCA_API_KEY_ID", "APCA_API_SECRET_KEY"):
            monkeypatch.delenv(name, raising=False)
        monkeypatch.setenv("AWS_ENDPOINT_URL_SECRETS_MANAGER", endpoint)
        monkeypatch.setenv("AWS_ENDPOINT_URL_DYNAMODB", endpoint)
        monkeypatch.setenv("ASSETS_TABLE", env.settings.assets_table)
        monkeypatch.setenv("SYNC_STATE_TABLE", env.settings.state_table)
        monkeypatch.setenv("APCA_API_BASE_URL", env.stand_in.base_url)
        self.set_keys(CREDENTIALS.key_id, CREDENTIALS.secret_key)

    def set_no_value(self) -> None:
        """Point the function at a secret as the stack creates it: without a value."""
        arn = self.secrets.create_secret(Name=f"signal9/asset-sync/test-{uuid.uuid4().hex[:8]}/a")
        self.monkeypatch.setenv("ALPACA_SECRET_ID", arn["ARN"])

    def set_keys(self, key_id: str, secret_key: str) -> None:
        """Point the function at a new secret holding these keys."""
        arn = self.secrets.create_secret(
            Name=f"signal9/asset-sync/test-{uuid.uuid4().hex[:8]}/alpaca",
            SecretString=json.dumps({"APCA_API_KEY_ID": key_id, "APCA_API_SECRET_KEY": secret_key}),
        )["ARN"]
        self.monkeypatch.setenv("ALPACA_SECRET_ID", arn)

    def invoke(self, event: dict[str, Any] = SCHEDULED_EVENT) -> None:
        """One invocation; an exception (which Lambda would record) is swallowed."""
        handler.base_settings.cache_clear()
        cold_start.is_cold_start = True
        logs, stdout = io.StringIO(), io.StringIO()
        log_handler = handler.logger.registered_handler
        original = log_handler.setStream(logs)  # type: ignore[attr-defined]
        try:
            with contextlib.redirect_stdout(stdout), contextlib.suppress(Exception):
                handler.lambda_handler(event, dev_context())  # type: ignore[arg-type]
        finally:
            log_handler.setStream(original)  # type: ignore[attr-defined]
        text = stdout.getvalue() + logs.getvalue()
        assert CANARY_SECRET not in text
        self.lines += [json.loads(line) for line in text.splitlines() if line.startswith("{")]


# --- one scenario per outcome: what to arrange before (and between) invocations ---------------


def succeeded(fn: Lambda) -> None:
    fn.env.stand_in.set_assets(generate_catalog(20, seed=11))
    fn.invoke()


def refused_by_the_guard(fn: Lambda) -> None:
    fn.env.stand_in.set_assets(generate_catalog(20, seed=12))
    fn.invoke()
    fn.env.stand_in.set_assets([])  # an empty catalog: nothing is written, the run fails
    fn.invoke()


def keys_rejected_by_alpaca(fn: Lambda) -> None:
    fn.env.stand_in.set_assets(generate_catalog(5, seed=13))
    fn.set_keys(CREDENTIALS.key_id, "not-the-secret")
    fn.invoke()


def lease_held(fn: Lambda) -> None:
    fn.env.stand_in.set_assets(generate_catalog(5, seed=14))
    fn.env.hold_lease("another-running-sync")
    fn.invoke()


def secret_not_set(fn: Lambda) -> None:
    fn.set_no_value()  # the secret as the stack creates it, before an operator puts the keys
    fn.invoke()


def catch_up(window_seconds: int = 3600) -> dict[str, Any]:
    """A catch-up's event, scheduled now, as the stack's catch-up rules deliver it."""
    now = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())
    return {
        "id": str(uuid.uuid4()),
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "time": now,
        "detail": {},
        "catch_up": {"window_seconds": window_seconds},
    }


def catch_ups(fn: Lambda) -> None:
    fn.env.stand_in.set_assets(generate_catalog(5, seed=15))
    fn.invoke(catch_up())  # nothing succeeded yet: the catch-up syncs
    fn.invoke(catch_up())  # now it has: fresh, nothing written


SCENARIOS: dict[str, Callable[[Lambda], None]] = {
    "succeeded": succeeded,
    "refused": refused_by_the_guard,
    "keys rejected": keys_rejected_by_alpaca,
    "lease held": lease_held,
    "secret not set": secret_not_set,
    "catch-ups": catch_ups,
}


@pytest.fixture(scope="module")
def corpus(moto_url: str) -> list[dict[str, Any]]:
    """Every JSON line the handler printed across the scenarios, and Lambda's platform lines."""
    lines: list[dict[str, Any]] = list(PLATFORM_LINES)
    with (
        AlpacaStandIn([], key_id=CREDENTIALS.key_id, secret_key=CREDENTIALS.secret_key) as stand_in,
        pytest.MonkeyPatch.context() as monkeypatch,
    ):
        for scenario in SCENARIOS.values():
            fn = Lambda(fresh_env(moto_url, stand_in), monkeypatch)
            scenario(fn)
            lines += fn.lines
    handler.base_settings.cache_clear()
    return lines


def label(line: dict[str, Any]) -> str | None:
    """'message [outcome] (ExceptionName)' of a log line, or None for other lines.

    The outcome comes from the line's run report, the exception name from Powertools' field.
    """
    if "message" not in line or "level" not in line:
        return None
    text = str(line["message"])
    if outcome := (line.get("report") or {}).get("outcome"):
        text += f" [{outcome}]"
    if exception := line.get("exception_name"):
        text += f" ({exception})"
    return text


ITEM = re.compile(r"^(?P<message>[^\[(]+?)(?: \[(?P<outcome>[^\]]+)\])?(?: \((?P<exc>[^)]+)\))?$")


def covers(item: str, line_label: str) -> bool:
    """Whether a '# matches:' item covers a line's label (an omitted part matches any)."""
    want, have = ITEM.match(item), ITEM.match(line_label)
    assert want and have, (item, line_label)
    return all(
        want.group(part) is None or want.group(part) == have.group(part)
        for part in ("outcome", "exc")
    ) and want.group("message") == have.group("message")


# --- the patterns of docs/deploy.md ------------------------------------------------------------


def documented_patterns() -> dict[str, list[str]]:
    """Pattern -> the items its '# matches:' comment names (from docs/deploy.md's code blocks)."""
    found: dict[str, list[str]] = {}
    unannotated: list[str] = []
    pending: list[str] | None = None
    in_code = False
    for line in DEPLOY_DOC.read_text().splitlines():
        if line.lstrip().startswith("```"):
            in_code, pending = not in_code, None
            continue
        if not in_code:
            assert "--filter-pattern" not in line or "`" in line, line
            continue
        if comment := MATCHES_COMMENT.match(line):
            pending = re.findall(r'"([^"]+)"', comment.group(1))
            assert pending, f"no quoted items in {line!r}"
        for pattern in FILTER_PATTERN.findall(line):
            if pending is not None:
                assert found.setdefault(pattern, pending) == pending, f"two annotations: {pattern}"
                pending = None
            else:
                unannotated.append(pattern)
    missing = sorted(set(unannotated) - set(found))
    assert missing == [], f"patterns without a '# matches:' comment: {missing}"
    return found


def test_the_deploy_doc_has_annotated_filter_patterns() -> None:
    patterns = documented_patterns()
    assert len(patterns) >= 3
    for pattern in patterns:
        compile_pattern(pattern)  # in the supported subset


def test_every_scenario_logs_what_it_is_for(corpus: list[dict[str, Any]]) -> None:
    labels = {label(line) for line in corpus} - {None}
    assert {
        "sync starting",
        "sync finished [succeeded]",
        "sync did not complete [refused] (GuardRefusedError)",
        "sync skipped: another sync holds the lease",
        "sync did not complete [failed] (AlpacaAuthError)",
        "sync failed (ConfigError)",
        "catch-up: syncing",
        "sync fresh: today's sync already succeeded, nothing to do [fresh]",
    } <= labels
    emf = [line for line in corpus if "_aws" in line]
    assert emf, "the EMF metric documents are part of the log group too"


def test_each_documented_pattern_finds_exactly_the_lines_it_names(
    corpus: list[dict[str, Any]],
) -> None:
    labels = {label(line) for line in corpus} - {None}
    for pattern, items in documented_patterns().items():
        for item in items:
            assert any(covers(item, lab) for lab in labels if lab), (
                f"{item!r} ({pattern}): no scenario makes the handler log it; add one"
            )
        matches = compile_pattern(pattern)
        found = [line for line in corpus if matches(line)]
        expected = [
            line
            for line in corpus
            if (lab := label(line)) and any(covers(item, lab) for item in items)
        ]
        assert found == expected, (
            f"{pattern} finds {[label(x) or x for x in found]}, "
            f"its comment names {[label(x) for x in expected]}"
        )


def test_every_warning_or_error_the_handler_logs_is_findable(
    corpus: list[dict[str, Any]],
) -> None:
    patterns = [compile_pattern(p) for p in documented_patterns()]
    for line in corpus:
        if line.get("level") in ("WARNING", "ERROR", "CRITICAL"):
            assert any(p(line) for p in patterns), f"no documented pattern finds {label(line)}"


# --- the evaluator itself ----------------------------------------------------------------------

LINE = {
    "level": "ERROR",
    "message": "sync did not complete",
    "cold_start": True,
    "report": {"outcome": "refused", "failed": 0, "tags": ["a", "b"], "note": None},
}


@pytest.mark.parametrize(
    ("pattern", "expected"),
    [
        ('{ $.level = "ERROR" }', True),
        ('{ $.level = "error" }', False),
        ("{ $.level = ERROR }", True),
        ('{ $.message = "sync did*" }', True),
        ('{ $.message = "*complete" }', True),
        ('{ $.message = "sync" }', False),
        ('{ $.level != "ERROR" }', False),
        ('{ $.report.outcome = "refused" }', True),
        ("{ $.report.failed = 0 }", True),
        ("{ $.report.failed > 0 }", False),
        ("{ $.report.failed >= 0 }", True),
        ('{ $.report.tags[1] = "b" }', True),
        ("{ $.report.note IS NULL }", True),
        ("{ $.cold_start IS TRUE }", True),
        ("{ $.cold_start IS FALSE }", False),
        ("{ $.missing NOT EXISTS }", True),
        ("{ $.level NOT EXISTS }", False),
        ('{ $.missing = "x" }', False),
        ('{ $.missing != "x" }', False),
        ('{ $.report.failed = "0" }', False),
        ('{ ($.level = "INFO") || ($.report.outcome = "refused") }', True),
        ('{ ($.level = "ERROR") && ($.report.outcome = "partial") }', False),
        ('{ $.level = "ERROR" && $.message = "sync did not complete" }', True),
    ],
)
def test_evaluator(pattern: str, expected: bool) -> None:
    assert compile_pattern(pattern)(LINE) is expected


@pytest.mark.parametrize(
    "pattern",
    [
        '"sync failed"',
        'ERROR "sync"',
        "{ $.a = 1 && $.b = 2 || $.c = 3 }",
        "{ $.a = 1 ",
        '{ $.a > "x" }',
        "{ $.a = 1 } trailing",
    ],
)
def test_evaluator_refuses_what_it_cannot_read(pattern: str) -> None:
    with pytest.raises(PatternError):
        compile_pattern(pattern)
