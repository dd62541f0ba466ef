"""Change events: the assets table's stream -> a consumer Lambda -> an archived event bus.

The consumer publishes what it can, quarantines in an S3 bucket of its own what it never can,
and reports where Lambda must retry (docs/events.md, "Delivery"). The mapping retries for as
long as the stream keeps records, less an hour; the consumer quarantines failing records an
hour before that.
"""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_s3 as s3
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from asset_sync.contract import (
    ASSET_CHANGE_METRICS,
    EVENT_SOURCE,
    EVENTS_HANDLER,
    EVENTS_SERVICE,
    QUARANTINE_PREFIX,
    SYNC_SERVICE,
    Env,
    Metric,
)
from infra.components import common
from infra.components.stage_function import StageFunction
from infra.components.tables import Tables

# A year of change events can be replayed: as long as the run history the state table keeps
# (365 runs), at a few cents (a first load of 35,000 events is some 50 MB).
ARCHIVE_RETENTION = cdk.Duration.days(365)
BUS_LOGICAL_ID = "EventsBus45DE4339"
ARCHIVE_LOGICAL_ID = "EventsArchive5A2DBDD8"
CONSUMER_MEMORY_MB = 256
# 100 records -> 10 PutEvents calls; the consumer stops publishing 2 s before the end (15 s
# earlier when a quarantine write may follow) and reports where to retry.
CONSUMER_TIMEOUT = cdk.Duration.seconds(60)
BATCH_SIZE = 100
BATCHING_WINDOW = cdk.Duration.seconds(5)  # a sync's burst of writes arrives as a few batches
# Retries are not counted (MaximumRetryAttempts left at -1: until the records expire): the
# consumer retries what is transient and quarantines the rest, so only its age ends a record.
# The stream keeps records 24 h; at 22 h the consumer quarantines what still fails, and at 23 h
# Lambda discards what the consumer could not handle at all (its description to the queue).
MAX_RECORD_AGE = cdk.Duration.hours(23)
QUARANTINE_RETENTION = cdk.Duration.days(28)
QUARANTINE_METRICS_ID = "quarantined"  # S3 request metrics of the prefix (FilterId)
# The stalled-pipeline alarm compares, per hour, the sync's change counts (ASSET_CHANGE_METRICS)
# with the events the consumer published.
STALLED_WINDOW = cdk.Duration.hours(1)
# Keep only what can become an event: the sync's writes (they carry sync_version) and deletes
# (announced as Asset Removed when the item was the sync's). Other services' writes to items the
# sync never wrote are dropped before they cost an invocation.
STREAM_FILTERS: list[dict[str, Any]] = [
    {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": {"sync_version": {"N": [{"exists": True}]}}},
    },
    {"eventName": ["REMOVE"]},
]


def read_stream_statement(stream_arn: str) -> iam.PolicyStatement:
    """What Lambda's poller needs to read this one stream (as in the DynamoDB guide's policy for
    a stream consumer), scoped to the stream of the assets table."""
    return iam.PolicyStatement(
        sid="AssetsTableStream",
        actions=common.dynamodb_actions(
            "DescribeStream", "GetRecords", "GetShardIterator", "ListStreams"
        ),
        resources=[stream_arn],
    )


def stream_mapping(
    scope: Construct, function: lambda_.IFunction, stream_arn: str, failure_queue: sqs.IQueue
) -> lambda_.EventSourceMapping:
    """A stream reader's mapping, the same for both readers: batches of BATCH_SIZE, bisected on
    error, retried until MAX_RECORD_AGE from the reported record, discarded records' metadata to
    `failure_queue`, only the records STREAM_FILTERS keep (the sync's writes and hand edits of
    its items, which carry sync_version, and deletes).

    Lambda.EventSourceMapping rather than DynamoEventSource: the latter grants
    dynamodb:ListStreams on "*"; the reader's role already reads exactly this stream.
    """
    return lambda_.EventSourceMapping(
        scope,
        "StreamMapping",
        target=function,
        event_source_arn=stream_arn,
        starting_position=lambda_.StartingPosition.TRIM_HORIZON,
        batch_size=BATCH_SIZE,
        max_batching_window=BATCHING_WINDOW,
        bisect_batch_on_error=True,
        max_record_age=MAX_RECORD_AGE,
        report_batch_item_failures=True,
        on_failure=common.SendOnlyEventSourceDlq(failure_queue),
        filters=[lambda_.FilterCriteria.filter(pattern) for pattern in STREAM_FILTERS],
    )


def failed_or_quarantined(period: cdk.Duration) -> cloudwatch.MathExpression:
    """Entries left for a retry plus records quarantined, per period."""
    return common.failed_or_quarantined(
        EVENTS_SERVICE, Metric.EVENTS_FAILED, Metric.EVENTS_QUARANTINED, period
    )


def stalled() -> cloudwatch.MathExpression:
    """1 for an hour in which the sync changed assets and no event was published, else 0."""
    changes = {f"c{i}": name for i, name in enumerate(ASSET_CHANGE_METRICS)}
    total = " + ".join(f"FILL({key}, 0)" for key in changes)
    return cloudwatch.MathExpression(
        expression=f"IF(({total}) > 0 AND FILL(published, 0) == 0, 1, 0)",
        using_metrics={
            **{
                key: common.service_metric(SYNC_SERVICE, name, period=STALLED_WINDOW)
                for key, name in changes.items()
            },
            "published": common.service_metric(
                EVENTS_SERVICE, Metric.EVENTS_PUBLISHED, period=STALLED_WINDOW
            ),
        },
        label="hours with sync changes and no published event",
        period=STALLED_WINDOW,
    )


class AssetEvents(StageFunction):
    """Event bus with an archive, and the stream consumer that publishes to it."""

    def build(self, tables: Tables, code: lambda_.Code) -> None:
        """The bus and its archive, the quarantine, the consumer and its stream mapping."""
        settings = self.settings
        # Events are encrypted at rest with a key AWS owns (the EventBridge default), as is the
        # archive: the catalog changes are not secret and need no key of our own. Both outlive
        # the stack and a change of the bus name (the archive's managed rule would keep the bus
        # from being deleted anyway): a year of events is never deleted by a deploy.
        self.bus = events.EventBus(self, "Bus", event_bus_name=settings.bus_name)
        self.bus.apply_removal_policy(common.RETAINED)
        # Pinned to the ids CDK gave them before they were retained, so that a stack deployed
        # before keeps its bus and archive (docs/deploy.md adopts them under these ids).
        common.fixed_logical_id(self.bus, BUS_LOGICAL_ID)
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            archive_name=f"{settings.bus_name}-archive",
            description=f"Every {EVENT_SOURCE} event on {settings.bus_name}, for replay",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=ARCHIVE_RETENTION,
        )
        self.archive.apply_removal_policy(common.RETAINED)
        common.fixed_logical_id(self.archive, ARCHIVE_LOGICAL_ID)
        self.quarantine = self._quarantine()
        self.log_group = common.retained_log_group(self, "Logs", settings.events_function_name)
        self.failure_queue = common.failure_queue(
            self,
            "FailureQueue",
            f"{settings.prefix}-events-failures",
            "stream consumer's on-failure destination (descriptions of discarded batches)",
        )
        stream_arn = tables.assets.table_stream_arn
        assert stream_arn is not None, "the assets table must have its stream"
        self.role = self._role(stream_arn)
        self.function = self._function(code)
        self.mapping = self._mapping(stream_arn)
        for name, value in (
            ("EventsQuarantineBucketName", self.quarantine.bucket_name),
            ("EventArchiveName", self.archive.archive_name),
        ):
            cdk.CfnOutput(self, name, value=value).override_logical_id(name)

    def _quarantine(self) -> s3.Bucket:
        """What the consumer can never publish, kept whole for `asset-sync events replay`."""
        bucket = s3.Bucket(
            self,
            "Quarantine",
            encryption=s3.BucketEncryption.S3_MANAGED,
            enforce_ssl=True,
            block_public_access=s3.BlockPublicAccess.BLOCK_ALL,
            object_ownership=s3.ObjectOwnership.BUCKET_OWNER_ENFORCED,
            lifecycle_rules=[s3.LifecycleRule(id="expire", expiration=QUARANTINE_RETENTION)],
            metrics=[s3.BucketMetrics(id=QUARANTINE_METRICS_ID, prefix=QUARANTINE_PREFIX)],
            removal_policy=common.RETAINED,  # a generated name: a new stack never collides with it
        )
        common.acknowledge(
            bucket,
            "AwsSolutions::AwsSolutions-S1",
            "Only the events consumer writes here and an operator reads; its writes are counted "
            "by the bucket's request metrics (the quarantine alarm) and logged by the consumer.",
        )
        return bucket

    def quarantine_puts(self, period: cdk.Duration) -> cloudwatch.Metric:
        """Objects written under the quarantine's prefix (S3 request metrics), summed."""
        return cloudwatch.Metric(
            namespace="AWS/S3",
            metric_name="PutRequests",
            dimensions_map={
                "BucketName": self.quarantine.bucket_name,
                "FilterId": QUARANTINE_METRICS_ID,
            },
            statistic="Sum",
            period=period,
        )

    def _role(self, stream_arn: str) -> iam.Role:
        statements = [
            read_stream_statement(stream_arn),
            iam.PolicyStatement(
                sid="PublishToTheBus",
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
            ),
            iam.PolicyStatement(
                sid="WriteTheQuarantine",
                actions=["s3:PutObject"],
                resources=[self.quarantine.arn_for_objects(f"{QUARANTINE_PREFIX}*")],
            ),
        ]
        role = common.function_role(
            self,
            "signal9-asset-events Lambda: least privilege, no managed policies",
            self.log_group,
            statements,
        )
        bucket = self.quarantine.node.default_child
        policy = role.node.find_child("DefaultPolicy")
        assert isinstance(bucket, s3.CfnBucket) and isinstance(policy, iam.Policy)
        logical_id = cdk.Stack.of(self).resolve(bucket.logical_id)
        common.acknowledge(
            policy,
            f"AwsSolutions::AwsSolutions-IAM5[Resource::<{logical_id}.Arn>/{QUARANTINE_PREFIX}*]",
            "PutObject under the quarantine's prefix only: one object per stream record, named "
            "after its eventID, so the keys cannot be listed in advance.",
        )
        return role

    def _function(self, code: lambda_.Code) -> lambda_.Function:
        settings = self.settings
        return common.python_function(
            self,
            "Function",
            service=EVENTS_SERVICE,
            environment={
                Env.EVENT_BUS_NAME: self.bus.event_bus_name,
                Env.EVENTS_QUARANTINE_BUCKET: self.quarantine.bucket_name,
            },
            function_name=settings.events_function_name,
            description=f"Publishes {settings.assets_table_name} changes to {settings.bus_name}",
            handler=EVENTS_HANDLER,
            code=code,
            memory_size=CONSUMER_MEMORY_MB,
            timeout=CONSUMER_TIMEOUT,
            role=self.role,
            log_group=self.log_group,
        )

    def _mapping(self, stream_arn: str) -> lambda_.EventSourceMapping:
        return stream_mapping(self, self.function, stream_arn, self.failure_queue)
