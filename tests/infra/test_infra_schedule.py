"""Schedules: EventBridge Scheduler in a time zone (several expressions), and several UTC rules."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match
from tests.infra.synth import (
    Synth,
    arn,
    cfn_lint_problems,
    key,
    logical_id,
    resources,
    role_grants,
    stage_settings,
    synthesize,
)

pytestmark = pytest.mark.infra

NEW_YORK = ("cron(0 23 * * ? *)", "cron(35 8 * * ? *)")  # nightly, and after the 08:20 refresh
UTC_TWICE = ("cron(0 4 * * ? *)", "cron(0 14 * * ? *)")


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Stage "ny" (Scheduler, America/New_York) and stage "twice" (two UTC rules)."""
    return synthesize(
        tmp_path_factory.mktemp("cdk.out"),
        stub_lambda_asset,
        stage_settings(
            "dev", stage="ny", schedule=";".join(NEW_YORK), schedule_timezone="America/New_York"
        ),
        stage_settings("dev", stage="twice", schedule=" ; ".join(UTC_TWICE)),
        app_stage=None,
    )


def ids(synth: Synth, stage: str) -> tuple[str, str]:
    """(sync function, schedule DLQ) logical ids."""
    template = synth.template(stage)
    function = logical_id(
        template, "AWS::Lambda::Function", FunctionName=f"signal9-asset-sync-{stage}"
    )
    dlq = logical_id(
        template, "AWS::SQS::Queue", QueueName=f"signal9-asset-sync-{stage}-schedule-dlq"
    )
    return function, dlq


@pytest.mark.parametrize("stage", ["ny", "twice"])
def test_variants_pass_cdk_nag_and_cfn_lint(synth: Synth, tmp_path: Path, stage: str) -> None:
    annotations = Annotations.from_stack(synth.stacks[stage])
    assert annotations.find_error("*", Match.any_value()) == []
    assert annotations.find_warning("*", Match.any_value()) == []
    assert cfn_lint_problems(synth.template(stage), tmp_path) == []


def test_time_zone_uses_scheduler_schedules_instead_of_a_rule(synth: Synth) -> None:
    template = synth.template("ny")
    function_id, dlq_id = ids(synth, "ny")
    template.resource_count_is("AWS::Events::Rule", 0)
    template.resource_count_is("AWS::Lambda::Permission", 0)  # Scheduler invokes via its role
    role_id = logical_id(template, "AWS::IAM::Role", Description=Match.string_like_regexp("Sched"))
    schedules = sorted(
        (s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()),
        key=lambda props: props["Name"],
    )
    assert [s["Name"] for s in schedules] == [
        "signal9-asset-sync-ny-schedule",
        "signal9-asset-sync-ny-schedule-2",
    ]
    assert [s["ScheduleExpression"] for s in schedules] == list(NEW_YORK)
    for props in schedules:
        assert props["ScheduleExpressionTimezone"] == "America/New_York"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        target = dict(props["Target"])
        event = json.loads(target.pop("Input"))
        assert target == {
            "Arn": arn(function_id),
            "RoleArn": arn(role_id),
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200},
            "DeadLetterConfig": {"Arn": arn(dlq_id)},
        }
        # The handler's correlation id is the event's "id": Scheduler's execution id.
        assert event["id"] == "<aws.scheduler.execution-id>"
        assert event["detail-type"] == "Scheduled Event"


def test_scheduler_role_may_only_invoke_this_function_and_write_the_dlq(synth: Synth) -> None:
    template = synth.template("ny")
    function_id, dlq_id = ids(synth, "ny")
    role_id = logical_id(template, "AWS::IAM::Role", Description=Match.string_like_regexp("Sched"))
    role = resources(template, "AWS::IAM::Role")[role_id]["Properties"]
    assert "ManagedPolicyArns" not in role
    assert role["AssumeRolePolicyDocument"]["Statement"] == [
        {
            "Action": "sts:AssumeRole",
            "Effect": "Allow",
            "Principal": {"Service": "scheduler.amazonaws.com"},
            "Condition": {"StringEquals": {"aws:SourceAccount": {"Ref": "AWS::AccountId"}}},
        }
    ]
    assert role_grants(template, role_id) == {
        key(arn(function_id)): {"lambda:InvokeFunction"},
        key(arn(dlq_id)): {"sqs:SendMessage"},
    }
    # Each schedule waits for the role's policy, so the first invocation is authorised.
    policy_id = next(
        logical
        for logical, policy in resources(template, "AWS::IAM::Policy").items()
        if policy["Properties"]["Roles"] == [{"Ref": role_id}]
    )
    for schedule in resources(template, "AWS::Scheduler::Schedule").values():
        assert policy_id in schedule["DependsOn"]


def test_several_utc_expressions_make_one_rule_each(synth: Synth) -> None:
    template = synth.template("twice")
    function_id, dlq_id = ids(synth, "twice")
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    rules = sorted(
        resources(template, "AWS::Events::Rule").items(),
        key=lambda item: item[1]["Properties"]["Name"],
    )
    assert [r["Properties"]["Name"] for _, r in rules] == [
        "signal9-asset-sync-twice-schedule",
        "signal9-asset-sync-twice-schedule-2",
    ]
    assert [r["Properties"]["ScheduleExpression"] for _, r in rules] == list(UTC_TWICE)
    for rule_id, rule in rules:
        [target] = rule["Properties"]["Targets"]
        assert target["Arn"] == arn(function_id)
        assert target["DeadLetterConfig"] == {"Arn": arn(dlq_id)}
        assert target["RetryPolicy"] == {
            "MaximumRetryAttempts": 2,
            "MaximumEventAgeInSeconds": 7200,
        }
        template.has_resource_properties(
            "AWS::Lambda::Permission",
            {"Principal": "events.amazonaws.com", "SourceArn": arn(rule_id)},
        )


def test_schedule_dlq_admits_each_rule(synth: Synth) -> None:
    template = synth.template("twice")
    _, dlq_id = ids(synth, "twice")
    rule_ids = set(resources(template, "AWS::Events::Rule"))
    policies = [
        p["Properties"]
        for p in resources(template, "AWS::SQS::QueuePolicy").values()
        if p["Properties"]["Queues"] == [{"Ref": dlq_id}]
    ]
    admitted = {
        statement["Condition"]["ArnEquals"]["aws:SourceArn"]["Fn::GetAtt"][0]
        for policy in policies
        for statement in policy["PolicyDocument"]["Statement"]
        if statement["Effect"] == "Allow"
    }
    assert admitted == rule_ids
