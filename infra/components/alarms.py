"""Alarm helpers every component shares: each alarm notifies the stage's destinations.

- ``AlarmFactory.alarm``: one named alarm (``<prefix>-<name>``) with the stage's actions.
- ``AlarmFactory.new_messages``: a failure queue's alarm on each newly arrived message.
- ``AlarmFactory.lambda_count``: a Lambda metric that must stay at zero (throttles, ...).

Every alarm a factory makes is in ``factory.alarms``; the alarm topic admits exactly those.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sqs as sqs
from constructs import Construct

ALARM_PERIOD = cdk.Duration.minutes(5)
GE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD
# A queue that had no traffic for six hours is inactive and SQS may publish its first metrics
# after it wakes up up to 15 minutes late: a message alarms if it shows up in any of the last
# three 5-minute periods, and the alarm is OK again 15 minutes after the last message.
NEW_MESSAGE_PERIODS = 3


class AlarmFactory:
    """Makes a stage's alarms in ``scope``, each notifying ``actions``."""

    def __init__(
        self, scope: Construct, prefix: str, actions: list[cloudwatch.IAlarmAction]
    ) -> None:
        self.scope = scope
        self.prefix = prefix
        self.actions = actions
        self.alarms: list[cloudwatch.Alarm] = []

    def alarm(
        self,
        construct_id: str,
        name: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int = 1,
        datapoints_to_alarm: int | None = None,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        """Alarm ``<prefix>-<name>`` (all of evaluation_periods breaching unless told)."""
        alarm = cloudwatch.Alarm(
            self.scope,
            construct_id,
            alarm_name=f"{self.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=datapoints_to_alarm or evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(*self.actions)
        self.alarms.append(alarm)
        return alarm

    def new_messages(
        self, construct_id: str, name: str, queue: sqs.IQueue, what: str
    ) -> cloudwatch.Alarm:
        """ALARM when a message arrives in a failure queue, OK again once none arrives.

        NumberOfMessagesSent counts SendMessage calls, which is how Lambda (asynchronous and
        event source mapping on-failure destinations), EventBridge and Scheduler (dead-letter
        queues) deliver failures; only SQS's own redrive escapes it, and no queue here has one.
        So every new failure notifies, however many older messages still wait, unlike
        ApproximateNumberOfMessagesVisible > 0, which stays in ALARM while the first one waits.
        """
        return self.alarm(
            construct_id,
            name,
            description=(
                f"A message arrived in the {what} ({queue.node.id}): every newly arrived "
                "message notifies (NumberOfMessagesSent >= 1 within 15 minutes)."
            ),
            metric=queue.metric_number_of_messages_sent(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
            evaluation_periods=NEW_MESSAGE_PERIODS,
            datapoints_to_alarm=1,
        )

    def lambda_count(
        self,
        construct_id: str,
        name: str,
        function: lambda_.IFunction,
        metric_name: str,
        description: str,
    ) -> cloudwatch.Alarm:
        """ALARM when a Lambda metric (AWS/Lambda, by function) counts >= 1 in 5 minutes."""
        return self.alarm(
            construct_id,
            name,
            description=description,
            metric=function.metric(metric_name, period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
        )
