"""The history of versions: the assets table's stream -> the history writer Lambda -> the
history table (docs/history.md).

The table's second stream reader, beside the change events' consumer, with its own event source
mapping, failure queue and alarms: an EventBridge outage leaves no gap in history. A DynamoDB
stream serves at most two readers per shard without throttling, so there is no room for a
third. The writer retries what is transient until its deadline, quarantines in the history
table what can never be written, and reports where Lambda must retry; the mapping retries for as
long as the stream keeps records, less an hour.
"""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_

from asset_sync.contract import HISTORY_HANDLER, HISTORY_SERVICE, Env, Metric
from infra.components.common import failed_or_quarantined as common_failed_or_quarantined
from infra.components.common import (
    failure_queue,
    function_role,
    python_function,
    retained_log_group,
)
from infra.components.events import read_stream_statement, stream_mapping
from infra.components.stage_function import StageFunction
from infra.components.tables import Tables

WRITER_MEMORY_MB = 256
# 100 records -> at most 4 BatchWriteItem requests; the writer stops 2 s before the end.
WRITER_TIMEOUT = cdk.Duration.seconds(60)


def failed_or_quarantined(period: cdk.Duration) -> cloudwatch.MathExpression:
    """Records left for a retry plus records quarantined, per period."""
    return common_failed_or_quarantined(
        HISTORY_SERVICE, Metric.HISTORY_RECORDS_FAILED, Metric.HISTORY_RECORDS_QUARANTINED, period
    )


class AssetHistory(StageFunction):
    """The history writer: its function, role, log group, stream mapping and failure queue."""

    def build(self, tables: Tables, code: lambda_.Code) -> None:
        """The writer, its failure queue and its mapping on the assets table's stream."""
        settings = self.settings
        self.table = tables.history
        self.log_group = retained_log_group(self, "Logs", settings.history_function_name)
        self.failure_queue = failure_queue(
            self,
            "FailureQueue",
            f"{settings.prefix}-history-failures",
            "history writer's on-failure destination (descriptions of discarded batches)",
        )
        stream_arn = tables.assets.table_stream_arn
        assert stream_arn is not None, "the assets table must have its stream"
        self.role = self._role(stream_arn)
        self.function = python_function(
            self,
            "Function",
            service=HISTORY_SERVICE,
            environment={Env.HISTORY_TABLE: self.table.table_name},
            function_name=settings.history_function_name,
            description=(
                f"Writes the versions of {settings.assets_table_name}'s changes to "
                f"{settings.history_table_name}"
            ),
            handler=HISTORY_HANDLER,
            code=code,
            memory_size=WRITER_MEMORY_MB,
            timeout=WRITER_TIMEOUT,
            role=self.role,
            log_group=self.log_group,
        )
        # The events consumer's mapping, on the same records (docs/history.md, Operations).
        self.mapping = stream_mapping(self, self.function, stream_arn, self.failure_queue)

    def _role(self, stream_arn: str) -> iam.Role:
        statements = [
            read_stream_statement(stream_arn),
            # Versions (BatchWriteItem) and quarantined records (PutItem); nothing is read.
            iam.PolicyStatement(
                sid="WriteTheHistory",
                actions=["dynamodb:BatchWriteItem", "dynamodb:PutItem"],
                resources=[self.table.table_arn],
            ),
        ]
        return function_role(
            self,
            "signal9-asset-history Lambda: least privilege, no managed policies",
            self.log_group,
            statements,
        )
