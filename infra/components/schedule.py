"""When the sync runs: EventBridge rules in UTC, or EventBridge Scheduler in a time zone."""

from __future__ import annotations

import json

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_scheduler as scheduler
from constructs import Construct

from infra.components.common import failure_queue, send_message_statement
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
    """One trigger per expression of ``schedule``, with retries and a dead-letter queue.

    Without ``schedule_timezone``: EventBridge rules (UTC). With it: EventBridge Scheduler
    schedules in that zone (daylight saving followed), invoking through a role that may only
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
        self.role: iam.Role | None = None
        if settings.schedule_timezone is None:
            self.rules = [
                self._rule(index, expression, function)
                for index, expression in enumerate(settings.schedules, start=1)
            ]
        else:
            self.role = self._scheduler_role(function)
            self.schedules = [
                self._schedule(index, expression, settings.schedule_timezone, function)
                for index, expression in enumerate(settings.schedules, start=1)
            ]

    def _name(self, index: int) -> str:
        return f"{self.settings.prefix}-schedule" + ("" if index == 1 else f"-{index}")

    def _rule(self, index: int, expression: str, function: lambda_.IFunction) -> events.Rule:
        rule = events.Rule(
            self,
            "Rule" if index == 1 else f"Rule{index}",
            rule_name=self._name(index),
            description=f"Alpaca asset catalog sync: {expression} (UTC)",
            schedule=events.Schedule.expression(expression),
        )
        rule.add_target(
            targets.LambdaFunction(
                function,
                retry_attempts=RETRY_ATTEMPTS,
                max_event_age=MAX_EVENT_AGE,
                dead_letter_queue=self.dead_letter_queue,
            )
        )
        return rule

    def _scheduler_role(self, function: lambda_.IFunction) -> iam.Role:
        stack = cdk.Stack.of(self)
        role = iam.Role(
            self,
            "SchedulerRole",
            assumed_by=iam.ServicePrincipal(
                "scheduler.amazonaws.com",
                conditions={"StringEquals": {"aws:SourceAccount": stack.account}},
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
        self, index: int, expression: str, timezone: str, function: lambda_.IFunction
    ) -> scheduler.CfnSchedule:
        assert self.role is not None
        schedule = scheduler.CfnSchedule(
            self,
            "Schedule" if index == 1 else f"Schedule{index}",
            name=self._name(index),
            description=f"Alpaca asset catalog sync: {expression} ({timezone})",
            schedule_expression=expression,
            schedule_expression_timezone=timezone,
            flexible_time_window=scheduler.CfnSchedule.FlexibleTimeWindowProperty(mode="OFF"),
            state="ENABLED",
            target=scheduler.CfnSchedule.TargetProperty(
                arn=function.function_arn,
                role_arn=self.role.role_arn,
                input=json.dumps(SCHEDULER_INPUT),
                retry_policy=scheduler.CfnSchedule.RetryPolicyProperty(
                    maximum_retry_attempts=RETRY_ATTEMPTS,
                    maximum_event_age_in_seconds=int(MAX_EVENT_AGE.to_seconds()),
                ),
                dead_letter_config=scheduler.CfnSchedule.DeadLetterConfigProperty(
                    arn=self.dead_letter_queue.queue_arn
                ),
            ),
        )
        # The role's policy must exist before Scheduler first uses it.
        schedule.node.add_dependency(self.role)
        return schedule
