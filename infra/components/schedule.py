"""When the sync runs: EventBridge rules in UTC, or EventBridge Scheduler in a time zone.

Each expression of ``schedule`` is a daily run; each of ``catch_up_schedule`` is a catch-up
whose event carries ``{"catch_up": {"window_seconds": N}}``: the function then syncs only when
no sync succeeded in the N seconds since the daily run before it (logic/freshness.py).
"""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from asset_sync.logic.freshness import CatchUp
from infra.components.common import failure_queue, send_message_statement
from infra.schedules import CatchUpSchedule
from infra.settings import StageSettings

RETRY_ATTEMPTS = 2
MAX_EVENT_AGE = cdk.Duration.hours(2)
# What Scheduler sends: shaped like EventBridge's scheduled event, so that the handler's
# correlation id (the event's "id") is the execution id in both cases.
SCHEDULER_INPUT = {
    "id": "<aws.scheduler.execution-id>",
    "detail-type": "Scheduled Event",
    "source": "aws.scheduler",
    "time": "<aws.scheduler.scheduled-time>",
    "resources": ["<aws.scheduler.schedule-arn>"],
    "detail": {},
}


class SyncSchedule(Construct):
    """One trigger per daily run and per catch-up, with retries and a dead-letter queue.

    Without ``schedule_timezone``: EventBridge rules (UTC). With it: EventBridge Scheduler
    schedules in that zone (daylight saving followed), in the stage's own schedule group,
    invoking through a role that only this group's schedules may assume and that may only
    invoke this function and write to the DLQ.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        function: lambda_.IFunction,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.dead_letter_queue = failure_queue(
            self,
            "Dlq",
            f"{settings.prefix}-schedule-dlq",
            "schedule's dead-letter queue (events that could not invoke the function)",
        )
        self.rules: list[events.Rule] = []
        self.schedules: list[scheduler.CfnSchedule] = []
        self.group: scheduler.CfnScheduleGroup | None = None
        self.role: iam.Role | None = None
        daily = list(enumerate(settings.schedules, start=1))
        catch_ups = list(enumerate(settings.catch_ups, start=1))
        if settings.schedule_timezone is None:
            self.rules = [self._rule(i, e, function) for i, e in daily] + [
                self._rule(i, c.expression, function, catch_up=c) for i, c in catch_ups
            ]
        else:
            zone = settings.schedule_timezone
            self.group = scheduler.CfnScheduleGroup(self, "Group", name=settings.prefix)
            self.role = self._scheduler_role(function, self.group)
            self.schedules = [self._schedule(i, e, zone, function) for i, e in daily] + [
                self._schedule(i, c.expression, zone, function, catch_up=c) for i, c in catch_ups
            ]

    def _name(self, index: int, catch_up: CatchUpSchedule | None) -> str:
        kind = "schedule" if catch_up is None else "catch-up"
        return f"{self.settings.prefix}-{kind}" + ("" if index == 1 else f"-{index}")

    @staticmethod
    def _construct_id(kind: str, index: int, catch_up: CatchUpSchedule | None) -> str:
        name = kind if catch_up is None else f"CatchUp{kind}"
        return name if index == 1 else f"{name}{index}"

    @staticmethod
    def _description(expression: str, zone: str, catch_up: CatchUpSchedule | None) -> str:
        if catch_up is None:
            return f"Alpaca asset catalog sync: {expression} ({zone})"
        return (
            f"Alpaca asset catalog catch-up: {expression} ({zone}), syncs only if no sync "
            f"succeeded in the {catch_up.window_seconds} s since the daily run"
        )

    def _rule(
        self,
        index: int,
        expression: str,
        function: lambda_.IFunction,
        catch_up: CatchUpSchedule | None = None,
    ) -> events.Rule:
        rule = events.Rule(
            self,
            self._construct_id("Rule", index, catch_up),
            rule_name=self._name(index, catch_up),
            description=self._description(expression, "UTC", catch_up),
            schedule=events.Schedule.expression(expression),
        )
        # A catch-up's event: the scheduled event's id and time (the handler's correlation id,
        # and the time its window is measured from) plus the catch-up request.
        event = None
        if catch_up is not None:
            event = events.RuleTargetInput.from_object(
                {
                    "id": events.EventField.from_path("$.id"),
                    "detail-type": "Scheduled Event",
                    "source": "aws.events",
                    "time": events.EventField.from_path("$.time"),
                    "detail": {},
                    **CatchUp(catch_up.window_seconds).to_event(),
                }
            )
        rule.add_target(
            targets.LambdaFunction(
                function,
                event=event,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
                dead_letter_queue=self.dead_letter_queue,
            )
        )
        return rule

    def _scheduler_role(
        self, function: lambda_.IFunction, group: scheduler.CfnScheduleGroup
    ) -> iam.Role:
        stack = cdk.Stack.of(self)
        # Scheduler sets aws:SourceArn to the schedule *group* of the schedule assuming the role
        # (AWS: "Do not scope the aws:SourceArn statement to a specific schedule"), so the stage's
        # schedules live in a group of their own and only that group's may assume it.
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": group.attr_arn},
                },
            ),
            description="EventBridge Scheduler: invoke the sync function, write to its DLQ",
        )
        role.add_to_principal_policy(
            iam.PolicyStatement(
                sid="InvokeTheSyncFunction",
                actions=["lambda:InvokeFunction"],
                resources=[function.function_arn],
            )
        )
        # Scheduler writes undeliverable invocations to the DLQ with this role.
        role.add_to_principal_policy(
            send_message_statement(self.dead_letter_queue, "DeadLetterQueue")
        )
        return role

    def _schedule(
        self,
        index: int,
        expression: str,
        timezone: str,
        function: lambda_.IFunction,
        catch_up: CatchUpSchedule | None = None,
    ) -> scheduler.CfnSchedule:
        assert self.role is not None and self.group is not None
        event = dict(SCHEDULER_INPUT)
        if catch_up is not None:
            event.update(CatchUp(catch_up.window_seconds).to_event())
        schedule = scheduler.CfnSchedule(
            self,
            self._construct_id("Schedule", index, catch_up),
            name=self._name(index, catch_up),
            group_name=self.group.name,
            description=self._description(expression, timezone, catch_up),
            schedule_expression=expression,
            schedule_expression_timezone=timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(event),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn
                ),
            ),
        )
        # The role's policy and the group must exist before Scheduler first uses them.
        schedule.node.add_dependency(self.role)
        schedule.add_dependency(self.group)
        return schedule
