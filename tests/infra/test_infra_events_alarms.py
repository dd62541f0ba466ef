"""The event pipeline's delivery promises on the dev stage: the mapping the consumer and its
tests assume, and the alarms that make a lost or delayed change visible (docs/events.md)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from tests.infra.synth import logical_id, only, resources, synthesize
from tests.support.stream_mapping import MappingSettings

from asset_sync.events.batch import EXPIRING_AGE, STREAM_RETENTION_SECONDS

pytestmark = pytest.mark.infra

EVENTS_DOC = Path(__file__).resolve().parents[2] / "docs" / "events.md"


@pytest.fixture(scope="module")
def template(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The dev stage (cdk.json), synthesized with cdk-nag on."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset).template("dev")


def consumer_id(template: Template) -> str:
    return logical_id(template, "AWS::Lambda::Function", FunctionName="signal9-asset-events-dev")


def alarm(template: Template, name: str) -> dict[str, Any]:
    """One alarm's properties, by its name without the stage prefix."""
    found = template.find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"AlarmName": f"signal9-asset-sync-dev-{name}"}},
    )
    [props] = [dict(r["Properties"]) for r in found.values()]
    return props


# --- the delivery promises: what the stack sets is what the consumer and its tests assume ----


def test_the_mapping_double_and_the_consumer_run_with_the_stacks_settings(
    template: Template,
) -> None:
    [mapping] = [  # the events consumer's (the history writer has its own)
        m
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": consumer_id(template)}
    ]
    props = mapping["Properties"]
    function = resources(template, "AWS::Lambda::Function")[consumer_id(template)]
    double = MappingSettings()

    assert props["BatchSize"] == double.batch_size
    assert props["BisectBatchOnFunctionError"] is double.bisect_batch_on_function_error
    assert props.get("MaximumRetryAttempts", -1) == double.maximum_retry_attempts == -1
    assert props["MaximumRecordAgeInSeconds"] == double.maximum_record_age_seconds
    assert function["Properties"]["Timeout"] == double.function_timeout_seconds
    # the consumer quarantines failing records before Lambda discards them, and Lambda discards
    # them before the stream trims them
    assert EXPIRING_AGE < props["MaximumRecordAgeInSeconds"] < STREAM_RETENTION_SECONDS
    assert double.retention_seconds == STREAM_RETENTION_SECONDS


def metric_stats(props: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """A metric-math alarm's metrics by id: namespace, name, dimensions, period, stat."""
    found = {}
    for query in props["Metrics"]:
        if "MetricStat" in query:
            stat = query["MetricStat"]
            metric = stat["Metric"]
            found[query["Id"]] = {
                "namespace": metric["Namespace"],
                "name": metric["MetricName"],
                "dimensions": {d["Name"]: d["Value"] for d in metric.get("Dimensions", [])},
                "period": stat["Period"],
                "stat": stat["Stat"],
            }
    return found


def expression(props: dict[str, Any]) -> str:
    [returned] = [query for query in props["Metrics"] if query.get("ReturnData", True)]
    return str(returned["Expression"])


def test_events_failed_alarm_adds_failed_and_quarantined(template: Template) -> None:
    props = alarm(template, "events-failed")
    stats = metric_stats(props)

    assert expression(props) == "FILL(failed, 0) + FILL(quarantined, 0)"
    assert {(m["name"], m["period"], m["stat"]) for m in stats.values()} == {
        ("EventsFailed", 300, "Sum"),
        ("EventsQuarantined", 300, "Sum"),
    }
    assert all(m["dimensions"] == {"service": "asset-events"} for m in stats.values())
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert props["TreatMissingData"] == "notBreaching"


def test_events_stalled_alarm_compares_the_syncs_changes_with_published_events(
    template: Template,
) -> None:
    props = alarm(template, "events-stalled")
    stats = metric_stats(props)

    by_name = {m["name"]: m for m in stats.values()}
    assert set(by_name) == {
        "AssetsCreated",
        "AssetsUpdated",
        "AssetsDelisted",
        "AssetsReactivated",
        "AssetsRenamed",
        "AssetsRepaired",
        "EventsPublished",
    }
    assert by_name["EventsPublished"]["dimensions"] == {"service": "asset-events"}
    assert by_name["AssetsCreated"]["dimensions"] == {"service": "asset-sync"}
    assert {m["period"] for m in stats.values()} == {3600}
    assert expression(props).startswith("IF((FILL(c0, 0) + ")
    assert expression(props).endswith(") > 0 AND FILL(published, 0) == 0, 1, 0)")
    assert (props["Threshold"], props["EvaluationPeriods"]) == (1, 1)
    assert props["TreatMissingData"] == "notBreaching"


def test_quarantine_alarm_counts_new_objects_under_the_prefix(template: Template) -> None:
    props = alarm(template, "events-quarantine-objects")

    assert (props["Namespace"], props["MetricName"]) == ("AWS/S3", "PutRequests")
    assert props["Dimensions"] == [
        {"Name": "BucketName", "Value": {"Ref": only(template, "AWS::S3::Bucket")[0]}},
        {"Name": "FilterId", "Value": "quarantined"},
    ]
    assert (props["Statistic"], props["Period"]) == ("Sum", 300)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_every_events_alarm_has_a_runbook_in_events_md(template: Template) -> None:
    section = EVENTS_DOC.read_text().split("## Runbooks", 1)[1].split("\n## ", 1)[0]
    names = {
        name.removeprefix("signal9-asset-sync-dev-")
        for name in (
            a["Properties"]["AlarmName"]
            for a in resources(template, "AWS::CloudWatch::Alarm").values()
        )
        if name.startswith("signal9-asset-sync-dev-events-")
    }

    assert len(names) == 6
    for name in names:
        assert f"### `{name}` — " in section, name
