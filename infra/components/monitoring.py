"""Alarms on the sync and the events consumer, and the SNS topic they notify."""

from __future__ import annotations

import math

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_iam as iam
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from infra.components.alarms import ALARM_PERIOD, GE, GT, AlarmFactory
from infra.components.common import METRICS_NAMESPACE
from infra.components.events import AssetEvents, failed_or_quarantined, stalled
from infra.components.history import AssetHistory
from infra.components.history import failed_or_quarantined as history_failed
from infra.components.schedule import SyncSchedule
from infra.components.sync_function import SERVICE_NAME, SyncFunction
from infra.settings import StageSettings

__all__ = ["ALARM_PERIOD", "GE", "GT", "Monitoring", "sync_metric"]

SYNC_SUCCEEDED_METRIC = "SyncSucceeded"
SYNC_FRESH_METRIC = "SyncFresh"  # a catch-up found today's sync already done
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
    """A metric the sync handler publishes (EMF, Signal9/AssetSync, service=asset-sync)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": SERVICE_NAME},
        statistic=statistic,
        period=period or cdk.Duration.hours(1),
    )


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
        sync: SyncFunction,
        schedule: SyncSchedule,
        asset_events: AssetEvents,
        asset_history: AssetHistory,
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
        self._sync_alarms(sync, schedule)
        self._events_alarms(asset_events)
        self._history_alarms(asset_history)
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

    def _alarm(
        self,
        construct_id: str,
        name: str,
        *,
        description: str,
        metric: cloudwatch.IMetric,
        threshold: float,
        comparison: cloudwatch.ComparisonOperator,
        evaluation_periods: int = 1,
        missing: cloudwatch.TreatMissingData = cloudwatch.TreatMissingData.NOT_BREACHING,
    ) -> cloudwatch.Alarm:
        return self.factory.alarm(
            construct_id,
            name,
            description=description,
            metric=metric,
            threshold=threshold,
            comparison=comparison,
            evaluation_periods=evaluation_periods,
            missing=missing,
        )

    def _queue_alarm(self, construct_id: str, name: str, queue: sqs.IQueue, what: str) -> None:
        self.factory.new_messages(construct_id, name, queue, what)

    def _sync_alarms(self, sync: SyncFunction, schedule: SyncSchedule) -> None:
        self._alarm(
            "ErrorsAlarm",
            "errors",
            description="The sync function raised (Errors >= 1 in 5 minutes).",
            metric=sync.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
        )
        timeout_ms = self.settings.timeout_seconds * 1000
        self._alarm(
            "DurationAlarm",
            "duration",
            description=f"A sync ran for >= {DURATION_ALARM_FRACTION:.0%} of the function timeout.",
            metric=sync.function.metric_duration(period=ALARM_PERIOD, statistic="Maximum"),
            threshold=math.floor(timeout_ms * DURATION_ALARM_FRACTION),
            comparison=GE,
        )
        self._queue_alarm(
            "ScheduleDlqAlarm",
            "schedule-dlq-messages",
            schedule.dead_letter_queue,
            "schedule's dead-letter queue",
        )
        self._queue_alarm(
            "InvokeFailureQueueAlarm",
            "invoke-failure-messages",
            sync.failure_queue,
            "sync function's on-failure queue",
        )
        self._delivery_alarms(sync)
        self._alarm(
            "NoSuccessfulSyncAlarm",
            "no-successful-sync",
            description=(
                f"Neither a successful sync ({SYNC_SUCCEEDED_METRIC}) nor a catch-up that found "
                f"the table fresh ({SYNC_FRESH_METRIC}) in the last {NO_SUCCESS_WINDOW_HOURS} "
                "hours; missing data counts as failure."
            ),
            metric=cloudwatch.MathExpression(
                expression="FILL(succeeded, 0) + FILL(fresh, 0)",
                using_metrics={
                    "succeeded": sync_metric(SYNC_SUCCEEDED_METRIC),
                    "fresh": sync_metric(SYNC_FRESH_METRIC),
                },
                label="SyncSucceeded + SyncFresh",
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
        self._alarm(
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
        self._alarm(
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
        self._alarm(
            "EventsQuarantineAlarm",
            "events-quarantine-objects",
            description="New stream records arrived in the events consumer's quarantine bucket.",
            metric=asset_events.quarantine_puts(ALARM_PERIOD),
            threshold=1,
            comparison=GE,
        )
        self._queue_alarm(
            "EventsFailureQueueAlarm",
            "events-failure-messages",
            asset_events.failure_queue,
            "events consumer's on-failure queue (stream records were discarded)",
        )
        self._alarm(
            "EventsErrorsAlarm",
            "events-errors",
            description="The events consumer raised (Errors >= 1 in 5 minutes).",
            metric=asset_events.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
        )
        self._alarm(
            "EventsIteratorAgeAlarm",
            "events-iterator-age",
            description=(
                "The events consumer is more than "
                f"{ITERATOR_AGE_ALARM.to_minutes():.0f} minutes behind the table's stream."
            ),
            metric=asset_events.function.metric(
                "IteratorAge", period=ALARM_PERIOD, statistic="Maximum"
            ),
            threshold=ITERATOR_AGE_ALARM.to_milliseconds(),
            comparison=GT,
        )

    def _history_alarms(self, asset_history: AssetHistory) -> None:
        """The history writer's alarms; their runbooks are in docs/deploy.md."""
        self._alarm(
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
        self._queue_alarm(
            "HistoryFailureQueueAlarm",
            "history-failure-messages",
            asset_history.failure_queue,
            "history writer's on-failure queue (stream records were discarded)",
        )
        self._alarm(
            "HistoryErrorsAlarm",
            "history-errors",
            description="The history writer raised (Errors >= 1 in 5 minutes).",
            metric=asset_history.function.metric_errors(period=ALARM_PERIOD, statistic="Sum"),
            threshold=1,
            comparison=GE,
        )
        self._alarm(
            "HistoryIteratorAgeAlarm",
            "history-iterator-age",
            description=(
                "The history writer is more than "
                f"{ITERATOR_AGE_ALARM.to_minutes():.0f} minutes behind the table's stream."
            ),
            metric=asset_history.function.metric(
                "IteratorAge", period=ALARM_PERIOD, statistic="Maximum"
            ),
            threshold=ITERATOR_AGE_ALARM.to_milliseconds(),
            comparison=GT,
        )
