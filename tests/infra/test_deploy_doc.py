"""docs/deploy.md against what it describes: cdk.json's keys and stages, the freshness promise,
the laptop runbook, and the figures it takes from docs/benchmarks.md and the build (no synth)."""

from __future__ import annotations

import json
import re
from datetime import timedelta

import pytest
from infra.schedules import daily_time
from infra.settings import STAGE_KEYS, load_stage
from tests.infra.synth import CDK_CONTEXT, PROD_DEPLOYMENT, REPO_ROOT

pytestmark = pytest.mark.infra

DEPLOY_DOC = (REPO_ROOT / "docs" / "deploy.md").read_text()
BENCHMARKS = (REPO_ROOT / "docs" / "benchmarks.md").read_text()
LAMBDA_RETRIES = timedelta(minutes=3)  # the second of Lambda's retries, about 3 min after
RUN = timedelta(minutes=2)  # "a run then takes a minute or two"


def section(title: str) -> str:
    """The text of the `## title...` section, up to the next `## `."""
    start = DEPLOY_DOC.index(f"## {title}")
    end = DEPLOY_DOC.find("\n## ", start + 3)
    return DEPLOY_DOC[start : end if end != -1 else None]


def test_the_stage_table_documents_every_key() -> None:
    table = section("Stages")
    documented = set(re.findall(r"^\| `([a-z_]+)`", table, re.MULTILINE))
    documented |= (
        {"memory_mb", "timeout_seconds"} if "`memory_mb`, `timeout_seconds`" in table else set()
    )
    assert documented == STAGE_KEYS


def test_the_first_deploy_snippet_sets_what_the_tests_synthesize_prod_with() -> None:
    text = section("Build, synthesize, deploy")
    [snippet] = re.findall(r"```json\n(.*?)\n```", text, re.DOTALL)
    prod = json.loads(snippet)["context"]["stages"]["prod"]
    assert prod == PROD_DEPLOYMENT
    assert set(prod) <= set(CDK_CONTEXT["stages"]["prod"])  # keys the committed entry shows


def test_the_laptop_runbook_points_the_cli_at_the_stages_alpaca_url_and_tables() -> None:
    text = section("Fix it from a laptop")
    [commands] = re.findall(r"```sh\n(.*?)\n```", text, re.DOTALL)
    lines = commands.splitlines()
    first_cli = next(i for i, line in enumerate(lines) if "asset-sync " in line)
    exports = "\n".join(lines[:first_cli])
    for variable, key in (
        ("APCA_API_BASE_URL", "alpaca_base_url"),
        ("ASSETS_TABLE", "assets_table_name"),
        ("SYNC_STATE_TABLE", "sync_state_table_name"),
    ):
        expected = f'export {variable}="$(.venv/bin/python -m infra.settings "$STAGE" {key})"'
        assert expected in exports, variable


def hours_minutes(text: str) -> timedelta:
    hours, minutes = text.split(":")
    return timedelta(hours=int(hours), minutes=int(minutes))


def test_the_freshness_promise_is_the_committed_schedule() -> None:
    """Each row: an attempt (the daily run, then each catch-up), the outage it still catches
    (the attempt plus Lambda's retries), when the table is fresh and how late that is."""
    rows = re.findall(
        r"^\| (\d\d:\d\d) \((?:daily run|catch-up), retries to (\d\d:\d\d)\) \| (\d\d:\d\d) "
        r"\| about (\d\d:\d\d) \| (?:(\d+) h )?(\d+) min \|$",
        section("Freshness"),
        re.MULTILINE,
    )
    for stage in ("dev", "prod"):
        settings = load_stage(stage)
        [daily] = settings.schedules
        times = sorted(
            daily_time(e) or 0 for e in (daily, *(c.expression for c in settings.catch_ups))
        )
        assert [hours_minutes(row[0]) for row in rows] == [timedelta(seconds=t) for t in times]
    start = hours_minutes(rows[0][0])
    for attempt, retries_to, over_by, fresh_by, late_h, late_min in rows:
        at = hours_minutes(attempt)
        assert hours_minutes(retries_to) == hours_minutes(over_by) == at + LAMBDA_RETRIES
        assert hours_minutes(fresh_by) == at + LAMBDA_RETRIES + RUN
        late = timedelta(hours=int(late_h or 0), minutes=int(late_min))
        assert late == at + LAMBDA_RETRIES + RUN - start


def benchmark_cell(scenario: str, column: str) -> str:
    """A cell of (c) asset-sync's row at N = 35,000 in docs/benchmarks.md."""
    table = BENCHMARKS[BENCHMARKS.index("## N = 35,000") :]
    rows = [line for line in table.splitlines() if line.startswith("|")]
    header = [cell.strip() for cell in rows[0].strip("|").split("|")]
    for row in rows[2:]:
        cells = [cell.strip() for cell in row.strip("|").split("|")]
        if cells[0] == scenario and cells[1] == "(c) asset-sync":
            return cells[header.index(column)]
    raise AssertionError(f"no row {scenario!r}")


def test_the_cpu_figures_are_the_benchmarks() -> None:
    cpu = benchmark_cell("initial load (empty table)", "CPU s (sync process)")
    wall = float(
        benchmark_cell("initial load (empty table)", "wall s, median (runs)").split()[0].strip("*")
    )
    why = section("Why these settings")
    assert f"used {cpu} s of the sync process's CPU" in why
    assert f"{round(wall)} s of\n  wall time" in why or f"{round(wall)} s of wall time" in why
    # ~0.58 vCPU at 1024 MB: the CPU time there, as the text says.
    assert f"about {round(float(cpu) / 0.58)} s of CPU" in why


def test_the_artifact_figures_round_the_measured_ones() -> None:
    [(zipped, unzipped)] = re.findall(
        r"\*\*([\d.]+) MiB zipped \([\d,]+ B\), ([\d.]+) MiB unzipped, [\d,]+ files\*\*", BENCHMARKS
    )
    text = section("Artifact")
    assert (
        f"about **{round(float(zipped))} MiB zipped and\n{round(float(unzipped))} MiB unzipped"
        in text
    )
    # The stack deploys the directory (cdk.json's lambda_asset), which make package builds.
    assert CDK_CONTEXT["lambda_asset"] == "dist/lambda"
    assert (
        "`make package` builds `dist/lambda/` (python3.12, arm64), the directory the stack" in text
    )
