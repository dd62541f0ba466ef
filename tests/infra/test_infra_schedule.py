"""Schedules: EventBridge Scheduler in a time zone (several expressions, catch-ups, the stage's own
schedule group), and several UTC rules with catch-ups."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest
from aws_cdk.assertions import Annotations, Match
from tests.infra.synth import (
    Synth,
    arn,
    cfn_lint_problems,
    logical_id,
    resources,
    stage_settings,
    synthesize,
)

pytestmark = pytest.mark.infra

NEW_YORK = ("cron(0 23 * * ? *)", "cron(35 8 * * ? *)")  # nightly, and after the 08:20 refresh
NEW_YORK_CATCH_UPS = {"cron(0 0 * * ? *)": 3600, "cron(35 9 * * ? *)": 3600}
UTC_TWICE = ("cron(0 4 * * ? *)", "cron(0 14 * * ? *)")
UTC_CATCH_UPS = {"cron(0 5 * * ? *)": 3600, "cron(0 6 * * ? *)": 7200, "cron(35 13 * * ? *)": 34500}


@pytest.fixture(scope="module")
def synth(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Synth:
    """Stage "ny" (Scheduler, America/New_York) and stage "twice" (two UTC rules)."""
    return synthesize(
        tmp_path_factory.mktemp("cdk.out"),
        stub_lambda_asset,
        stage_settings(
            "dev",
            stage="ny",
            schedule=";".join(NEW_YORK),
            catch_up_schedule=";".join(NEW_YORK_CATCH_UPS),
            schedule_timezone="America/New_York",
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


def scheduler_role_id(synth: Synth) -> str:
    """The ny stage's Scheduler role."""
    return logical_id(
        synth.template("ny"), "AWS::IAM::Role", Description=Match.string_like_regexp("Sched")
    )


def test_time_zone_uses_scheduler_schedules_in_the_stages_group(synth: Synth) -> None:
    template = synth.template("ny")
    function_id, dlq_id = ids(synth, "ny")
    template.resource_count_is("AWS::Events::Rule", 0)
    template.resource_count_is("AWS::Lambda::Permission", 0)  # Scheduler invokes via its role
    group_id, group = next(iter(resources(template, "AWS::Scheduler::ScheduleGroup").items()))
    template.resource_count_is("AWS::Scheduler::ScheduleGroup", 1)
    assert group["Properties"]["Name"] == "signal9-asset-sync-ny"
    schedules = sorted(
        (s["Properties"] for s in resources(template, "AWS::Scheduler::Schedule").values()),
        key=lambda props: props["Name"],
    )
    assert [s["Name"] for s in schedules] == [
        "signal9-asset-sync-ny-catch-up",
        "signal9-asset-sync-ny-catch-up-2",
        "signal9-asset-sync-ny-schedule",
        "signal9-asset-sync-ny-schedule-2",
    ]
    assert [s["ScheduleExpression"] for s in schedules] == [*NEW_YORK_CATCH_UPS, *NEW_YORK]
    windows = []
    for props in schedules:
        assert props["GroupName"] == "signal9-asset-sync-ny"
        assert props["ScheduleExpressionTimezone"] == "America/New_York"
        assert props["FlexibleTimeWindow"] == {"Mode": "OFF"}
        assert props["State"] == "ENABLED"
        target = dict(props["Target"])
        event = json.loads(target.pop("Input"))
        assert target == {
            "Arn": arn(function_id),
            "RoleArn": arn(scheduler_role_id(synth)),
            "RetryPolicy": {"MaximumRetryAttempts": 2, "MaximumEventAgeInSeconds": 7200},
            "DeadLetterConfig": {"Arn": arn(dlq_id)},
        }
        # The handler's correlation id is the event's "id": Scheduler's execution id; a
        # catch-up's window is measured from "time", the scheduled time.
        assert event["id"] == "<aws.scheduler.execution-id>"
        assert event["time"] == "<aws.scheduler.scheduled-time>"
        assert event["detail-type"] == "Scheduled Event"
        windows.append(event.get("catch_up"))
    assert windows == [
        *({"window_seconds": w} for w in NEW_YORK_CATCH_UPS.values()),
        None,
        None,
    ]
    for schedule in resources(template, "AWS::Scheduler::Schedule").values():
        assert group_id in schedule["DependsOn"]


def test_several_utc_expressions_make_one_rule_each(synth: Synth) -> None:
    template = synth.template("twice")
    function_id, dlq_id = ids(synth, "twice")
    template.resource_count_is("AWS::Scheduler::Schedule", 0)
    rules = sorted(
        resources(template, "AWS::Events::Rule").items(),
        key=lambda item: item[1]["Properties"]["Name"],
    )
    assert [r["Properties"]["Name"] for _, r in rules] == [
        "signal9-asset-sync-twice-catch-up",
        "signal9-asset-sync-twice-catch-up-2",
        "signal9-asset-sync-twice-catch-up-3",
        "signal9-asset-sync-twice-schedule",
        "signal9-asset-sync-twice-schedule-2",
    ]
    assert [r["Properties"]["ScheduleExpression"] for _, r in rules] == [
        *UTC_CATCH_UPS,
        *UTC_TWICE,
    ]
    for rule_id, rule in rules:
        [target] = rule["Properties"]["Targets"]
        expression = rule["Properties"]["ScheduleExpression"]
        if expression in UTC_CATCH_UPS:
            # The scheduled event's id and time, and the catch-up request with its window.
            transformer = target["InputTransformer"]
            assert transformer["InputPathsMap"] == {"id": "$.id", "time": "$.time"}
            event = json.loads(re.sub(r"<(id|time)>", '"x"', transformer["InputTemplate"]))
            assert event["catch_up"] == {"window_seconds": UTC_CATCH_UPS[expression]}
            assert (event["id"], event["time"]) == ("x", "x")
        else:
            assert "InputTransformer" not in target and "Input" not in target
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
