"""One CloudWatch dashboard: runs, asset changes, duration, requests, change events, alarms."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from constructs import Construct

from asset_sync.contract import (
    ASSET_CHANGE_METRICS,
    EVENTS_METRICS,
    EVENTS_SERVICE,
    OUTCOME_METRICS,
    Metric,
)
from infra.components.common import service_metric
from infra.components.monitoring import (
    DURATION_ALARM_FRACTION,
    ITERATOR_AGE_ALARM,
    Watched,
    sync_metric,
)
from infra.settings import StageSettings

# SyncFresh among them: a catch-up found today's sync already done (wrote nothing)
RUN_OUTCOME_METRICS = tuple(OUTCOME_METRICS.values())
DELIVERY_METRICS = ("Throttles", "AsyncEventsDropped", "DestinationDeliveryFailures")
QUEUE_LABELS = ("schedule DLQ", "invoke failures", "events failures")
PERIOD = cdk.Duration.hours(1)
EVENTS_PERIOD = cdk.Duration.minutes(5)
WIDTH, HEIGHT = 12, 6
RED, ORANGE = "#d62728", "#ff7f0e"


def events_metric(name: str) -> cloudwatch.Metric:
    """A metric the events consumer publishes (service=asset-events)."""
    return service_metric(EVENTS_SERVICE, name, period=EVENTS_PERIOD)


class SyncDashboard(Construct):
    """The on-call picture of one stage (dashboard ``signal9-asset-sync-<stage>``)."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        alarms: list[cloudwatch.Alarm],
        watched: Watched,
    ) -> None:
        super().__init__(scope, construct_id)
        sync, schedule, asset_events = watched.sync, watched.schedule, watched.asset_events
        timeout = settings.timeout_seconds
        consumer = asset_events.function
        zone = settings.schedule_timezone or "UTC"
        catch_ups = ", ".join(f"`{c.expression}`" for c in settings.catch_ups) or "none"
        queues = [schedule.dead_letter_queue, sync.failure_queue, asset_events.failure_queue]
        self.dashboard = cloudwatch.Dashboard(
            self,
            "Dashboard",
            dashboard_name=settings.prefix,
            default_interval=cdk.Duration.days(7),
            widgets=[
                [
                    cloudwatch.TextWidget(
                        markdown=(
                            f"# signal9-asset-sync {settings.stage}\n"
                            f"Sync `{settings.function_name}` on `{settings.schedule}` ({zone}); "
                            f"catch-ups {catch_ups} sync only if that day's sync has not "
                            "succeeded (else `SyncFresh`, no write). "
                            f"Change events on bus `{settings.bus_name}`. "
                            "Runbooks: docs/deploy.md."
                        ),
                        width=24,
                        height=2,
                    )
                ],
                [
                    self._graph(
                        "Runs by outcome (count per hour)",
                        [sync_metric(name, period=PERIOD) for name in RUN_OUTCOME_METRICS],
                        stacked=True,
                    ),
                    self._graph(
                        "Asset changes (count per hour)",
                        [sync_metric(name, period=PERIOD) for name in ASSET_CHANGE_METRICS],
                        stacked=True,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title=f"Sync duration (s, longest per hour) against the {timeout} s limit",
                        left=[sync_metric(Metric.SYNC_DURATION, "Maximum", PERIOD)],
                        left_y_axis=cloudwatch.YAxisProps(min=0, label="seconds"),
                        left_annotations=[
                            cloudwatch.HorizontalAnnotation(
                                value=timeout, label="timeout", color=RED
                            ),
                            cloudwatch.HorizontalAnnotation(
                                value=timeout * DURATION_ALARM_FRACTION,
                                label="duration alarm",
                                color=ORANGE,
                            ),
                        ],
                        width=WIDTH,
                        height=HEIGHT,
                    ),
                    cloudwatch.GraphWidget(
                        title="Requests per hour: DynamoDB writes (left), Alpaca attempts (right)",
                        left=[sync_metric(Metric.DYNAMODB_WRITE_REQUESTS, period=PERIOD)],
                        right=[sync_metric(Metric.ALPACA_ATTEMPTS, period=PERIOD)],
                        width=WIDTH,
                        height=HEIGHT,
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Events consumer: errors (left), iterator age in ms (right)",
                        left=[consumer.metric_errors(period=EVENTS_PERIOD, statistic="Sum")],
                        right=[
                            consumer.metric(
                                "IteratorAge", period=EVENTS_PERIOD, statistic="Maximum"
                            )
                        ],
                        right_annotations=[
                            cloudwatch.HorizontalAnnotation(
                                value=ITERATOR_AGE_ALARM.to_milliseconds(),
                                label="iterator age alarm",
                                color=ORANGE,
                            )
                        ],
                        width=WIDTH,
                        height=HEIGHT,
                    ),
                    self._graph(
                        "Change events published / failed / quarantined (count per 5 minutes)",
                        [events_metric(name) for name in EVENTS_METRICS],
                    ),
                ],
                [
                    cloudwatch.GraphWidget(
                        title="Failure queues: messages arrived (left), waiting (right)",
                        left=[
                            q.metric_number_of_messages_sent(period=EVENTS_PERIOD, label=n)
                            for q, n in zip(queues, QUEUE_LABELS, strict=True)
                        ],
                        right=[
                            q.metric_approximate_number_of_messages_visible(
                                period=EVENTS_PERIOD, statistic="Maximum", label=n
                            )
                            for q, n in zip(queues, QUEUE_LABELS, strict=True)
                        ],
                        width=WIDTH,
                        height=HEIGHT,
                    ),
                    self._graph(
                        "Sync invocations throttled / dropped / not reported (count per 5 min)",
                        [
                            sync.function.metric(name, period=EVENTS_PERIOD, statistic="Sum")
                            for name in DELIVERY_METRICS
                        ],
                    ),
                ],
                [
                    cloudwatch.AlarmStatusWidget(
                        title="Alarms",
                        alarms=list(alarms),
                        width=24,
                        height=4,
                    )
                ],
            ],
        )

    @staticmethod
    def _graph(
        title: str, metrics: list[cloudwatch.IMetric], *, stacked: bool = False
    ) -> cloudwatch.GraphWidget:
        return cloudwatch.GraphWidget(
            title=title,
            left=list(metrics),
            left_y_axis=cloudwatch.YAxisProps(min=0),
            stacked=stacked,
            width=WIDTH,
            height=HEIGHT,
        )
