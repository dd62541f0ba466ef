"""AssetSyncStack: synthesized once per module, then every property checked on the template."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
import pytest
from aws_cdk.assertions import Annotations, Capture, Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]
from infra.app import STACK_ID, build_app
from infra.stack import AssetSyncStack, StackSettings

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]

VARIANT_TIMEOUT = 900

# Every cdk-nag acknowledgment in the stack; a new one must be added here on purpose.
EXPECTED_ACKNOWLEDGMENTS = {
    "AlpacaSecret": "AwsSolutions::AwsSolutions-SMG4",
    "ScheduleDlq": "AwsSolutions::AwsSolutions-SQS3",
    "InvokeFailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "SyncFunction": "AwsSolutions::AwsSolutions-L1",
}
# cfn-lint warnings that CDK itself produces: W3005 is the DependsOn on the function's role,
# which CDK adds next to the GetAtt (harmless, and not controllable from the L2 construct).
ALLOWED_CFN_LINT_WARNINGS = {"W3005"}


@dataclass(frozen=True)
class Synth:
    """The synthesized app: the default stack (cdk.json context) and a variant."""

    app: cdk.App
    stack: AssetSyncStack
    template: Template
    variant: AssetSyncStack
    variant_template: Template
    outdir: Path


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Synthesize both stacks once, with the cdk-nag plugin on (synth fails on a finding)."""
    outdir = tmp_path_factory.mktemp("cdk.out")
    app = cdk.App(
        context={**CDK_CONTEXT, "lambda_asset": str(stub_lambda_asset)}, outdir=str(outdir)
    )
    app, stack = build_app(app)
    variant_settings = replace(
        stack.settings,
        stage="prod",
        alarm_email="ops@example.com",
        memory_mb=2048,
        timeout_seconds=VARIANT_TIMEOUT,
    )
    variant = AssetSyncStack(app, "AssetSyncStackVariant", settings=variant_settings)
    app.synth()
    return Synth(
        app, stack, Template.from_stack(stack), variant, Template.from_stack(variant), outdir
    )


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    """The default stack's template."""
    return synth.template


def resources(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one resource type."""
    return {key: dict(value) for key, value in template.find_resources(type_).items()}


def logical_id(template: Template, type_: str, **properties: Any) -> str:
    """The single logical id of a resource of type_ whose properties match."""
    found = template.find_resources(type_, {"Properties": Match.object_like(properties)})
    assert len(found) == 1, f"expected one {type_} with {properties}, found {list(found)}"
    return next(iter(found))


def walk(value: Any) -> Iterator[Any]:
    """Every nested value of a JSON-like structure (itself included)."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


# --- synthesis, cdk-nag, annotations, cfn-lint ----------------------------------------------


def test_resource_inventory(template: Template) -> None:
    counts = {
        "AWS::DynamoDB::Table": 2,
        "AWS::Lambda::Function": 1,
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Lambda::Permission": 1,
        "AWS::Events::Rule": 1,
        "AWS::SQS::Queue": 2,
        "AWS::SQS::QueuePolicy": 2,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::SNS::Subscription": 0,
        "AWS::CloudWatch::Alarm": 5,
        "AWS::SecretsManager::Secret": 1,
        "AWS::Logs::LogGroup": 1,
        "AWS::IAM::Role": 1,
        "AWS::IAM::Policy": 1,
    }
    for type_, count in counts.items():
        template.resource_count_is(type_, count)
    types = {r["Type"] for r in template.to_json()["Resources"].values()}
    assert types == {t for t, c in counts.items() if c}, "unexpected resource types"


def test_synth_writes_stack_template(synth: Synth) -> None:
    path = synth.outdir / f"{STACK_ID}.template.json"
    assert path.is_file()
    assert json.loads(path.read_text())["Resources"]


def acknowledged(construct: Any) -> dict[str, str]:
    """Rule id -> reason of the acknowledgments recorded on one construct."""
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[str, str] = {}
    for entry in construct.node.metadata:
        if entry.type == key:
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
        for stack in (synth.stack, synth.variant)
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


def test_nag_acknowledgments_are_the_expected_ones_with_reasons(synth: Synth) -> None:
    key = cdk.Validations.ACKNOWLEDGED_RULES_METADATA_KEY
    found: dict[str, list[str]] = {}
    for construct in synth.stack.node.find_all():
        for entry in construct.node.metadata:
            if entry.type == key:
                for rule_id, reason in entry.data.items():
                    assert len(reason) >= 40, f"{rule_id} on {construct.node.path}: weak reason"
                    found.setdefault(construct.node.id, []).append(rule_id)
    assert found == {node: [rule] for node, rule in EXPECTED_ACKNOWLEDGMENTS.items()}


@pytest.mark.parametrize("which", ["stack", "variant"])
def test_no_error_or_warning_annotations(synth: Synth, which: str) -> None:
    annotations = Annotations.from_stack(getattr(synth, which))
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []
    assert annotations.find_error("*", Match.string_like_regexp("AwsSolutions-.*")) == []
    assert annotations.find_warning("*", Match.string_like_regexp("AwsSolutions-.*")) == []


@pytest.mark.parametrize("which", ["template", "variant_template"])
def test_cfn_lint_reports_no_errors(synth: Synth, tmp_path: Path, which: str) -> None:
    path = tmp_path / "template.json"
    path.write_text(json.dumps(getattr(synth, which).to_json()))
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    problems = [
        f"{m.rule.id} {m.message} ({m.path_string})"
        for m in matches
        if m.rule.id not in ALLOWED_CFN_LINT_WARNINGS
    ]
    assert problems == []


# --- DynamoDB --------------------------------------------------------------------------------


def test_assets_table(template: Template) -> None:
    table_id = logical_id(template, "AWS::DynamoDB::Table", TableName="signal9_assets")
    template.has_resource(
        "AWS::DynamoDB::Table",
        {
            "DeletionPolicy": "Retain",
            "UpdateReplacePolicy": "Retain",
            "Properties": Match.object_like(
                {
                    "TableName": "signal9_assets",
                    "KeySchema": [{"AttributeName": "symbol", "KeyType": "HASH"}],
                    "AttributeDefinitions": Match.array_equals(
                        [
                            {"AttributeName": "symbol", "AttributeType": "S"},
                            {"AttributeName": "status", "AttributeType": "S"},
                        ]
                    ),
                    "GlobalSecondaryIndexes": [
                        {
                            "IndexName": "status-index",
                            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
                            "Projection": {"ProjectionType": "ALL"},
                        }
                    ],
                    "BillingMode": "PAY_PER_REQUEST",
                    "PointInTimeRecoverySpecification": {"PointInTimeRecoveryEnabled": True},
                    "SSESpecification": {"SSEEnabled": True},
                    "StreamSpecification": {"StreamViewType": "NEW_AND_OLD_IMAGES"},
                    "DeletionProtectionEnabled": True,
                }
            ),
        },
    )
    props = resources(template, "AWS::DynamoDB::Table")[table_id]["Properties"]
    assert "ProvisionedThroughput" not in props
    assert "ProvisionedThroughput" not in props["GlobalSecondaryIndexes"][0]


def test_sync_state_table(template: Template) -> None:
    table_id = logical_id(template, "AWS::DynamoDB::Table", TableName="signal9_assets_sync_state")
    table = resources(template, "AWS::DynamoDB::Table")[table_id]
    assert table["DeletionPolicy"] == "Retain"
    assert table["UpdateReplacePolicy"] == "Retain"
    props = table["Properties"]
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is True
    assert "GlobalSecondaryIndexes" not in props
    assert "StreamSpecification" not in props


# --- Lambda ----------------------------------------------------------------------------------


def test_function_configuration(template: Template) -> None:
    log_group_id = next(iter(resources(template, "AWS::Logs::LogGroup")))
    role_id = next(iter(resources(template, "AWS::IAM::Role")))
    template.has_resource_properties(
        "AWS::Lambda::Function",
        {
            "Runtime": "python3.12",
            "Architectures": ["arm64"],
            "Handler": "asset_sync.handler.lambda_handler",
            "MemorySize": 1024,
            "Timeout": 600,
            "ReservedConcurrentExecutions": 1,
            "FunctionName": "signal9-asset-sync-dev",
            "Role": {"Fn::GetAtt": [role_id, "Arn"]},
            "LoggingConfig": {"LogFormat": "JSON", "LogGroup": {"Ref": log_group_id}},
        },
    )
    template.has_resource(
        "AWS::Logs::LogGroup",
        {
            "DeletionPolicy": "Retain",
            "Properties": {
                "LogGroupName": "/aws/lambda/signal9-asset-sync-dev",
                "RetentionInDays": 90,
                "Tags": Match.any_value(),
            },
        },
    )


def test_function_code_is_the_lambda_asset(synth: Synth) -> None:
    function = next(iter(resources(synth.template, "AWS::Lambda::Function").values()))
    asset_hash = function["Properties"]["Code"]["S3Key"].removesuffix(".zip")
    manifest = json.loads((synth.outdir / f"{STACK_ID}.assets.json").read_text())
    source = manifest["files"][asset_hash]["source"]
    assert source["packaging"] == "zip"
    assert (synth.outdir / source["path"] / "asset_sync" / "handler.py").is_file()


def test_function_environment(template: Template) -> None:
    tables = resources(template, "AWS::DynamoDB::Table")
    by_name = {t["Properties"]["TableName"]: lid for lid, t in tables.items()}
    secret_id = next(iter(resources(template, "AWS::SecretsManager::Secret")))
    function = next(iter(resources(template, "AWS::Lambda::Function").values()))
    assert function["Properties"]["Environment"]["Variables"] == {
        "ASSETS_TABLE": {"Ref": by_name["signal9_assets"]},
        "SYNC_STATE_TABLE": {"Ref": by_name["signal9_assets_sync_state"]},
        "ALPACA_SECRET_ID": {"Ref": secret_id},  # Ref of a secret is its ARN
        "APCA_API_BASE_URL": "https://paper-api.alpaca.markets",
        "MAX_DELIST_FRACTION": "0.10",
        "SYNC_LOCK_LEASE_SECONDS": "630",
        "POWERTOOLS_SERVICE_NAME": "asset-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "Signal9/AssetSync",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }


def test_async_invoke_config(template: Template) -> None:
    function_id = next(iter(resources(template, "AWS::Lambda::Function")))
    queue_id = next(k for k in resources(template, "AWS::SQS::Queue") if "InvokeFailure" in k)
    template.has_resource_properties(
        "AWS::Lambda::EventInvokeConfig",
        {
            "FunctionName": {"Ref": function_id},
            "Qualifier": "$LATEST",
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 6 * 3600,
            "DestinationConfig": {"OnFailure": {"Destination": {"Fn::GetAtt": [queue_id, "Arn"]}}},
        },
    )


# --- EventBridge -----------------------------------------------------------------------------


def test_schedule_rule_targets_function_with_retries_and_dlq(template: Template) -> None:
    function_id = next(iter(resources(template, "AWS::Lambda::Function")))
    dlq_id = next(k for k in resources(template, "AWS::SQS::Queue") if "ScheduleDlq" in k)
    rule_id = next(iter(resources(template, "AWS::Events::Rule")))
    template.has_resource_properties(
        "AWS::Events::Rule",
        {
            "ScheduleExpression": "cron(0 4 * * ? *)",
            "State": "ENABLED",
            "Targets": [
                {
                    "Arn": {"Fn::GetAtt": [function_id, "Arn"]},
                    "Id": Match.any_value(),
                    "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200},
                    "DeadLetterConfig": {"Arn": {"Fn::GetAtt": [dlq_id, "Arn"]}},
                }
            ],
        },
    )
    template.has_resource_properties(
        "AWS::Lambda::Permission",
        {
            "Action": "lambda:InvokeFunction",
            "FunctionName": {"Fn::GetAtt": [function_id, "Arn"]},
            "Principal": "events.amazonaws.com",
            "SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]},
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
                                "Condition": {
                                    "ArnEquals": {"aws:SourceArn": {"Fn::GetAtt": [rule_id, "Arn"]}}
                                },
                            }
                        )
                    ]
                )
            },
        },
    )


# --- SQS and SNS -----------------------------------------------------------------------------


def test_queues_encrypted_retained_14_days_and_tls_only(template: Template) -> None:
    queues = resources(template, "AWS::SQS::Queue")
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
            "Resource": {"Fn::GetAtt": [queue_id, "Arn"]},
        } in statements, f"{queue_id} does not deny non-TLS access"


def test_topic_denies_non_tls_publish_and_admits_cloudwatch(template: Template) -> None:
    topic_id = next(iter(resources(template, "AWS::SNS::Topic")))
    policy = next(iter(resources(template, "AWS::SNS::TopicPolicy").values()))["Properties"]
    assert policy["Topics"] == [{"Ref": topic_id}]
    statements = policy["PolicyDocument"]["Statement"]
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
    allow = [s for s in statements if s["Effect"] == "Allow"]
    assert len(allow) == 1
    assert allow[0]["Principal"] == {"Service": "cloudwatch.amazonaws.com"}
    assert allow[0]["Action"] == "sns:Publish"
    assert allow[0]["Condition"]["StringEquals"] == {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}


def test_alarm_email_subscription_only_when_configured(synth: Synth) -> None:
    synth.template.resource_count_is("AWS::SNS::Subscription", 0)
    topic_id = next(iter(resources(synth.variant_template, "AWS::SNS::Topic")))
    synth.variant_template.has_resource_properties(
        "AWS::SNS::Subscription",
        {"Protocol": "email", "Endpoint": "ops@example.com", "TopicArn": {"Ref": topic_id}},
    )


# --- CloudWatch alarms -----------------------------------------------------------------------


def alarm(template: Template, metric_name: str) -> list[dict[str, Any]]:
    """Properties of the alarms on one metric."""
    found = template.find_resources(
        "AWS::CloudWatch::Alarm", {"Properties": {"MetricName": metric_name}}
    )
    return [r["Properties"] for r in found.values()]


def test_every_alarm_notifies_the_topic(template: Template) -> None:
    topic_id = next(iter(resources(template, "AWS::SNS::Topic")))
    for alarm_id, resource in resources(template, "AWS::CloudWatch::Alarm").items():
        assert resource["Properties"]["AlarmActions"] == [{"Ref": topic_id}], alarm_id
        assert resource["Properties"].get("ActionsEnabled", True) is True


def test_errors_alarm(template: Template) -> None:
    function_id = next(iter(resources(template, "AWS::Lambda::Function")))
    [props] = alarm(template, "Errors")
    assert props["Namespace"] == "AWS/Lambda"
    assert props["Dimensions"] == [{"Name": "FunctionName", "Value": {"Ref": function_id}}]
    assert props["Statistic"] == "Sum"
    assert props["Threshold"] == 1
    assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
    assert props["EvaluationPeriods"] == 1
    assert props["TreatMissingData"] == "notBreaching"


def test_duration_alarm_at_80_percent_of_timeout(synth: Synth) -> None:
    for template, timeout_s in ((synth.template, 600), (synth.variant_template, VARIANT_TIMEOUT)):
        [props] = alarm(template, "Duration")
        assert props["Namespace"] == "AWS/Lambda"
        assert props["Statistic"] == "Maximum"
        assert props["Threshold"] == timeout_s * 1000 * 0.8
        assert props["ComparisonOperator"] == "GreaterThanOrEqualToThreshold"
        assert props["TreatMissingData"] == "notBreaching"


def test_dead_letter_queue_alarms(template: Template) -> None:
    queue_ids = set(resources(template, "AWS::SQS::Queue"))
    alarms = alarm(template, "ApproximateNumberOfMessagesVisible")
    watched = set()
    for props in alarms:
        assert props["Namespace"] == "AWS/SQS"
        assert props["Threshold"] == 0
        assert props["ComparisonOperator"] == "GreaterThanThreshold"
        assert props["TreatMissingData"] == "notBreaching"
        [dimension] = props["Dimensions"]
        assert dimension["Name"] == "QueueName"
        watched.add(dimension["Value"]["Fn::GetAtt"][0])
    assert watched == queue_ids


def test_no_successful_sync_in_26_hours_alarm(template: Template) -> None:
    [props] = alarm(template, "SyncSucceeded")
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


# --- Secrets Manager -------------------------------------------------------------------------


def test_alpaca_secret_is_a_placeholder_and_retained(template: Template) -> None:
    secret = next(iter(resources(template, "AWS::SecretsManager::Secret").values()))
    assert secret["DeletionPolicy"] == "Retain"
    props = secret["Properties"]
    assert props["Name"] == "signal9/asset-sync/dev/alpaca"
    assert json.loads(props["SecretString"]) == {"APCA_API_KEY_ID": "", "APCA_API_SECRET_KEY": ""}
    assert "GenerateSecretString" not in props
    template.resource_count_is("AWS::SecretsManager::RotationSchedule", 0)


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


def as_list(value: Any) -> list[Any]:
    """A policy field that may be a single value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def test_role_has_no_managed_policies_and_trusts_lambda_only(template: Template) -> None:
    role = next(iter(resources(template, "AWS::IAM::Role").values()))["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "lambda.amazonaws.com"},
        }
    ]


def test_iam_has_no_wildcard_actions_or_resources(template: Template) -> None:
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


def test_iam_grants_exactly_the_needed_actions(template: Template) -> None:
    ids = {
        "assets": logical_id(template, "AWS::DynamoDB::Table", TableName="signal9_assets"),
        "state": logical_id(
            template, "AWS::DynamoDB::Table", TableName="signal9_assets_sync_state"
        ),
        "secret": next(iter(resources(template, "AWS::SecretsManager::Secret"))),
        "logs": next(iter(resources(template, "AWS::Logs::LogGroup"))),
        "failure_queue": next(
            k for k in resources(template, "AWS::SQS::Queue") if "InvokeFailure" in k
        ),
    }
    granted: dict[str, set[str]] = {}
    for statement in policy_statements(template):
        for resource in as_list(statement["Resource"]):
            granted.setdefault(json.dumps(resource, sort_keys=True), set()).update(
                as_list(statement["Action"])
            )

    def arn(name: str) -> str:
        return json.dumps({"Fn::GetAtt": [ids[name], "Arn"]}, sort_keys=True)

    index_arn = json.dumps(
        {"Fn::Join": ["", [{"Fn::GetAtt": [ids["assets"], "Arn"]}, "/index/status-index"]]},
        sort_keys=True,
    )
    assert granted == {
        arn("assets"): {
            "dynamodb:GetItem",
            "dynamodb:BatchGetItem",
            "dynamodb:PutItem",
            "dynamodb:UpdateItem",
        },
        index_arn: {"dynamodb:Query"},
        arn("state"): {"dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"},
        json.dumps({"Ref": ids["secret"]}): {"secretsmanager:GetSecretValue"},
        arn("logs"): {"logs:CreateLogStream", "logs:PutLogEvents"},
        # Added by the on-failure destination (Queue.grantSendMessages).
        arn("failure_queue"): {"sqs:SendMessage", "sqs:GetQueueAttributes", "sqs:GetQueueUrl"},
    }
    all_actions = set().union(*granted.values())
    assert not {"dynamodb:Scan", "dynamodb:DeleteItem", "cloudwatch:PutMetricData"} & all_actions


# --- outputs and settings --------------------------------------------------------------------


def test_outputs(template: Template) -> None:
    outputs = template.to_json()["Outputs"]
    expected = {
        "AssetsTableName",
        "SyncStateTableName",
        "FunctionName",
        "AlpacaSecretArn",
        "AlarmTopicArn",
    }
    assert expected <= set(outputs)
    assert outputs["AlpacaSecretArn"]["Value"] == {
        "Ref": next(iter(resources(template, "AWS::SecretsManager::Secret")))
    }


def test_variant_overrides(synth: Synth) -> None:
    synth.variant_template.has_resource_properties(
        "AWS::Lambda::Function",
        {"MemorySize": 2048, "Timeout": VARIANT_TIMEOUT, "FunctionName": "signal9-asset-sync-prod"},
    )
    table_names = Capture()
    synth.variant_template.has_resource_properties(
        "AWS::DynamoDB::Table", {"TableName": table_names}
    )
    assert table_names.as_string().startswith("signal9_assets")  # fixed, whatever the stage


class FakeNode:
    """Just enough of a construct node for StackSettings.from_context."""

    def __init__(self, context: dict[str, Any]) -> None:
        self.context = context

    def try_get_context(self, key: str) -> Any:
        return self.context.get(key)


def test_settings_defaults_and_context_parsing() -> None:
    assert StackSettings.from_context(FakeNode({})) == StackSettings()
    settings = StackSettings.from_context(
        FakeNode({"memory_mb": "2048", "timeout_seconds": 900, "alarm_email": "", "stage": "prod"})
    )
    assert settings.memory_mb == 2048
    assert settings.timeout_seconds == 900
    assert settings.alarm_email is None
    assert settings.stage == "prod"


def test_cdk_json_context_matches_the_defaults() -> None:
    defaults = StackSettings()
    for key in ("stage", "schedule", "alpaca_base_url", "lambda_asset", "memory_mb"):
        assert CDK_CONTEXT[key] == getattr(defaults, key), key
    assert CDK_CONTEXT["timeout_seconds"] == defaults.timeout_seconds


@pytest.mark.parametrize(
    "override",
    [
        {"memory_mb": 64},
        {"timeout_seconds": 901},
        {"schedule": "0 4 * * *"},
        {"max_delist_fraction": "1.5"},
    ],
)
def test_settings_reject_invalid_values(override: dict[str, Any]) -> None:
    with pytest.raises(ValueError):
        StackSettings(**override)


def test_missing_lambda_asset_fails_with_a_hint(tmp_path: Path) -> None:
    app = cdk.App(context={"lambda_asset": str(tmp_path / "missing")})
    with pytest.raises(FileNotFoundError, match=r"package_lambda\.py"):
        AssetSyncStack(app, "Missing", settings=StackSettings.from_context(app.node))
