"""Change events: the assets table's stream -> a consumer Lambda -> an archived event bus."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_events as events
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.common import (
    SendOnlyEventSourceDlq,
    failure_queue,
    function_role,
    python_function,
    retained_log_group,
)
from infra.components.tables import Tables
from infra.settings import StageSettings

EVENTS_HANDLER = "asset_sync.events.handler.lambda_handler"
EVENTS_SERVICE_NAME = "asset-events"
EVENT_SOURCE = "signal9.asset-sync"
# A year of change events can be replayed: as long as the run history the state table keeps
# (365 runs), at a few cents (a first load of 35,000 events is some 50 MB).
ARCHIVE_RETENTION = cdk.Duration.days(365)
CONSUMER_MEMORY_MB = 256
CONSUMER_TIMEOUT = cdk.Duration.seconds(60)  # 100 records -> 10 PutEvents calls, with retries
BATCH_SIZE = 100
BATCHING_WINDOW = cdk.Duration.seconds(5)  # a sync's burst of writes arrives as a few batches
RETRY_ATTEMPTS = 5  # after bisecting, a poison record is retried alone, then sent to the queue
# Records older than this go to the failure queue; the stream keeps records 24 h, which leaves
# 18 h to re-read the range the failure message names.
MAX_RECORD_AGE = cdk.Duration.hours(6)
# Keep only what can become an event: the sync's writes (they carry sync_version) and deletes
# (made by hand, which the consumer logs as a warning). Other services' writes to items the sync
# never wrote are dropped before they cost an invocation.
STREAM_FILTERS: list[dict[str, Any]] = [
    {
        "eventName": ["INSERT", "MODIFY"],
        "dynamodb": {"NewImage": {"sync_version": {"N": [{"exists": True}]}}},
    },
    {"eventName": ["REMOVE"]},
]


class AssetEvents(Construct):
    """Event bus with an archive, and the stream consumer that publishes to it."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        tables: Tables,
        code: lambda_.Code,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        # Events are encrypted at rest with a key AWS owns (the EventBridge default), as is the
        # archive: the catalog changes are not secret and need no key of our own.
        self.bus = events.EventBus(self, "Bus", event_bus_name=settings.bus_name)
        self.archive = events.Archive(
            self,
            "Archive",
            source_event_bus=self.bus,
            archive_name=f"{settings.bus_name}-archive",
            description=f"Every {EVENT_SOURCE} event on {settings.bus_name}, for replay",
            event_pattern=events.EventPattern(source=[EVENT_SOURCE]),
            retention=ARCHIVE_RETENTION,
        )
        self.log_group = retained_log_group(self, "Logs", settings.events_function_name)
        self.failure_queue = failure_queue(
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

    def _role(self, stream_arn: str) -> iam.Role:
        statements = [
            # What Lambda's poller needs to read this one stream (as in the DynamoDB guide's
            # policy for a stream consumer), scoped to the stream of the assets table.
            iam.PolicyStatement(
                sid="AssetsTableStream",
                actions=[
                    "dynamodb:DescribeStream",
                    "dynamodb:GetRecords",
                    "dynamodb:GetShardIterator",
                    "dynamodb:ListStreams",
                ],
                resources=[stream_arn],
            ),
            iam.PolicyStatement(
                sid="PublishToTheBus",
                actions=["events:PutEvents"],
                resources=[self.bus.event_bus_arn],
            ),
        ]
        return function_role(
            self,
            "signal9-asset-events Lambda: least privilege, no managed policies",
            self.log_group,
            statements,
        )

    def _function(self, code: lambda_.Code) -> lambda_.Function:
        settings = self.settings
        return python_function(
            self,
            "Function",
            service=EVENTS_SERVICE_NAME,
            environment={"EVENT_BUS_NAME": self.bus.event_bus_name},
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
        # Lambda.EventSourceMapping rather than DynamoEventSource: the latter grants
        # dynamodb:ListStreams on "*"; the role above already reads exactly this stream.
        return lambda_.EventSourceMapping(
            self,
            "StreamMapping",
            target=self.function,
            event_source_arn=stream_arn,
            starting_position=lambda_.StartingPosition.TRIM_HORIZON,
            batch_size=BATCH_SIZE,
            max_batching_window=BATCHING_WINDOW,
            bisect_batch_on_error=True,
            retry_attempts=RETRY_ATTEMPTS,
            max_record_age=MAX_RECORD_AGE,
            report_batch_item_failures=True,
            on_failure=SendOnlyEventSourceDlq(self.failure_queue),
            filters=[lambda_.FilterCriteria.filter(pattern) for pattern in STREAM_FILTERS],
        )
