"""The sync function's own resources on dev, prod and qa: configuration, environment, the
daily schedule and its catch-ups, secret, queues, topic and alarm destinations, its alarms, its
role and what the dashboard draws of them. Synthesized once per module."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk.assertions import Match, Template
from tests.infra.synth import (
    PROD_DEPLOYMENT,
    QA_ALARM_TOPIC,
    QA_TIMEOUT,
    STAGES,
    Synth,
    alarms,
    arn,
    dashboard_body,
    key,
    logical_id,
    only,
    resources,
    role_grants,
    role_of_function,
    sync_function_id,
    three_stages,
)

pytestmark = pytest.mark.infra


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """dev, prod and qa side by side (tests/infra/synth.py: three_stages), cdk-nag on."""
    return three_stages(tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset)


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    """The dev stage's template (cdk.json's settings, as `make synth` builds it)."""
    return synth.template("dev")


# --- the sync function -----------------------------------------------------------------------


def test_sync_function_configuration(template: Template) -> None:
    function_id = sync_function_id(template)
    log_group_id = logical_id(
        template, "AWS::Logs::LogGroup", LogGroupName="/aws/lambda/signal9-asset-sync-dev"
    )
    props = resources(template, "AWS::Lambda::Function")[function_id]["Properties"]
    assert props["Runtime"] == "python3.12"
    assert props["Architectures"] == ["arm64"]
    assert props["MemorySize"] == 1024
    assert props["Timeout"] == 600
    assert props["FunctionName"] == "signal9-asset-sync-dev"
    assert props["LoggingConfig"] == {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_id}}
    # No reservation by default: a new account's concurrency quota of 10 cannot spare one.
    assert "ReservedConcurrentExecutions" not in props
    log_group = resources(template, "AWS::Logs::LogGroup")[log_group_id]["Properties"]
    assert log_group["RetentionInDays"] == 90


def test_reserved_concurrency_is_a_stage_setting(synth: Synth) -> None:
    for stage, expected in (("dev", None), ("prod", None), ("qa", 2)):
        template = synth.template(stage)
        props = resources(template, "AWS::Lambda::Function")[sync_function_id(template)]
        assert props["Properties"].get("ReservedConcurrentExecutions") == expected, stage
    events_fn = logical_id(
        synth.template("qa"), "AWS::Lambda::Function", FunctionName="signal9-asset-events-qa"
    )
    qa_functions = resources(synth.template("qa"), "AWS::Lambda::Function")
    assert "ReservedConcurrentExecutions" not in qa_functions[events_fn]["Properties"]


def test_sync_function_environment(synth: Synth) -> None:
    for stage, timeout, days, url in (
        ("dev", 600, "7", "https://paper-api.alpaca.markets"),
        ("prod", 600, "7", "https://api.alpaca.markets"),
        ("qa", QA_TIMEOUT, "3", "https://api.alpaca.markets"),
    ):
        template = synth.template(stage)
        props = resources(template, "AWS::Lambda::Function")[sync_function_id(template)]
        secret_id, _ = only(template, "AWS::SecretsManager::Secret")
        assert props["Properties"]["Environment"]["Variables"] == {
            "ASSETS_TABLE": {"Ref": "AssetsTable"},
            "SYNC_STATE_TABLE": {"Ref": "SyncStateTable"},
            "ALPACA_SECRET_ID": {"Ref": secret_id},
            "APCA_API_BASE_URL": url,
            "MAX_DELIST_FRACTION": "0.10",
            "FULL_RECONCILE_DAYS": days,
            "SYNC_LOCK_LEASE_SECONDS": str(timeout + 30),  # the lease outlives the timeout
            "POWERTOOLS_SERVICE_NAME": "asset-sync",
            "POWERTOOLS_METRICS_NAMESPACE": "Signal9/AssetSync",
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }, stage


def test_async_invocation_retries_then_the_failure_queue(template: Template) -> None:
    queue_id = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-invoke-failures"
    )
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": sync_function_id(template)},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": arn(queue_id)}},
        },
    )


def test_default_schedule_is_a_utc_rule_with_retries_and_dlq(template: Template) -> None:
    function_id = sync_function_id(template)
    rule_id = logical_id(template, "AWS::Events::Rule", Name="signal9-asset-sync-dev-schedule")
    rule = resources(template, "AWS::Events::Rule")[rule_id]
    dlq_id = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-schedule-dlq"
    )
    props = rule["Properties"]
    assert props["Name"] == "signal9-asset-sync-dev-schedule"
    assert props["ScheduleExpression"] == "cron(0 4 * * ? *)"
    assert props["State"] == "ENABLED"
    [target] = props["Targets"]
    assert target["Arn"] == arn(function_id)
    assert target["RetryPolicy"] == {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200}
    assert target["DeadLetterConfig"] == {"Arn": arn(dlq_id)}
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": arn(function_id),
            "Principal": "events.amazonaws.com",
            "SourceArn": arn(rule_id),
        },
    )
    # EventBridge may write to the DLQ only on behalf of this rule.
    template.has_resource_properties(
        "AWS::SQS::QueuePolicy",
        {
            "Queues": [{"Ref": dlq_id}],
            "PolicyDocument": {
                "Statement": Match.array_with(
                    [
                        Match.object_like(
                            {
                                "Effect": "Allow",
                                "Action": "sqs:SendMessage",
                                "Principal": {"Service": "events.amazonaws.com"},
                                "Condition": {"ArnEquals": {"aws:SourceArn": arn(rule_id)}},
                            }
                        )
                    ]
                )
            },
        },
    )


def test_alpaca_secret_is_created_without_a_value(synth: Synth) -> None:
    """No SecretString and no GenerateSecretString: CloudFormation creates an empty secret, and
    no deploy or replacement can write over the keys an operator put (docs/deploy.md)."""
    for stage in STAGES:
        template = synth.template(stage)
        secret_id, secret = only(template, "AWS::SecretsManager::Secret")
        assert secret_id == "AlpacaSecret"  # fixed: docs/deploy.md imports it by this id
        props = secret["Properties"]
        assert props["Name"] == f"signal9/asset-sync/{stage}/alpaca"
        assert "SecretString" not in props
        assert "GenerateSecretString" not in props
        assert "KmsKeyId" not in props  # the AWS managed key, as the code comment says
        template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)


# --- SQS and SNS -----------------------------------------------------------------------------


def test_queues_encrypted_retained_14_days_and_tls_only(template: Template) -> None:
    queues = resources(template, "AWS::SQS::Queue")
    assert {q["Properties"]["QueueName"] for q in queues.values()} == {
        "signal9-asset-sync-dev-schedule-dlq",
        "signal9-asset-sync-dev-invoke-failures",
        "signal9-asset-sync-dev-events-failures",
        "signal9-asset-sync-dev-history-failures",
    }
    policies = resources(template, "AWS::SQS::QueuePolicy").values()
    for queue_id, queue in queues.items():
        assert queue["Properties"]["SqsManagedSseEnabled"] is True
        assert queue["Properties"]["MessageRetentionPeriod"] == 14 * 24 * 3600
        statements = [
            s
            for p in policies
            if p["Properties"]["Queues"] == [{"Ref": queue_id}]
            for s in p["Properties"]["PolicyDocument"]["Statement"]
        ]
        assert {
            "Effect": "Deny",
            "Action": "sqs:*",
            "Principal": {"AWS": "*"},
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Resource": arn(queue_id),
        } in statements, f"{queue_id} does not deny non-TLS access"


@pytest.mark.parametrize("stage", STAGES)
def test_topic_denies_non_tls_publish_and_admits_only_this_stacks_alarms(
    synth: Synth, stage: str
) -> None:
    template = synth.template(stage)
    topic_id, topic = only(template, "AWS::SNS::Topic")
    assert topic["Properties"]["TopicName"] == f"signal9-asset-sync-{stage}-alarms"
    _, policy = only(template, "AWS::SNS::TopicPolicy")
    assert policy["Properties"]["Topics"] == [{"Ref": topic_id}]
    statements = policy["Properties"]["PolicyDocument"]["Statement"]
    deny = [{k: v for k, v in s.items() if k != "Sid"} for s in statements if s["Effect"] == "Deny"]
    assert deny == [
        {
            "Effect": "Deny",
            "Action": "sns:Publish",
            "Principal": "*",
            "Condition": {"Bool": {"aws:SecureTransport": "false"}},
            "Resource": {"Ref": topic_id},
        }
    ]
    [allow] = [s for s in statements if s["Effect"] == "Allow"]
    assert allow["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow["Action"] == "sns:Publish"
    assert set(allow["Condition"]) == {"StringEquals", "ArnEquals"}
    account = allow["Condition"]["StringEquals"]["aws:SourceAccount"]
    assert account == ({"Ref": "AWS::AccountId"} if stage == "dev" else "123456789012")
    admitted = allow["Condition"]["ArnEquals"]["aws:SourceArn"]
    alarm_ids = resources(template, "AWS::CloudWatch::Alarm")
    assert sorted(admitted, key=key) == sorted((arn(a) for a in alarm_ids), key=key)


def test_alarm_destinations_per_stage(synth: Synth) -> None:
    """dev: the topic only; prod: an e-mail subscription (as documented); qa: e-mail and an
    existing topic that every alarm notifies too."""
    synth.template("dev").resource_count_is("AWS::SNS::Subscription", 0)
    for stage, email in (("prod", PROD_DEPLOYMENT["alarm_email"]), ("qa", "ops@example.com")):
        template = synth.template(stage)
        topic_id, _ = only(template, "AWS::SNS::Topic")
        template.has_resource_properties(
            "AWS::SNS::Subscription",
            {"Protocol": "email", "Endpoint": email, "TopicArn": {"Ref": topic_id}},
        )
    qa = synth.template("qa")
    topic_id, _ = only(qa, "AWS::SNS::Topic")
    for name, props in alarms(qa).items():
        assert props["AlarmActions"] == [{"Ref": topic_id}, QA_ALARM_TOPIC], name


# --- CloudWatch alarms on the sync ------------------------------------------------------------


def test_every_alarm_is_named_for_its_stage_and_notifies_the_topic(synth: Synth) -> None:
    suffixes = {
        "errors",
        "duration",
        "schedule-dlq-messages",
        "invoke-failure-messages",
        "throttles",
        "async-events-dropped",
        "destination-delivery-failures",
        "no-successful-sync",
        "events-failure-messages",
        "events-errors",
        "events-iterator-age",
        "events-failed",
        "events-stalled",
        "events-quarantine-objects",
        "history-failed",
        "history-iterator-age",
        "history-failure-messages",
        "history-errors",
    }
    for stage in STAGES:
        template = synth.template(stage)
        topic_id, _ = only(template, "AWS::SNS::Topic")
        found = alarms(template)
        assert set(found) == {f"signal9-asset-sync-{stage}-{s}" for s in suffixes}
        for name, props in found.items():
            assert props["AlarmActions"][0] == {"Ref": topic_id}, name
            assert props.get("ActionsEnabled", True) is True
            assert len(props["AlarmDescription"]) > 20, name


def test_errors_alarm(template: Template) -> None:
    props = alarms(template)["signal9-asset-sync-dev-errors"]
    assert props["MetricName"] == "Errors"
    assert props["Namespace"] == "AWS/Lambda"
    assert props["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": sync_function_id(template)}}
    ]
    assert props["Statistic"] == "Sum"
    assert props["Period"] == 300
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["EvaluationPeriods"] == 1
    assert props["TreatMissingData"] == "notBreaching"


def test_duration_alarm_at_80_percent_of_timeout(synth: Synth) -> None:
    for stage, timeout_s in (("dev", 600), ("qa", QA_TIMEOUT)):
        props = alarms(synth.template(stage))[f"signal9-asset-sync-{stage}-duration"]
        assert props["MetricName"] == "Duration"
        assert props["Namespace"] == "AWS/Lambda"
        assert props["Statistic"] == "Maximum"
        assert props["Threshold"] == timeout_s * 1000 * 0.8
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"


@pytest.mark.parametrize("stage", STAGES)
def test_each_queue_alarms_on_every_newly_arrived_message(synth: Synth, stage: str) -> None:
    """NumberOfMessagesSent (every SendMessage of Lambda, EventBridge and Scheduler), not "any
    message visible", which stays in ALARM while the first failure waits and never notifies of
    the second."""
    template = synth.template(stage)
    queue_ids = set(resources(template, "AWS::SQS::Queue"))
    watched = []
    for props in alarms(template).values():
        if props.get("Namespace") != "AWS/SQS":
            continue
        assert props["MetricName"] == "NumberOfMessagesSent"
        assert (props["Statistic"], props["Period"]) == ("Sum", 300)
        assert (props["Threshold"], props["ComparisonOperator"]) == (
            1,
            "GreaterThanOrEqualToThreshold",
        )
        # One message in any of the last three periods (SQS may report an idle queue's first
        # metrics late), OK again after 15 minutes without one: the next message notifies.
        assert (props["EvaluationPeriods"], props["DatapointsToAlarm"]) == (3, 1)
        assert props["TreatMissingData"] == "notBreaching"
        [dimension] = props["Dimensions"]
        assert dimension["Name"] == "QueueName"
        watched.append(dimension["Value"]["Fn::GetAtt"][0])
    assert sorted(watched) == sorted(queue_ids)


@pytest.mark.parametrize(
    ("name", "metric"),
    [
        ("throttles", "Throttles"),
        ("async-events-dropped", "AsyncEventsDropped"),
        ("destination-delivery-failures", "DestinationDeliveryFailures"),
    ],
)
@pytest.mark.parametrize("stage", STAGES)
def test_delivery_alarms_on_the_sync_function(
    synth: Synth, stage: str, name: str, metric: str
) -> None:
    template = synth.template(stage)
    props = alarms(template)[f"signal9-asset-sync-{stage}-{name}"]
    assert (props["Namespace"], props["MetricName"]) == ("AWS/Lambda", metric)
    assert props["Dimensions"] == [
        {"Name": "FunctionName", "Value": {"Ref": sync_function_id(template)}}
    ]
    assert (props["Statistic"], props["Period"], props["EvaluationPeriods"]) == ("Sum", 300, 1)
    assert (props["Threshold"], props["ComparisonOperator"]) == (1, "GreaterThanOrEqualToThreshold")
    assert props["TreatMissingData"] == "notBreaching"


def test_no_success_alarm_counts_successes_and_fresh_catch_ups_over_26_hours(
    template: Template,
) -> None:
    props = alarms(template)["signal9-asset-sync-dev-no-successful-sync"]
    [expression, *inputs] = props["Metrics"]
    assert expression["Expression"] == "FILL(succeeded, 0) + FILL(fresh, 0)"
    assert expression.get("ReturnData", True) is True
    assert {m["Id"]: m["MetricStat"]["Metric"]["MetricName"] for m in inputs} == {
        "succeeded": "SyncSucceeded",
        "fresh": "SyncFresh",
    }
    for m in inputs:
        assert m["ReturnData"] is False
        stat = m["MetricStat"]
        assert stat["Metric"]["Namespace"] == "Signal9/AssetSync"
        assert stat["Metric"]["Dimensions"] == [{"Name": "service", "Value": "asset-sync"}]
        assert (stat["Stat"], stat["Period"]) == ("Sum", 3600)
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching"
    # 26 one-hour periods, all breaching (CloudWatch allows 7 days of range at this period).
    assert props["EvaluationPeriods"] == props["DatapointsToAlarm"] == 26


# --- IAM ---------------------------------------------------------------------------------------


def test_sync_role_grants_exactly_the_needed_actions(template: Template) -> None:
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    log_group_id = logical_id(
        template, "AWS::Logs::LogGroup", LogGroupName="/aws/lambda/signal9-asset-sync-dev"
    )
    queue_id = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-invoke-failures"
    )
    index_arn = {"Fn::Join": ["", [arn("AssetsTable"), "/index/status-index"]]}
    id_index_arn = {"Fn::Join": ["", [arn("AssetsTable"), "/index/asset-id-index"]]}
    granted = role_grants(template, role_of_function(template, sync_function_id(template)))
    assert granted == {
        key(arn("AssetsTable")): {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        },
        key(index_arn): {"dynamodb:Query"},
        key(id_index_arn): {"dynamodb:Query", "dynamodb:Scan"},
        # The lease (Get/Update) and the closing TransactWriteItems: Update the state item, Put
        # the run-history item, Delete the one 400 runs older (authorised per item action).
        key(arn("SyncStateTable")): {
            "dynamodb:GetItem",
            "dynamodb:UpdateItem",
            "dynamodb:PutItem",
            "dynamodb:DeleteItem",
        },
        key({"Ref": secret_id}): {"secretsmanager:GetSecretValue"},
        key(arn(log_group_id)): {"logs:CreateLogStream", "logs:PutLogEvents"},
        key(arn(queue_id)): {"sqs:SendMessage"},  # the async on-failure destination
    }


# --- catch-ups and the dashboard ---------------------------------------------------------------


@pytest.mark.parametrize("stage", ["dev", "prod"])
def test_the_committed_stages_schedule_three_catch_ups_after_the_daily_run(
    synth: Synth, stage: str
) -> None:
    template = synth.template(stage)
    rules = {
        r["Properties"]["Name"]: r["Properties"]
        for r in resources(template, "AWS::Events::Rule").values()
    }
    expected = {
        f"signal9-asset-sync-{stage}-schedule": ("cron(0 4 * * ? *)", None),
        f"signal9-asset-sync-{stage}-catch-up": ("cron(0 5 * * ? *)", 3600),
        f"signal9-asset-sync-{stage}-catch-up-2": ("cron(0 6 * * ? *)", 7200),
        f"signal9-asset-sync-{stage}-catch-up-3": ("cron(35 13 * * ? *)", 34500),
    }
    found = {}
    for name, props in rules.items():
        [target] = props["Targets"]
        transformer = target.get("InputTransformer")
        window = None
        if transformer:
            event = json.loads(re.sub(r"<(id|time)>", '"x"', transformer["InputTemplate"]))
            window = event["catch_up"]["window_seconds"]
        found[name] = (props["ScheduleExpression"], window)
    assert found == expected


def test_the_dashboard_shows_fresh_catch_ups_queues_and_dropped_invocations(
    template: Template,
) -> None:
    body = json.dumps(dashboard_body(template))
    assert '"Signal9/AssetSync", "SyncFresh"' in body
    for metric in ("NumberOfMessagesSent", "ApproximateNumberOfMessagesVisible"):
        assert body.count(f'"AWS/SQS", "{metric}"') == 3, metric
    for metric in ("Throttles", "AsyncEventsDropped", "DestinationDeliveryFailures"):
        assert f'"AWS/Lambda", "{metric}"' in body, metric
    assert "catch-ups `cron(0 5 * * ? *)`, `cron(0 6 * * ? *)`, `cron(35 13 * * ? *)`" in body
