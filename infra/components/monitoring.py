"""Alarms on the sync and the events consumer, and the SNS topic they notify."""

from __future__ import annotations

import math
from dataclasses import dataclass

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from constructs import Construct

from asset_sync.contract import SYNC_SERVICE, Metric
from infra.components.alarms import ALARM_PERIOD, GE, GT, AlarmFactory
from infra.components.common import service_metric
from infra.components.events import AssetEvents, failed_or_quarantined, stalled
from infra.components.history import AssetHistory
from infra.components.history import failed_or_quarantined as history_failed
from infra.components.schedule import SyncSchedule
from infra.components.sync_function import SyncFunction
from infra.settings import StageSettings

__all__ = ["ALARM_PERIOD", "GE", "GT", "Monitoring", "Watched", "sync_metric"]

# "Neither a successful sync nor a catch-up that found the table fresh in 26 hours": 26
# one-hour periods, all breaching. With catch-ups the last such signal of a healthy day is the
# last catch-up's, so the alarm fires about two hours after a whole day's attempts failed.
# One-hour periods allow up to 7 days of evaluation range (shorter periods: one day).
NO_SUCCESS_WINDOW_HOURS = 26
DURATION_ALARM_FRACTION = 0.8
ITERATOR_AGE_ALARM = cdk.Duration.minutes(5)


def sync_metric(
    name: str, statistic: str = "Sum", period: cdk.Duration | None = None
) -> cloudwatch.Metric:
    """A metric the sync handler publishes (EMF, service=asset-sync)."""
    return service_metric(
        SYNC_SERVICE, name, statistic=statistic, period=period or cdk.Duration.hours(1)
    )


@dataclass(frozen=True)
class Watched:
    """What the alarms and the dashboard watch: the sync, its schedule, the change events and
    the history writer."""

    sync: SyncFunction
    schedule: SyncSchedule
    asset_events: AssetEvents
    asset_history: AssetHistory


class Monitoring(Construct):
    """The alarm topic and every alarm, each notifying the stage's destinations.

    Destinations: the stage's topic (with ``alarm_email`` subscribed to it) and, when set, the
    existing topic ``alarm_topic_arn``. The topic's policy admits exactly these alarms.
    """

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        watched: Watched,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.topic = self._topic()
        actions: list[cloudwatch.IAlarmAction] = [cw_actions.SnsAction(self.topic)]
        if settings.alarm_topic_arn:
            existing = sns.Topic.from_topic_arn(self, "AlarmDestination", settings.alarm_topic_arn)
            actions.append(cw_actions.SnsAction(existing))
        self.factory = AlarmFactory(self, settings.prefix, actions)
        self.alarms = self.factory.alarms
        self._sync_alarms(watched.sync, watched.schedule)
        self._events_alarms(watched.asset_events)
        self._history_alarms(watched.asset_history)
        self._admit_alarms()

    def _topic(self) -> sns.Topic:
        # Not KMS-encrypted: it carries only alarm notifications (alarm name, state, metric), and
        # CloudWatch cannot publish to a topic under the AWS managed aws/sns key; a customer
        # managed key would add cost and a key policy for no confidentiality gain. TLS is enforced.
        topic = sns.Topic(
            self,
            "AlarmTopic",
            topic_name=f"{self.settings.prefix}-alarms",
            display_name=f"signal9-asset-sync {self.settings.stage} alarms",
            enforce_ssl=True,
        )
        if self.settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

    def _admit_alarms(self) -> None:
        # The enforce_ssl topic policy replaces SNS's default policy, so CloudWatch is admitted
        # explicitly, and only for this stack's alarms (their ARNs), not any alarm of the account.
        stack = cdk.Stack.of(self)
        self.topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowThisStacksAlarms",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[self.topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnEquals": {"aws:SourceArn": [alarm.alarm_arn for alarm in self.alarms]},
                },
            )
        )

    def _errors_alarm(
        self, construct_id: str, name: str, what: str, function: lambda_.IFunction
    ) -> None:
        """`function` raised (its Errors >= 1 in one alarm period)."""
        self.factory.alarm(
            construct_id,
            name,
            description=f"The {what} raised (Errors >= 1 in 5 minutes).",
            metric=function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
        )

    def _sync_alarms(self, sync: SyncFunction, schedule: SyncSchedule) -> None:
        self._errors_alarm("ErrorsAlarm", "errors", "sync function", sync.function)
        timeout_ms = self.settings.timeout_seconds * 1000
        self.factory.alarm(
            "DurationAlarm",
            "duration",
            description=f"A sync ran for >= {DURATION_ALARM_FRACTION:.0%} of the function timeout.",
            metric=sync.function.metric_duration(period=ALARM_PERIOD, statistic="Maximum"),
            threshold=math.floor(timeout_ms * DURATION_ALARM_FRACTION),
            comparison=GE,
        )
        self.factory.new_messages(
            "ScheduleDlqAlarm",
            "schedule-dlq-messages",
            schedule.dead_letter_queue,
            "schedule's dead-letter queue",
        )
        self.factory.new_messages(
            "InvokeFailureQueueAlarm",
            "invoke-failure-messages",
            sync.failure_queue,
            "sync function's on-failure queue",
        )
        self._delivery_alarms(sync)
        self.factory.alarm(
            "NoSuccessfulSyncAlarm",
            "no-successful-sync",
            description=(
                f"Neither a successful sync ({Metric.SYNC_SUCCEEDED}) nor a catch-up that found "
                f"the table fresh ({Metric.SYNC_FRESH}) in the last {NO_SUCCESS_WINDOW_HOURS} "
                "hours; missing data counts as failure."
            ),
            metric=cloudwatch.MathExpression(
                expression="FILL(succeeded, 0) + FILL(fresh, 0)",
                using_metrics={
                    "succeeded": sync_metric(Metric.SYNC_SUCCEEDED),
                    "fresh": sync_metric(Metric.SYNC_FRESH),
                },
                label=f"{Metric.SYNC_SUCCEEDED} + {Metric.SYNC_FRESH}",
                period=cdk.Duration.hours(1),
            ),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=NO_SUCCESS_WINDOW_HOURS,
            missing=cloudwatch.TreatMissingData.BREACHING,
        )

    def _delivery_alarms(self, sync: SyncFunction) -> None:
        """Invocations Lambda could not run, gave up on, or could not report."""
        function = sync.function
        self.factory.lambda_count(
            "ThrottlesAlarm",
            "throttles",
            function,
            "Throttles",
            "Lambda throttled an invocation of the sync function (Throttles >= 1 in 5 "
            "minutes): the account's concurrency is exhausted; Lambda retries for up to 6 hours.",
        )
        self.factory.lambda_count(
            "AsyncEventsDroppedAlarm",
            "async-events-dropped",
            function,
            "AsyncEventsDropped",
            "Lambda gave up on an event of the sync function (AsyncEventsDropped >= 1): failed "
            "after its retries, too old, or throttled until too old.",
        )
        self.factory.lambda_count(
            "DestinationDeliveryFailuresAlarm",
            "destination-delivery-failures",
            function,
            "DestinationDeliveryFailures",
            "Lambda could not put a failed event of the sync function in its on-failure queue "
            "(DestinationDeliveryFailures >= 1): that failure is recorded nowhere else.",
        )

    def _events_alarms(self, asset_events: AssetEvents) -> None:
        """The event pipeline's alarms; their runbooks are in docs/events.md ("Runbooks")."""
        self.factory.alarm(
            "EventsFailedAlarm",
            "events-failed",
            description=(
                "Change events were not published by the end of an invocation (EventsFailed) or "
                "stream records were quarantined (EventsQuarantined) in 5 minutes."
            ),
            metric=failed_or_quarantined(ALARM_PERIOD),
            threshold=1,
            comparison=GE,
        )
        self.factory.alarm(
            "EventsStalledAlarm",
            "events-stalled",
            description=(
                "The sync reported changes in the last hour but the events consumer published "
                "no event: the event source mapping, its filter or the stream is not working."
            ),
            metric=stalled(),
            threshold=1,
            comparison=GE,
        )
        self.factory.alarm(
            "EventsQuarantineAlarm",
            "events-quarantine-objects",
            description="New stream records arrived in the events consumer's quarantine bucket.",
            metric=asset_events.quarantine_puts(ALARM_PERIOD),
            threshold=1,
            comparison=GE,
        )
        self.factory.new_messages(
            "EventsFailureQueueAlarm",
            "events-failure-messages",
            asset_events.failure_queue,
            "events consumer's on-failure queue (stream records were discarded)",
        )
        self._errors_alarm(
            "EventsErrorsAlarm", "events-errors", "events consumer", asset_events.function
        )
        self._iterator_age_alarm(
            "EventsIteratorAgeAlarm", "events-iterator-age", "events consumer", asset_events
        )

    def _iterator_age_alarm(
        self, construct_id: str, name: str, what: str, reader: AssetEvents | AssetHistory
    ) -> None:
        """A stream reader more than ITERATOR_AGE_ALARM behind the table's stream."""
        self.factory.alarm(
            construct_id,
            name,
            description=(
                f"The {what} is more than "
                f"{ITERATOR_AGE_ALARM.to_minutes():.0f} minutes behind the table's stream."
            ),
            metric=reader.function.metric("IteratorAge", period=ALARM_PERIOD, statistic="Maximum"),
            threshold=ITERATOR_AGE_ALARM.to_milliseconds(),
            comparison=GT,
        )

    def _history_alarms(self, asset_history: AssetHistory) -> None:
        """The history writer's alarms; their runbooks are in docs/deploy.md."""
        self.factory.alarm(
            "HistoryFailedAlarm",
            "history-failed",
            description=(
                "Versions were not written by the end of an invocation (HistoryRecordsFailed) or "
                "stream records were quarantined in the history table "
                "(HistoryRecordsQuarantined) in 5 minutes."
            ),
            metric=history_failed(ALARM_PERIOD),
            threshold=1,
            comparison=GE,
        )
        self.factory.new_messages(
            "HistoryFailureQueueAlarm",
            "history-failure-messages",
            asset_history.failure_queue,
            "history writer's on-failure queue (stream records were discarded)",
        )
        self._errors_alarm(
            "HistoryErrorsAlarm", "history-errors", "history writer", asset_history.function
        )
        self._iterator_age_alarm(
            "HistoryIteratorAgeAlarm", "history-iterator-age", "history writer", asset_history
        )
