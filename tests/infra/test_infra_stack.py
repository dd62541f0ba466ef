"""AssetSync-<stage> as a whole: dev and prod from cdk.json side by side, plus a "qa" stage that
sets every optional setting. Synthesis, cdk-nag, cfn-lint, retention, tables, IAM scoping, names
per stage, outputs and the runbook's names. Synthesized once per module."""

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
    STAGES,
    Synth,
    alarms,
    as_list,
    cfn_lint_problems,
    only,
    resources,
    three_stages,
    walk,
)

pytestmark = pytest.mark.infra

# Every cdk-nag acknowledgment in a stack (path under the stack -> rule); new ones on purpose.
EXPECTED_ACKNOWLEDGMENTS = {
    "Sync/AlpacaSecret": "AwsSolutions::AwsSolutions-SMG4",
    "Sync/InvokeFailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "Sync/Function": "AwsSolutions::AwsSolutions-L1",
    "Schedule/Dlq": "AwsSolutions::AwsSolutions-SQS3",
    "Events/FailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "Events/Function": "AwsSolutions::AwsSolutions-L1",
    "Events/Quarantine": "AwsSolutions::AwsSolutions-S1",
    "Events/Role/DefaultPolicy": (
        "AwsSolutions::AwsSolutions-IAM5[Resource::<EventsQuarantine495FBB34.Arn>/pending/*]"
    ),
    "History/FailureQueue": "AwsSolutions::AwsSolutions-SQS3",
    "History/Function": "AwsSolutions::AwsSolutions-L1",
}
DEPLOY_DOC = REPO_ROOT / "docs" / "deploy.md"


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """dev, prod and qa side by side (tests/infra/synth.py: three_stages), cdk-nag on."""
    return three_stages(tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset)


@pytest.fixture(scope="module")
def template(synth: Synth) -> Template:
    """The dev stage's template (cdk.json's settings, as `make synth` builds it)."""
    return synth.template("dev")


# --- synthesis, cdk-nag, annotations, cfn-lint ----------------------------------------------


def test_resource_inventory(template: Template) -> None:
    counts = {
        "AWS::DynamoDB::Table": 3,  # assets, run state, history
        "AWS::Lambda::Function": 3,  # the sync, the events consumer, the history writer
        "AWS::Lambda::EventInvokeConfig": 1,
        "AWS::Lambda::EventSourceMapping": 2,  # the stream's two readers: no room for a third
        "AWS::Lambda::Permission": 4,
        "AWS::Events::Rule": 4,  # the daily run and three catch-ups
        "AWS::Events::EventBus": 1,
        "AWS::Events::Archive": 1,
        "AWS::SQS::Queue": 4,
        "AWS::SQS::QueuePolicy": 4,
        "AWS::SNS::Topic": 1,
        "AWS::SNS::TopicPolicy": 1,
        "AWS::SNS::Subscription": 0,
        # 11 + the events pipeline's failed, stalled, quarantine + the history writer's 4
        "AWS::CloudWatch::Alarm": 18,
        "AWS::S3::Bucket": 1,  # the events consumer's quarantine
        "AWS::S3::BucketPolicy": 1,
        "AWS::CloudWatch::Dashboard": 1,
        "AWS::SecretsManager::Secret": 1,
        "AWS::Logs::LogGroup": 3,
        "AWS::IAM::Role": 3,
        "AWS::IAM::Policy": 3,
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
        ("AWS::Events::EventBus", *policy),  # the bus and its archive: a year of events
        ("AWS::Events::Archive", *policy),
        ("AWS::S3::Bucket", *policy),  # the events quarantine
    }
    counts = {"AWS::DynamoDB::Table": 3, "AWS::SecretsManager::Secret": 1, "AWS::Logs::LogGroup": 3}
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
    assert props["TableName"] == "signal9_assets_dev"
    assert props["KeySchema"] == [{"AttributeName": "symbol", "KeyType": "HASH"}]
    assert sorted(props["AttributeDefinitions"], key=lambda a: a["AttributeName"]) == [
        {"AttributeName": "asset_id", "AttributeType": "S"},
        {"AttributeName": "status", "AttributeType": "S"},
        {"AttributeName": "symbol", "AttributeType": "S"},
    ]
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "status-index",
            "KeySchema": [{"AttributeName": "status", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "ALL"},
        },
        {
            "IndexName": "asset-id-index",
            "KeySchema": [{"AttributeName": "asset_id", "KeyType": "HASH"}],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        },
    ]
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}  # KMS, AWS managed key
    assert props["StreamSpecification"] == {"StreamViewType": "NEW_AND_OLD_IMAGES"}
    assert props["DeletionProtectionEnabled"] is False  # dev is no production stage
    assert "ProvisionedThroughput" not in props
    assert "TimeToLiveSpecification" not in props


def test_sync_state_table_has_ttl_on_expires_at(template: Template) -> None:
    props = resources(template, "AWS::DynamoDB::Table")["SyncStateTable"]["Properties"]
    assert props["TableName"] == "signal9_assets_dev_sync_state"
    assert props["KeySchema"] == [{"AttributeName": "pk", "KeyType": "HASH"}]
    assert props["AttributeDefinitions"] == [{"AttributeName": "pk", "AttributeType": "S"}]
    assert props["TimeToLiveSpecification"] == {"AttributeName": "expires_at", "Enabled": True}
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["SSESpecification"] == {"SSEEnabled": True}
    assert props["DeletionProtectionEnabled"] is False
    assert "GlobalSecondaryIndexes" not in props
    assert "StreamSpecification" not in props


def test_every_stage_has_its_own_tables_and_prod_keeps_the_seeds_names(synth: Synth) -> None:
    def tables(stage: str) -> dict[str, tuple[str, bool]]:
        found = resources(synth.template(stage), "AWS::DynamoDB::Table")
        return {
            logical: (t["Properties"]["TableName"], t["Properties"]["DeletionProtectionEnabled"])
            for logical, t in found.items()
        }

    # Deletion protection: on for the production stages, off for dev.
    assert tables("prod") == {
        "AssetsTable": ("signal9_assets", True),
        "SyncStateTable": ("signal9_assets_sync_state", True),
        "HistoryTable": ("signal9_assets_history", True),
    }
    assert tables("dev") == {
        "AssetsTable": ("signal9_assets_dev", False),
        "SyncStateTable": ("signal9_assets_dev_sync_state", False),
        "HistoryTable": ("signal9_assets_dev_history", False),
    }
    assert tables("qa") == {
        "AssetsTable": ("signal9_assets_qa", True),
        "SyncStateTable": ("signal9_assets_qa_sync_state", True),
        "HistoryTable": ("signal9_assets_qa_history", True),
    }


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
            # the one exception: the events quarantine's object keys, under their prefix
            assert all("*" not in v or v == "/pending/*" for v in literals), statement
            refs = [
                v["Ref"] if "Ref" in v else v["Fn::GetAtt"][0]
                for v in walk(resource)
                if isinstance(v, dict) and ("Ref" in v or "Fn::GetAtt" in v)
            ]
            assert refs, f"unscoped resource {resource}"
            assert all(r in template.to_json()["Resources"] for r in refs), statement


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
        "EventsQuarantineBucketName",
        "EventArchiveName",
        "HistoryTableName",
        "HistoryFunctionName",
        "HistoryFailureQueueUrl",
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
    "GroupName",
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


def test_dev_prod_and_qa_share_no_physical_name(synth: Synth) -> None:
    names = {stage: physical_names(synth.template(stage)) for stage in STAGES}
    for stage, own in names.items():
        others = set().union(*(n for s, n in names.items() if s != stage))
        assert not own & others, f"{stage} shares {sorted(own & others)}"
    # Every name is the stage's own, but prod's three seed names.
    seed = {
        "signal9_assets",
        "signal9_assets_sync_state",
        "signal9_assets_history",
        "signal9-assets",
        "signal9-assets-archive",
    }
    assert seed <= names["prod"]
    for stage, own in names.items():
        for name in own - seed:
            assert f"-{stage}" in name or f"/{stage}/" in name or f"_{stage}" in name, name


def test_runbook_has_one_entry_per_alarm(template: Template) -> None:
    doc = DEPLOY_DOC.read_text()
    documented = set(re.findall(r"^### `signal9-asset-sync-STAGE-([a-z-]+)`", doc, re.MULTILINE))
    events_doc = (REPO_ROOT / "docs" / "events.md").read_text().split("## Runbooks", 1)[1]
    documented |= set(re.findall(r"^### `(events-[a-z-]+)`", events_doc, re.MULTILINE))
    deployed = {name.removeprefix("signal9-asset-sync-dev-") for name in alarms(template)}
    assert documented == deployed


def test_names_in_the_deploy_doc_exist_in_the_stage(template: Template) -> None:
    doc = DEPLOY_DOC.read_text()
    pattern = r"(?:/aws/lambda/)?signal9-asset-(?:sync|events|history)-\$STAGE(?:-[a-z0-9]+)*"
    used = {match.replace("$STAGE", "dev") for match in re.findall(pattern, doc)}
    assert used, "docs/deploy.md names no resource with $STAGE"
    names = physical_names(template)
    missing = sorted(name for name in used if name not in names)
    assert missing == []
    assert "signal9/asset-sync/$STAGE/alpaca" in doc
    assert "AssetSync-$STAGE" in doc


# --- retained resources: the documented way back after `cdk destroy` ---------------------------

IMPORT_IDENTIFIERS = {
    "AWS::DynamoDB::Table": "TableName",
    "AWS::SecretsManager::Secret": "Id",
    "AWS::Logs::LogGroup": "LogGroupName",
    "AWS::Events::EventBus": "Name",
    "AWS::Events::Archive": "ArchiveName",
}


def documented_import_mapping() -> dict[str, dict[str, str]]:
    """The `cdk import` mapping of "Tables, secret or log groups that already exist", with the
    shell variables it uses given the dev stage's values."""
    doc = DEPLOY_DOC.read_text()
    section = doc[doc.index("## Tables, secret or log groups that already exist") :]
    [mapping] = re.findall(r'--resource-mapping-inline "(\{.*?\})"', section, re.DOTALL)
    text = mapping.replace('\\"', '"')
    for variable, value in {
        "$assets": "signal9_assets_dev",
        "$state": "signal9_assets_dev_sync_state",
        "$history": "signal9_assets_dev_history",
        "$secret_arn": "arn:aws:secretsmanager:us-east-1:123456789012:secret:x",
        "$bus": "signal9-assets-dev",
        "$STAGE": "dev",
    }.items():
        text = text.replace(variable, value)
    return dict(json.loads(text))


@pytest.mark.parametrize("stage", STAGES)
def test_every_retained_resource_has_a_fixed_id_that_the_import_guide_maps(
    synth: Synth, stage: str
) -> None:
    retained = {
        logical: resource
        for logical, resource in synth.template(stage).to_json()["Resources"].items()
        if resource.get("DeletionPolicy", "Delete") != "Delete"
        and resource["Type"] != "AWS::S3::Bucket"  # the quarantine: a generated name
    }
    assert set(retained) == {
        "AssetsTable",
        "SyncStateTable",
        "HistoryTable",
        "AlpacaSecret",
        "SyncLogGroup",
        "EventsLogGroup",
        "HistoryLogGroup",
        "EventsBus45DE4339",
        "EventsArchive5A2DBDD8",
    }
    mapping = documented_import_mapping()
    assert set(mapping) == set(retained)
    for logical, resource in retained.items():
        identifier = IMPORT_IDENTIFIERS[resource["Type"]]
        assert set(mapping[logical]) == {identifier}, logical
    if stage == "dev":  # the documented names are the stage's
        for logical, resource in retained.items():
            identifier = IMPORT_IDENTIFIERS[resource["Type"]]
            if identifier != "Id":
                assert mapping[logical][identifier] == resource["Properties"][identifier]
