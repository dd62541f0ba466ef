"""AssetSync-<stage>: dev and prod from cdk.json side by side, plus a "qa" stage that sets every
optional setting. Synthesized once per module (cdk-nag on), then checked on the templates."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Match, Template
from cdk_nag import AwsSolutionsChecks
from tests.infra.synth import (
    REPO_ROOT,
    Synth,
    arn,
    as_list,
    cfn_lint_problems,
    key,
    logical_id,
    only,
    resources,
    role_grants,
    role_of_function,
    stage_settings,
    synthesize,
    walk,
)

pytestmark = pytest.mark.infra

STAGES = ("dev", "prod", "qa")
QA_TIMEOUT = 900
# Every cdk-nag acknowledgment in a stack (path under the stack -> rule); new ones on purpose.
EXPECTED_ACKNOWLEDGMENTS = {
    "Sync/AlpacaSecret": "AwsSolutions::AwsSolutions-SMG4",
    "Sync/InvokeFailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "Sync/Function": "AwsSolutions::AwsSolutions-L1",
    "Schedule/Dlq": "AwsSolutions::AwsSolutions-SQS3",
    "Events/FailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "Events/Function": "AwsSolutions::AwsSolutions-L1",
}
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """dev through infra/app.py, prod from cdk.json, and qa with every optional setting."""
    qa = stage_settings(
        "prod",
        stage="qa",
        alarm_email="ops@example.com",
        memory_mb=2048,
        timeout_seconds=QA_TIMEOUT,
        reserved_concurrency=2,
        assets_table_name="signal9_assets_qa",
        sync_state_table_name="signal9_assets_qa_sync_state",
        event_bus_name=None,
        table_deletion_protection=True,
        full_reconcile_days=3,
        account="123456789012",
    )
    return synthesize(
        tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset, stage_settings("prod"), qa
    )


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    """The dev stage's template (cdk.json's settings, as `make synth` builds it)."""
    return synth.template("dev")


def sync_function_id(template: Template) -> str:
    """The sync function's logical id."""
    return logical_id(
        template, "AWS::Lambda::Function", Handler="asset_sync.handler.lambda_handler"
    )


# --- synthesis, cdk-nag, annotations, cfn-lint ----------------------------------------------


def test_resource_inventory(template: Template) -> None:
    counts = {
        "AWS::DynamoDB::Table": 2,
        "AWS::Lambda::Function": 2,
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Lambda::EventSourceMapping": 1,
        "AWS::Lambda::Permission": 1,
        "AWS::Events::Rule": 1,
        "AWS::Events::EventBus": 1,
        "AWS::Events::Archive": 1,
        "AWS::SQS::Queue": 3,
        "AWS::SQS::QueuePolicy": 3,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::SNS::Subscription": 0,
        "AWS::CloudWatch::Alarm": 8,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::SecretsManager::Secret": 1,
        "AWS::Logs::LogGroup": 2,
        "AWS::IAM::Role": 2,
        "AWS::IAM::Policy": 2,
    }
    for type_, count in counts.items():
        template.resource_count_is(type_, count)
    types = {r["Type"] for r in template.to_json()["Resources"].values()}
    assert types == {t for t, c in counts.items() if c}, "unexpected resource types"


def test_synth_writes_one_template_per_stage(synth: Synth) -> None:
    for stage in STAGES:
        path = synth.outdir / f"AssetSync-{stage}.template.json"
        assert json.loads(path.read_text())["Resources"], stage


def test_stacks_are_pinned_to_the_stage_region_and_account_when_given(synth: Synth) -> None:
    dev, qa = synth.stacks["dev"], synth.stacks["qa"]
    assert dev.stack_name == "AssetSync-dev"
    assert dev.region == "us-east-1"
    assert cdk.Token.is_unresolved(dev.account)  # cdk.json names no account for dev
    assert (qa.region, qa.account) == ("us-east-1", "123456789012")


def acknowledged(construct: Any) -> dict[str, str]:
    """Rule id -> reason of the acknowledgments recorded on one construct."""
    found: dict[str, str] = {}
    for entry in construct.node.metadata:
        if entry.type == cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY:
            found.update(entry.data)
    return found


def test_cdk_nag_findings_are_all_acknowledged(synth: Synth) -> None:
    # validate_scope reports the raw findings; CDK's validation step (app.synth, which passed
    # in the fixture) drops the acknowledged ones. Check each finding against its construct.
    report = AwsSolutionsChecks(synth.app, verbose=True).validate_scope(synth.app)
    used: set[tuple[str, str]] = set()
    unacknowledged = []
    for violation in report.violations:
        rule_id = f"AwsSolutions::{violation.rule_name}"
        for resource in violation.violating_resources:
            path = str(resource.construct_path)
            stack_id, *parents, _resource = path.split("/")
            owner = synth.app.node.find_child(stack_id)
            for part in parents:  # down to the L2 construct that owns the L1 "Resource"
                owner = owner.node.find_child(part)
            if rule_id in acknowledged(owner):
                used.add((owner.node.path, rule_id))
            else:
                unacknowledged.append(f"{violation.rule_name} ({violation.severity}) at {path}")
    assert unacknowledged == []
    declared = {
        (c.node.path, rule)
        for stack in synth.stacks.values()
        for c in stack.node.find_all()
        for rule in acknowledged(c)
    }
    assert declared == used, "stale acknowledgments (nothing to suppress)"


def test_cdk_nag_plugin_fails_synth_on_a_finding(tmp_path: Path) -> None:
    app = cdk.App(outdir=str(tmp_path))
    stack = cdk.Stack(app, "Bad")
    cdk.aws_sqs.Queue(stack, "Plain", enforce_ssl=False)  # AwsSolutions-SQS3 and -SQS4
    cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app))
    with pytest.raises(RuntimeError, match=r"AwsSolutions::AwsSolutions-SQS4"):
        app.synth()


@pytest.mark.parametrize("stage", STAGES)
def test_nag_acknowledgments_are_the_expected_ones_with_reasons(synth: Synth, stage: str) -> None:
    stack = synth.stacks[stage]
    found: dict[str, str] = {}
    for construct in stack.node.find_all():
        for rule_id, reason in acknowledged(construct).items():
            assert len(reason) >= 40, f"{rule_id} on {construct.node.path}: weak reason"
            found[construct.node.path.removeprefix(f"{stack.node.id}/")] = rule_id
    assert found == EXPECTED_ACKNOWLEDGMENTS


@pytest.mark.parametrize("stage", STAGES)
def test_no_error_or_warning_annotations(synth: Synth, stage: str) -> None:
    annotations = Annotations.from_stack(synth.stacks[stage])
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []


@pytest.mark.parametrize("stage", STAGES)
def test_cfn_lint_reports_no_problems(synth: Synth, tmp_path: Path, stage: str) -> None:
    assert cfn_lint_problems(synth.template(stage), tmp_path) == []


# --- retention: what outlives the stack, and a failed first create that cleans up --------------


@pytest.mark.parametrize("stage", STAGES)
def test_only_stateful_resources_are_retained_and_never_on_a_failed_create(
    synth: Synth, stage: str
) -> None:
    template = synth.template(stage)
    retained = {
        (resource["Type"], resource.get("DeletionPolicy"), resource.get("UpdateReplacePolicy"))
        for resource in template.to_json()["Resources"].values()
        if resource.get("DeletionPolicy", "Delete") != "Delete"
    }
    # RETAIN_ON_UPDATE_OR_DELETE: kept on stack deletion and replacement, deleted when the
    # stack operation that created it rolls back (no "already exists" on the next deploy).
    policy = ("RetainExceptOnCreate", "Retain")
    assert retained == {
        ("AWS::DynamoDB::Table", *policy),
        ("AWS::SecretsManager::Secret", *policy),
        ("AWS::Logs::LogGroup", *policy),
    }
    counts = {"AWS::DynamoDB::Table": 2, "AWS::SecretsManager::Secret": 1, "AWS::Logs::LogGroup": 2}
    for type_, count in counts.items():
        found = template.find_resources(
            type_, {"DeletionPolicy": policy[0], "UpdateReplacePolicy": policy[1]}
        )
        assert len(found) == count, type_
    assert "Retain" not in {
        r.get("DeletionPolicy") for r in template.to_json()["Resources"].values()
    }


# --- DynamoDB --------------------------------------------------------------------------------


def test_assets_table(template: Template) -> None:
    table = resources(template, "AWS::DynamoDB::Table")["AssetsTable"]  # fixed logical id
    props = table["Properties"]
    assert props["TableName"] == "signal9_assets"
    assert props["KeySchema"] == [{"AttributeName": "symbol", "KeyType": "HASH"}]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "symbol", "AttributeType": "S"},
    ]
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "status-index",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        }
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}  # KMS, AWS managed key
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["DeletionProtectionEnabled"] is False  # so a failed first create rolls back
    assert "ProvisionedThroughput" not in props
    assert "TimeToLiveSpecification" not in props


def test_sync_state_table_has_ttl_on_expires_at(template: Template) -> None:
    props = resources(template, "AWS::DynamoDB::Table")["SyncStateTable"]["Properties"]
    assert props["TableName"] == "signal9_assets_sync_state"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is False
    assert "GlobalSecondaryIndexes" not in props
    assert "StreamSpecification" not in props


def test_table_names_are_shared_by_stages_unless_overridden(synth: Synth) -> None:
    def names(stage: str) -> dict[str, str]:
        tables = resources(synth.template(stage), "AWS::DynamoDB::Table")
        return {logical: table["Properties"]["TableName"] for logical, table in tables.items()}

    default = {"AssetsTable": "signal9_assets", "SyncStateTable": "signal9_assets_sync_state"}
    assert names("dev") == names("prod") == default
    assert names("qa") == {
        "AssetsTable": "signal9_assets_qa",
        "SyncStateTable": "signal9_assets_qa_sync_state",
    }
    qa_tables = resources(synth.template("qa"), "AWS::DynamoDB::Table").values()
    assert all(t["Properties"]["DeletionProtectionEnabled"] is True for t in qa_tables)


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


def test_default_schedule_is_one_utc_rule_with_retries_and_dlq(template: Template) -> None:
    function_id = sync_function_id(template)
    rule_id, rule = only(template, "AWS::Events::Rule")
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


def test_alpaca_secret_is_a_placeholder_per_stage(synth: Synth) -> None:
    for stage in STAGES:
        template = synth.template(stage)
        _, secret = only(template, "AWS::SecretsManager::Secret")
        props = secret["Properties"]
        assert props["Name"] == f"signal9/asset-sync/{stage}/alpaca"
        assert json.loads(props["SecretString"]) == {
            "APCA_API_KEY_ID": "",
            "APCA_API_SECRET_KEY": "",
        }
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


def test_topic_denies_non_tls_publish_and_admits_cloudwatch(template: Template) -> None:
    topic_id, topic = only(template, "AWS::SNS::Topic")
    assert topic["Properties"]["TopicName"] == "signal9-asset-sync-dev-alarms"
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
    assert allow["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_alarm_email_subscription_only_when_configured(synth: Synth) -> None:
    synth.template("dev").resource_count_is("AWS::SNS::Subscription", 0)
    synth.template("prod").resource_count_is("AWS::SNS::Subscription", 0)
    topic_id, _ = only(synth.template("qa"), "AWS::SNS::Topic")
    synth.template("qa").has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic_id}},
    )


# --- CloudWatch alarms on the sync ------------------------------------------------------------


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarm name -> properties."""
    found = resources(template, "AWS::CloudWatch::Alarm").values()
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in found}


def test_every_alarm_is_named_for_its_stage_and_notifies_the_topic(synth: Synth) -> None:
    suffixes = {
        "errors",
        "duration",
        "schedule-dlq-messages",
        "invoke-failure-messages",
        "no-successful-sync",
        "events-failure-messages",
        "events-errors",
        "events-iterator-age",
    }
    for stage in STAGES:
        template = synth.template(stage)
        topic_id, _ = only(template, "AWS::SNS::Topic")
        found = alarms(template)
        assert set(found) == {f"signal9-asset-sync-{stage}-{s}" for s in suffixes}
        for name, props in found.items():
            assert props["AlarmActions"] == [{"Ref": topic_id}], name
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


def test_each_queue_has_one_messages_visible_alarm(template: Template) -> None:
    queue_ids = set(resources(template, "AWS::SQS::Queue"))
    watched = []
    for props in alarms(template).values():
        if props["MetricName"] != "ApproximateNumberOfMessagesVisible":
            continue
        assert props["Namespace"] == "AWS/SQS"
        assert props["Statistic"] == "Maximum"
        assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        [dimension] = props["Dimensions"]
        assert dimension["Name"] == "QueueName"
        watched.append(dimension["Value"]["Fn::GetAtt"][0])
    assert sorted(watched) == sorted(queue_ids)


def test_no_successful_sync_in_26_hours_alarm(template: Template) -> None:
    props = alarms(template)["signal9-asset-sync-dev-no-successful-sync"]
    assert props["MetricName"] == "SyncSucceeded"
    assert props["Namespace"] == "Signal9/AssetSync"
    assert props["Dimensions"] == [{"Name": "service", "Value": "asset-sync"}]
    assert props["Statistic"] == "Sum"
    assert props["ComparisonOperator"] == "LessThanThreshold"
    assert props["Threshold"] == 1
    assert props["TreatMissingData"] == "breaching"
    window = props["Period"] * props["EvaluationPeriods"]
    assert window == 26 * 3600
    assert props["DatapointsToAlarm"] == props["EvaluationPeriods"]
    # CloudWatch limits: evaluation range <= 7 days for periods of an hour or more, else 1 day.
    assert props["Period"] >= 3600 and window <= 7 * 24 * 3600


# --- IAM -------------------------------------------------------------------------------------


def policy_statements(template: Template) -> list[dict[str, Any]]:
    """Every statement of every identity policy (managed, inline and AWS::IAM::Policy)."""
    statements: list[dict[str, Any]] = []
    for policy in resources(template, "AWS::IAM::Policy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for policy in resources(template, "AWS::IAM::ManagedPolicy").values():
        statements += policy["Properties"]["PolicyDocument"]["Statement"]
    for role in resources(template, "AWS::IAM::Role").values():
        for inline in role["Properties"].get("Policies", []):
            statements += inline["PolicyDocument"]["Statement"]
    return statements


def test_function_roles_have_no_managed_policies_and_trust_lambda_only(template: Template) -> None:
    for role in resources(template, "AWS::IAM::Role").values():
        props = role["Properties"]
        assert "ManagedPolicyArns" not in props
        assert "Policies" not in props
        assert props["AssumeRolePolicyDocument"]["Statement"] == [
            {
                "Action": "sts:AssumeRole",
                "Effect": "Allow",
                "Principal": {"Service": "lambda.amazonaws.com"},
            }
        ]


@pytest.mark.parametrize("stage", STAGES)
def test_iam_has_no_wildcard_actions_or_resources(synth: Synth, stage: str) -> None:
    template = synth.template(stage)
    statements = policy_statements(template)
    assert statements
    for statement in statements:
        assert statement["Effect"] == "Allow"
        assert "NotAction" not in statement and "NotResource" not in statement
        for action in as_list(statement["Action"]):
            assert "*" not in action, statement
        for resource in as_list(statement["Resource"]):
            # Only references to resources of this stack, never a literal wildcard ARN.
            literals = [v for v in walk(resource) if isinstance(v, str)]
            assert all("*" not in v for v in literals), statement
            refs = [
                v["Ref"] if "Ref" in v else v["Fn::GetAtt"][0]
                for v in walk(resource)
                if isinstance(v, dict) and ("Ref" in v or "Fn::GetAtt" in v)
            ]
            assert refs, f"unscoped resource {resource}"
            assert all(r in template.to_json()["Resources"] for r in refs), statement


def test_sync_role_grants_exactly_the_needed_actions(template: Template) -> None:
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    log_group_id = logical_id(
        template, "AWS::Logs::LogGroup", LogGroupName="/aws/lambda/signal9-asset-sync-dev"
    )
    queue_id = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-invoke-failures"
    )
    index_arn = {"Fn::Join": ["", [arn("AssetsTable"), "/index/status-index"]]}
    granted = role_grants(template, role_of_function(template, sync_function_id(template)))
    assert granted == {
        key(arn("AssetsTable")): {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        },
        key(index_arn): {"dynamodb:Query"},
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


# --- outputs, names per stage, the runbook ----------------------------------------------------


def test_outputs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    assert set(outputs) == {
        "AssetsTableName",
        "SyncStateTableName",
        "FunctionName",
        "AlpacaSecretArn",
        "AlarmTopicArn",
        "EventBusName",
        "EventBusArn",
        "EventsFunctionName",
        "DashboardName",
        "ScheduleDlqUrl",
        "InvokeFailureQueueUrl",
        "EventsFailureQueueUrl",
    }
    secret_id, _ = only(template, "AWS::SecretsManager::Secret")
    assert outputs["AlpacaSecretArn"]["Value"] == {"Ref": secret_id}


NAME_PROPERTIES = (
    "FunctionName",
    "LogGroupName",
    "QueueName",
    "TopicName",
    "AlarmName",
    "DashboardName",
    "ArchiveName",
    "TableName",
)


def physical_names(template: Template) -> set[str]:
    """Every literal physical name in a template (Name, FunctionName, QueueName, ...)."""
    names = set()
    for resource in template.to_json()["Resources"].values():
        props = resource.get("Properties", {})
        for prop in (*NAME_PROPERTIES, "Name"):
            if isinstance(props.get(prop), str):
                names.add(props[prop])
    return names


def test_two_stages_fit_one_account_but_for_the_tables(synth: Synth) -> None:
    dev, prod = physical_names(synth.template("dev")), physical_names(synth.template("prod"))
    tables = {"signal9_assets", "signal9_assets_sync_state"}
    assert dev & prod == tables  # the tables are shared unless a stage overrides their names
    for name in dev - tables - {"signal9-assets-dev-archive"}:
        assert "-dev" in name or "/dev/" in name, name
    assert {"signal9-assets-dev", "signal9-assets"} <= dev | prod  # buses as cdk.json names them
    qa = physical_names(synth.template("qa"))
    assert not (qa & (dev | prod)), "an overridden stage shares nothing"
    assert "signal9-assets-qa" in qa  # the bus is named for the stage unless overridden


def test_runbook_has_one_entry_per_alarm(template: Template) -> None:
    doc = DEPLOY_DOC.read_text()
    documented = set(re.findall(r"^### `signal9-asset-sync-STAGE-([a-z-]+)`", doc, re.MULTILINE))
    deployed = {name.removeprefix("signal9-asset-sync-dev-") for name in alarms(template)}
    assert documented == deployed


def test_names_in_the_deploy_doc_exist_in_the_stage(template: Template) -> None:
    doc = DEPLOY_DOC.read_text()
    pattern = r"(?:/aws/lambda/)?signal9-asset-(?:sync|events)-\$STAGE[a-z0-9-]*[a-z0-9]"
    used = {match.replace("$STAGE", "dev") for match in re.findall(pattern, doc)}
    assert used, "docs/deploy.md names no resource with $STAGE"
    names = physical_names(template)
    missing = sorted(name for name in used if name not in names)
    assert missing == []
    assert "signal9/asset-sync/$STAGE/alpaca" in doc
    assert "AssetSync-$STAGE" in doc
