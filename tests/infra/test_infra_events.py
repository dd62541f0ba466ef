"""Change events (stream -> consumer -> bus with archive) and the dashboard, on the dev stage."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from aws_cdk.assertions import Template
from tests.infra.synth import (
    arn,
    dashboard_body,
    key,
    logical_id,
    only,
    resources,
    role_grants,
    role_of_function,
    synthesize,
)

pytestmark = pytest.mark.infra

CONSUMER = "signal9-asset-events-dev"


@pytest.fixture(scope="module")
def template(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The dev stage (cdk.json), synthesized with cdk-nag on."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset).template("dev")


def consumer_id(template: Template) -> str:
    """The consumer function's logical id."""
    return logical_id(template, "AWS::Lambda::Function", FunctionName=CONSUMER)


def sync_id(template: Template) -> str:
    """The sync function's logical id."""
    return logical_id(template, "AWS::Lambda::Function", FunctionName="signal9-asset-sync-dev")


def failure_queue_id(template: Template) -> str:
    """The consumer's on-failure queue."""
    return logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-events-failures"
    )


# --- bus and archive -------------------------------------------------------------------------


def test_bus_named_from_the_stage_settings_and_retained(template: Template) -> None:
    _, bus = only(template, "AWS::Events::EventBus")
    assert bus["Properties"]["Name"] == "signal9-assets-dev"  # cdk.json: event_bus_name
    assert "KmsKeyIdentifier" not in bus["Properties"]  # AWS owned key, as the comment says
    # a deleted stack or a renamed bus leaves the bus and its archive (docs/events.md)
    assert (bus["DeletionPolicy"], bus["UpdateReplacePolicy"]) == ("RetainExceptOnCreate", "Retain")


def test_archive_keeps_every_asset_sync_event_for_a_year_and_outlives_the_stack(
    template: Template,
) -> None:
    bus_id, _ = only(template, "AWS::Events::EventBus")
    archive_id, archive = only(template, "AWS::Events::Archive")
    props = archive["Properties"]
    assert props["ArchiveName"] == "signal9-assets-dev-archive"
    assert props["SourceArn"] == arn(bus_id)
    assert props["EventPattern"] == {"source": ["signal9.asset-sync"]}
    assert props["RetentionDays"] == 365
    assert (archive["DeletionPolicy"], archive["UpdateReplacePolicy"]) == (
        "RetainExceptOnCreate",
        "Retain",
    )
    outputs = template.to_json()["Outputs"]
    assert outputs["EventArchiveName"]["Value"] == {"Ref": archive_id}


def quarantine_id(template: Template) -> str:
    return only(template, "AWS::S3::Bucket")[0]


def test_the_quarantine_is_private_encrypted_tls_only_and_kept_four_weeks(
    template: Template,
) -> None:
    bucket_id, bucket = only(template, "AWS::S3::Bucket")
    props = bucket["Properties"]
    assert "BucketName" not in props  # generated: a stack deployed again never collides
    assert (bucket["DeletionPolicy"], bucket["UpdateReplacePolicy"]) == (
        "RetainExceptOnCreate",
        "Retain",
    )
    assert props["BucketEncryption"] == {
        "ServerSideEncryptionConfiguration": [
            {"ServerSideEncryptionByDefault": {"SSEAlgorithm": "AES256"}}
        ]
    }
    assert props["PublicAccessBlockConfiguration"] == {
        "BlockPublicAcls": True,
        "BlockPublicPolicy": True,
        "IgnorePublicAcls": True,
        "RestrictPublicBuckets": True,
    }
    assert props["LifecycleConfiguration"] == {
        "Rules": [{"Id": "expire", "ExpirationInDays": 28, "Status": "Enabled"}]
    }
    assert props["MetricsConfigurations"] == [{"Id": "quarantined", "Prefix": "pending/"}]
    [policy] = resources(template, "AWS::S3::BucketPolicy").values()
    [deny] = policy["Properties"]["PolicyDocument"]["Statement"]
    assert deny["Effect"] == "Deny"
    assert deny["Condition"] == {"Bool": {"aws:SecureTransport": "false"}}
    outputs = template.to_json()["Outputs"]
    assert outputs["EventsQuarantineBucketName"]["Value"] == {"Ref": bucket_id}


# --- the consumer ----------------------------------------------------------------------------


def test_consumer_function(template: Template) -> None:
    bus_id, _ = only(template, "AWS::Events::EventBus")
    log_group_id = logical_id(
        template, "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{CONSUMER}"
    )
    props = resources(template, "AWS::Lambda::Function")[consumer_id(template)]["Properties"]
    assert props["Handler"] == "asset_sync.events.handler.lambda_handler"
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert (
        props["Code"]
        == resources(template, "AWS::Lambda::Function")[sync_id(template)]["Properties"]["Code"]
    ), "the consumer ships in the same artifact as the sync"
    assert props["MemorySize"] == 256
    assert props["Timeout"] == 60
    assert props["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_id}}
    assert props["Environment"]["Variables"] == {
        "EVENT_BUS_NAME": {"Ref": bus_id},
        "EVENTS_QUARANTINE_BUCKET": {"Ref": quarantine_id(template)},
        "POWERTOOLS_SERVICE_NAME": "asset-events",
        "POWERTOOLS_METRICS_NAMESPACE": "Signal9/AssetSync",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    assert "ReservedConcurrentExecutions" not in props
    log_group = resources(template, "AWS::Logs::LogGroup")[log_group_id]
    assert log_group["Properties"]["RetentionInDays"] == 90
    assert log_group["DeletionPolicy"] == "RetainExceptOnCreate"
    template.resource_count_is("AWS::Lambda::EventInvokeConfig", 1)  # the sync's only


def test_stream_mapping(template: Template) -> None:
    [mapping] = [  # the events consumer's (the history writer has its own)
        m
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
        if m["Properties"]["FunctionName"] == {"Ref": consumer_id(template)}
    ]
    props = dict(mapping["Properties"])
    filters = props.pop("FilterCriteria")["Filters"]
    props.pop("Tags", None)
    assert props == {
        "FunctionName": {"Ref": consumer_id(template)},
        "EventSourceArn": arn("AssetsTable", "StreamArn"),
        "StartingPosition": "TRIM_HORIZON",
        "BatchSize": 100,
        "MaximumBatchingWindowInSeconds": 5,
        "BisectBatchOnFunctionError": True,
        "MaximumRecordAgeInSeconds": 23 * 3600,  # no MaximumRetryAttempts: until they expire
        "FunctionResponseTypes": ["ReportBatchItemFailures"],
        "DestinationConfig": {"OnFailure": {"Destination": arn(failure_queue_id(template))}},
    }
    # Lambda keeps a record that matches any filter: the sync's writes and the hand deletes.
    assert [json.loads(f["Pattern"]) for f in filters] == [
        {
            "eventName": ["INSERT", "MODIFY"],
            "dynamodb": {"NewImage": {"sync_version": {"N": [{"exists": True}]}}},
        },
        {"eventName": ["REMOVE"]},
    ]


def test_consumer_role_reads_this_stream_and_puts_to_this_bus_only(template: Template) -> None:
    bus_id, _ = only(template, "AWS::Events::EventBus")
    log_group_id = logical_id(
        template, "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{CONSUMER}"
    )
    role_id = role_of_function(template, consumer_id(template))
    assert role_id != role_of_function(template, sync_id(template))
    assert role_grants(template, role_id) == {
        key(arn("AssetsTable", "StreamArn")): {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        },
        key(arn(bus_id)): {"events:PutEvents"},
        key({"Fn::Join": ["", [arn(quarantine_id(template)), "/pending/*"]]}): {"s3:PutObject"},
        key(arn(failure_queue_id(template))): {"sqs:SendMessage"},
        key(arn(log_group_id)): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }


# --- alarms on the consumer ------------------------------------------------------------------


def alarm(template: Template, name: str) -> dict[str, Any]:
    """One alarm's properties, by its name without the stage prefix."""
    found = template.find_resources(
        "AWS::CloudWatch::Alarm",
        {"Properties": {"AlarmName": f"signal9-asset-sync-dev-{name}"}},
    )
    [props] = [dict(r["Properties"]) for r in found.values()]
    return props


def test_failure_destination_alarm(template: Template) -> None:
    props = alarm(template, "events-failure-messages")
    assert props["MetricName"] == "NumberOfMessagesSent"  # each newly arrived message
    assert props["Dimensions"] == [
        {"Name": "QueueName", "Value": arn(failure_queue_id(template), "QueueName")}
    ]
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")


def test_consumer_errors_alarm(template: Template) -> None:
    props = alarm(template, "events-errors")
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == "Errors"
    assert props["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": consumer_id(template)}}
    ]
    assert (props["Statistic"], props["Period"]) == ("Sum", 300)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert props["TreatMissingData"] == "notBreaching"


def test_consumer_iterator_age_alarm_at_five_minutes(template: Template) -> None:
    props = alarm(template, "events-iterator-age")
    assert props["Namespace"] == "AWS/Lambda"
    assert props["MetricName"] == "IteratorAge"
    assert props["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": consumer_id(template)}}
    ]
    assert (props["Statistic"], props["Period"]) == ("Maximum", 300)
    assert (props["Threshold"], props["ComparisonOperator"]) == (300_000, "GreaterThanThreshold")
    assert props["EvaluationPeriods"] == 1
    assert props["TreatMissingData"] == "notBreaching"


# --- dashboard -------------------------------------------------------------------------------


def widget_metrics(widget: dict[str, Any]) -> list[tuple[str, str, dict[str, str]]]:
    """(namespace, metric name, dimensions) of each metric a widget draws."""
    found = []
    for row in widget.get("properties", {}).get("metrics", []):
        fields = [part for part in row if not isinstance(part, dict)]
        if fields and fields[0] == ".":
            raise AssertionError(f"abbreviated metric row {row}")
        namespace, name, *dims = fields
        found.append((namespace, name, dict(zip(dims[::2], dims[1::2], strict=True))))
    return found


def widget_titled(body: dict[str, Any], start: str) -> dict[str, Any]:
    """The one widget whose title starts with start."""
    [widget] = [w for w in body["widgets"] if w["properties"].get("title", "").startswith(start)]
    return widget


def test_dashboard_names_every_metric_the_on_call_needs(template: Template) -> None:
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    assert dashboard["Properties"]["DashboardName"] == "signal9-asset-sync-dev"
    body = dashboard_body(template)
    sync = {"service": "asset-sync"}
    drawn = {m for w in body["widgets"] for m in map(key, widget_metrics(w))}

    def expect(namespace: str, names: tuple[str, ...], dims: dict[str, str]) -> None:
        for name in names:
            assert key((namespace, name, dims)) in drawn, name

    outcomes = ("SyncSucceeded", "SyncPartial", "SyncRefused", "SyncFailed", "SyncInterrupted")
    expect("Signal9/AssetSync", (*outcomes, "SyncSkipped"), sync)
    changes = ("AssetsCreated", "AssetsUpdated", "AssetsDelisted", "AssetsReactivated")
    expect("Signal9/AssetSync", (*changes, "AssetsRenamed", "AssetsRepaired"), sync)
    expect("Signal9/AssetSync", ("SyncDuration", "DynamoDBWriteRequests", "AlpacaAttempts"), sync)
    events = ("EventsPublished", "EventsFailed", "EventsQuarantined")
    expect("Signal9/AssetSync", events, {"service": "asset-events"})
    consumer = {"FunctionName": f"<Ref:{consumer_id(template)}>"}
    expect("AWS/Lambda", ("Errors", "IteratorAge"), consumer)


def test_dashboard_duration_is_drawn_against_the_timeout(template: Template) -> None:
    widget = widget_titled(dashboard_body(template), "Sync duration")
    [(_, name, _)] = widget_metrics(widget)
    assert name == "SyncDuration"
    annotations = widget["properties"]["annotations"]["horizontal"]
    assert {"label": "timeout", "value": 600, "color": "#d62728", "yAxis": "left"} in annotations


def test_dashboard_shows_every_alarm_state(template: Template) -> None:
    widget = widget_titled(dashboard_body(template), "Alarms")
    assert widget["type"] == "alarm"
    shown = set(widget["properties"]["alarms"])
    alarm_ids = set(resources(template, "AWS::CloudWatch::Alarm"))
    assert shown == {f"<GetAtt:{alarm_id}.Arn>" for alarm_id in alarm_ids}
