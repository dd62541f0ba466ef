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

from infra.components.common import METRICS_NAMESPACE
from infra.components.events import AssetEvents, failed_or_quarantined, stalled
from infra.components.schedule import SyncSchedule
from infra.components.sync_function import SERVICE_NAME, SyncFunction
from infra.settings import StageSettings

SYNC_SUCCEEDED_METRIC = "SyncSucceeded"
# "No successful sync in 26 hours": 26 one-hour periods, all breaching. One-hour periods allow
# up to 7 days of evaluation range (periods under an hour are limited to one day).
NO_SUCCESS_WINDOW_HOURS = 26
DURATION_ALARM_FRACTION = 0.8
ITERATOR_AGE_ALARM = cdk.Duration.minutes(5)
ALARM_PERIOD = cdk.Duration.minutes(5)
GE = cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD
GT = cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD


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
    """The alarm topic (optional e-mail subscription) and every alarm, each notifying it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        sync: SyncFunction,
        schedule: SyncSchedule,
        asset_events: AssetEvents,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.topic = self._topic()
        self.alarms: list[cloudwatch.Alarm] = []
        self._sync_alarms(sync, schedule)
        self._events_alarms(asset_events)

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
        # CloudWatch alarms of this account may publish (the enforce_ssl topic policy replaces
        # SNS's default policy, so the service principal is allowed explicitly).
        stack = cdk.Stack.of(self)
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": stack.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{stack.partition}:cloudwatch:{stack.region}:"
                        f"{stack.account}:alarm:*"
                    },
                },
            )
        )
        if self.settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

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
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"{self.settings.prefix}-{name}",
            alarm_description=description,
            metric=metric,
            threshold=threshold,
            comparison_operator=comparison,
            evaluation_periods=evaluation_periods,
            datapoints_to_alarm=evaluation_periods,
            treat_missing_data=missing,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.topic))
        self.alarms.append(alarm)
        return alarm

    def _queue_alarm(self, construct_id: str, name: str, queue: sqs.IQueue, what: str) -> None:
        self._alarm(
            construct_id,
            name,
            description=f"Messages are waiting in the {what} ({queue.node.id}).",
            metric=queue.metric_approximate_number_of_messages_visible(
                period=ALARM_PERIOD, statistic="Maximum"
            ),
            threshold=0,
            comparison=GT,
        )

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
        self._alarm(
            "NoSuccessfulSyncAlarm",
            "no-successful-sync",
            description=(
                f"No successful sync (metric {SYNC_SUCCEEDED_METRIC}) in the last "
                f"{NO_SUCCESS_WINDOW_HOURS} hours; missing data counts as failure."
            ),
            metric=sync_metric(SYNC_SUCCEEDED_METRIC),
            threshold=1,
            comparison=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=NO_SUCCESS_WINDOW_HOURS,
            missing=cloudwatch.TreatMissingData.BREACHING,
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
