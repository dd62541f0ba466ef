"""Synthesis and template helpers shared by the infra test modules (each synthesizes once)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk.assertions import Match, Template
from cdk_nag import AwsSolutionsChecks
from cfnlint.api import ManualArgs, lint_file  # type: ignore[import-untyped]
from infra.app import build_app, environment
from infra.settings import JsonContext, StageSettings, settings_from_context, stage_from_entry
from infra.stack import AssetSyncStack

REPO_ROOT = Path(__file__).resolve().parents[2]
CDK_CONTEXT: dict[str, Any] = json.loads((REPO_ROOT / "cdk.json").read_text())["context"]
# What docs/deploy.md has a first-time deployer add to cdk.json's prod entry (its placeholders).
PROD_DEPLOYMENT = {"account": "123456789012", "alarm_email": "oncall@example.com"}
# cfn-lint warnings that CDK itself produces: W3005 is the DependsOn on a function's role, which
# CDK adds next to the GetAtt (harmless, and not controllable from the L2 construct).
ALLOWED_CFN_LINT_WARNINGS = {"W3005"}


def deployable_context(**prod: Any) -> dict[str, Any]:
    """cdk.json's context with prod's entry completed as docs/deploy.md says (plus prod)."""
    stages = dict(CDK_CONTEXT["stages"])
    stages["prod"] = {**stages["prod"], **PROD_DEPLOYMENT, **prod}
    return {**CDK_CONTEXT, "stages": stages}


def stage_settings(base: str, /, **overrides: Any) -> StageSettings:
    """Stage base's cdk.json entry with overrides, validated (stage= renames it, and the names
    it leaves to the default are the new stage's)."""
    stage = overrides.pop("stage", base)
    return stage_from_entry(stage, CDK_CONTEXT["stages"][base], **overrides)


def deployable_prod() -> StageSettings:
    """prod as `make synth STAGE=prod` builds it once cdk.json names its account and alarm
    destination (every check of the app included: deployability, no shared names)."""
    return settings_from_context(JsonContext(deployable_context(), "prod"))


@dataclass
class Synth:
    """One synthesized app: its stacks by stage, their templates and the output directory."""

    app: cdk.App
    stacks: dict[str, AssetSyncStack]
    outdir: Path
    _templates: dict[str, Template] = field(default_factory=dict)

    def template(self, stage: str) -> Template:
        """The template of one stage's stack."""
        if stage not in self._templates:
            self._templates[stage] = Template.from_stack(self.stacks[stage])
        return self._templates[stage]


def synthesize(
    outdir: Path, lambda_asset: Path, *variants: StageSettings, app_stage: str | None = "dev"
) -> Synth:
    """Synthesize ``app_stage`` as infra/app.py does, plus one stack per variant, cdk-nag on.

    app.synth() runs CDK's validation step, so an unacknowledged cdk-nag finding fails here.
    """
    context = {**CDK_CONTEXT, "lambda_asset": str(lambda_asset)}
    stacks: dict[str, AssetSyncStack] = {}
    if app_stage is not None:
        app, stack = build_app(cdk.App(context={**context, "stage": app_stage}, outdir=str(outdir)))
        stacks[app_stage] = stack
    else:
        app = cdk.App(context=context, outdir=str(outdir))
        cdk.Validations.of(app).add_plugins(AwsSolutionsChecks(app, verbose=True))
    for variant in variants:
        settings = replace(variant, lambda_asset=str(lambda_asset))
        stacks[settings.stage] = AssetSyncStack(
            app, settings.stack_name, settings=settings, env=environment(settings)
        )
    app.synth()
    return Synth(app, stacks, outdir)


STAGES = ("dev", "prod", "qa")
QA_TIMEOUT = 900
QA_ALARM_TOPIC = "arn:aws:sns:us-east-1:123456789012:ops-pager"


def three_stages(outdir: Path, lambda_asset: Path) -> Synth:
    """dev through infra/app.py, prod from cdk.json completed as documented, and qa with every
    optional setting."""
    qa = stage_settings(
        "prod",
        stage="qa",
        alarm_email="ops@example.com",
        alarm_topic_arn=QA_ALARM_TOPIC,
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
    return synthesize(outdir, lambda_asset, deployable_prod(), qa)


# --- template queries -------------------------------------------------------------------------


def resources(template: Template, type_: str) -> dict[str, dict[str, Any]]:
    """Logical id -> resource, for one resource type."""
    return {key: dict(value) for key, value in template.find_resources(type_).items()}


def logical_id(template: Template, type_: str, **properties: Any) -> str:
    """The single logical id of a resource of type_ whose properties match."""
    found = template.find_resources(type_, {"Properties": Match.object_like(properties)})
    assert len(found) == 1, f"expected one {type_} with {properties}, found {list(found)}"
    return next(iter(found))


def only(template: Template, type_: str) -> tuple[str, dict[str, Any]]:
    """The one resource of a type: (logical id, resource)."""
    found = resources(template, type_)
    assert len(found) == 1, f"expected one {type_}, found {list(found)}"
    return next(iter(found.items()))


def walk(value: Any) -> Iterator[Any]:
    """Every nested value of a JSON-like structure (itself included)."""
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def as_list(value: Any) -> list[Any]:
    """A policy field that may be a single value or a list, as a list."""
    return value if isinstance(value, list) else [value]


def arn(logical: str, attribute: str = "Arn") -> dict[str, Any]:
    """The Fn::GetAtt of a resource attribute."""
    return {"Fn::GetAtt": [logical, attribute]}


def key(value: Any) -> str:
    """A JSON value as a hashable key."""
    return json.dumps(value, sort_keys=True)


def role_grants(template: Template, role_id: str) -> dict[str, set[str]]:
    """Resource (as key()) -> actions, over every identity policy attached to one role."""
    granted: dict[str, set[str]] = {}
    for policy in resources(template, "AWS::IAM::Policy").values():
        props = policy["Properties"]
        if {"Ref": role_id} not in props["Roles"]:
            continue
        for statement in props["PolicyDocument"]["Statement"]:
            assert statement["Effect"] == "Allow"
            for resource in as_list(statement["Resource"]):
                granted.setdefault(key(resource), set()).update(as_list(statement["Action"]))
    return granted


def role_of_function(template: Template, function_id: str) -> str:
    """The logical id of a function's execution role."""
    role = resources(template, "AWS::Lambda::Function")[function_id]["Properties"]["Role"]
    return str(role["Fn::GetAtt"][0])


def cfn_lint_problems(template: Template, tmp_path: Path) -> list[str]:
    """cfn-lint's findings on a template, but the warnings CDK itself causes."""
    path = tmp_path / "template.json"
    path.write_text(json.dumps(template.to_json()))
    matches = lint_file(path, config=ManualArgs(regions=["us-east-1", "eu-west-1"]))
    return [
        f"{m.rule.id} {m.message} ({m.path_string})"
        for m in matches
        if m.rule.id not in ALLOWED_CFN_LINT_WARNINGS
    ]


def dashboard_body(template: Template) -> dict[str, Any]:
    """The dashboard's body as JSON; references become "<Ref:ID>" / "<GetAtt:ID.Attr>" strings."""
    _, dashboard = only(template, "AWS::CloudWatch::Dashboard")
    body = dashboard["Properties"]["DashboardBody"]
    if isinstance(body, str):
        return dict(json.loads(body))
    parts = []
    for part in body["Fn::Join"][1]:
        if isinstance(part, str):
            parts.append(part)
        elif "Ref" in part:
            parts.append(f"<Ref:{part['Ref']}>")
        else:
            logical, attribute = part["Fn::GetAtt"]
            parts.append(f"<GetAtt:{logical}.{attribute}>")
    return dict(json.loads("".join(parts)))


def alarms(template: Template) -> dict[str, dict[str, Any]]:
    """Alarm name -> properties."""
    found = resources(template, "AWS::CloudWatch::Alarm").values()
    return {a["Properties"]["AlarmName"]: a["Properties"] for a in found}


def sync_function_id(template: Template) -> str:
    """The sync function's logical id."""
    return logical_id(
        template, "AWS::Lambda::Function", Handler="asset_sync.handler.lambda_handler"
    )
