"""AssetSyncStack: tables, the scheduled sync Lambda, its secret, queues, alarms and topic."""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_cloudwatch_actions as cw_actions
from aws_cdk import aws_dynamodb as dynamodb
from aws_cdk import aws_events as events
from aws_cdk import aws_events_targets as targets
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_lambda_destinations as destinations
from aws_cdk import aws_logs as logs
from aws_cdk import aws_secretsmanager as secretsmanager
from aws_cdk import aws_sns as sns
from aws_cdk import aws_sns_subscriptions as subscriptions
from aws_cdk import aws_sqs as sqs
from constructs import Construct

ASSETS_TABLE_NAME = "signal9_assets"
SYNC_STATE_TABLE_NAME = "signal9_assets_sync_state"
STATUS_INDEX_NAME = "status-index"
HANDLER = "asset_sync.handler.lambda_handler"
SERVICE_NAME = "asset-sync"
METRICS_NAMESPACE = "Signal9/AssetSync"
SYNC_SUCCEEDED_METRIC = "SyncSucceeded"
# "No successful sync in 26 hours": 26 one-hour periods, all breaching. One-hour periods allow
# up to 7 days of evaluation range (periods under an hour are limited to one day).
NO_SUCCESS_WINDOW_HOURS = 26
DURATION_ALARM_FRACTION = 0.8
DLQ_RETENTION = cdk.Duration.days(14)  # the SQS maximum
ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = cdk.Duration.hours(6)  # the Lambda maximum: a late daily sync still helps
RULE_RETRY_ATTEMPTS = 2
RULE_MAX_EVENT_AGE = cdk.Duration.hours(2)
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
LEASE_MARGIN_SECONDS = 30


def acknowledge(construct: Construct, rule_id: str, reason: str) -> None:
    """Acknowledge (suppress) one cdk-nag finding on a construct, with the reason recorded."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


@dataclass(frozen=True)
class StackSettings:
    """Deployment knobs, read from CDK context (``-c key=value`` or ``cdk.json``)."""

    stage: str = "dev"
    schedule: str = "cron(0 4 * * ? *)"
    alarm_email: str | None = None
    alpaca_base_url: str = "https://paper-api.alpaca.markets"
    lambda_asset: str = "dist/lambda"
    memory_mb: int = 1024
    timeout_seconds: int = 600
    max_delist_fraction: str = "0.10"

    @classmethod
    def from_context(cls, node: Any) -> StackSettings:
        """Read every field from ``node.try_get_context``; absent or empty keeps the default."""
        values: dict[str, Any] = {}
        for field in fields(cls):
            raw = node.try_get_context(field.name)
            if raw is None or raw == "":
                continue
            values[field.name] = int(raw) if field.type == "int" else str(raw)
        return cls(**values)

    def __post_init__(self) -> None:
        if not 128 <= self.memory_mb <= 10240:
            raise ValueError(f"memory_mb must be within 128..10240, got {self.memory_mb}")
        if not 1 <= self.timeout_seconds <= 900:
            raise ValueError(f"timeout_seconds must be within 1..900, got {self.timeout_seconds}")
        if not 0.0 <= float(self.max_delist_fraction) <= 1.0:
            raise ValueError(f"max_delist_fraction must be within 0..1: {self.max_delist_fraction}")
        if not self.schedule.startswith(("cron(", "rate(")):
            raise ValueError(
                f"schedule must be a cron(...) or rate(...) expression: {self.schedule}"
            )


class AssetSyncStack(cdk.Stack):
    """Everything the Alpaca -> signal9_assets sync needs in one account and region."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StackSettings,
        asset_root: Path | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the stack; a relative ``settings.lambda_asset`` is resolved under asset_root."""
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        cdk.Tags.of(self).add("project", "signal9-asset-sync")
        cdk.Tags.of(self).add("stage", settings.stage)

        asset_dir = Path(settings.lambda_asset)
        if not asset_dir.is_absolute():
            asset_dir = (asset_root or Path.cwd()) / asset_dir
        if not asset_dir.is_dir():
            raise FileNotFoundError(
                f"Lambda asset directory {asset_dir} does not exist: "
                "run `python scripts/package_lambda.py` first (or pass -c lambda_asset=DIR)"
            )

        self.assets_table = self._assets_table()
        self.sync_state_table = self._sync_state_table()
        self.alpaca_secret = self._alpaca_secret()
        self.alarm_topic = self._alarm_topic()
        self.rule_dlq = self._dead_letter_queue("ScheduleDlq")
        self.invoke_failure_queue = self._dead_letter_queue("InvokeFailureQueue")
        self.log_group = logs.LogGroup(
            self,
            "FunctionLogs",
            log_group_name=f"/aws/lambda/signal9-asset-sync-{settings.stage}",
            retention=LOG_RETENTION,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        self.role = self._function_role()
        self.function = self._function(asset_dir)
        self.rule = self._schedule()
        self._alarms()
        self._outputs()

    # --- data -----------------------------------------------------------------------------

    def _assets_table(self) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            "AssetsTable",
            table_name=ASSETS_TABLE_NAME,
            partition_key=dynamodb.Attribute(name="symbol", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # AWS-owned KMS key in the account (aws/dynamodb): encrypted at rest and auditable in
            # CloudTrail, without the cost and key-policy upkeep of a customer-managed key that
            # nothing here needs (no cross-account readers, no key-level revocation requirement).
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        table.add_global_secondary_index(
            index_name=STATUS_INDEX_NAME,
            partition_key=dynamodb.Attribute(name="status", type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        return table

    def _sync_state_table(self) -> dynamodb.Table:
        return dynamodb.Table(
            self,
            "SyncStateTable",
            table_name=SYNC_STATE_TABLE_NAME,
            partition_key=dynamodb.Attribute(name="pk", type=dynamodb.AttributeType.STRING),
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            deletion_protection=True,
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )

    def _alpaca_secret(self) -> secretsmanager.Secret:
        # External API keys cannot be generated; the secret is created with a placeholder of
        # empty strings and an operator sets the real keys once after the first deploy:
        #   aws secretsmanager put-secret-value --secret-id <AlpacaSecretArn> \
        #     --secret-string '{"APCA_API_KEY_ID":"...","APCA_API_SECRET_KEY":"..."}'
        # CloudFormation writes SecretString only when this template value changes, so later
        # deploys keep the real keys as long as this placeholder is left exactly as it is.
        placeholder = cdk.SecretValue.unsafe_plain_text("")
        secret = secretsmanager.Secret(
            self,
            "AlpacaSecret",
            secret_name=f"signal9/asset-sync/{self.settings.stage}/alpaca",
            description="Alpaca API keys for signal9-asset-sync (set by an operator)",
            secret_object_value={
                "APCA_API_KEY_ID": placeholder,
                "APCA_API_SECRET_KEY": placeholder,
            },
            removal_policy=cdk.RemovalPolicy.RETAIN,
        )
        acknowledge(
            secret,
            "AwsSolutions::AwsSolutions-SMG4",
            (
                "Alpaca API keys are issued by Alpaca, not by AWS: there is no rotation "
                "function that could create new keys. They are rotated by hand in the Alpaca "
                "dashboard and put-secret-value."
            ),
        )
        return secret

    # --- notifications and queues ---------------------------------------------------------

    def _alarm_topic(self) -> sns.Topic:
        # Not KMS-encrypted: it carries only alarm notifications (alarm name, state, metric), and
        # CloudWatch cannot publish to a topic under the AWS-managed aws/sns key; a customer-
        # managed key would add cost and a key policy for no confidentiality gain. TLS is enforced.
        topic = sns.Topic(
            self,
            "AlarmTopic",
            display_name=f"signal9-asset-sync {self.settings.stage} critical alarms",
            enforce_ssl=True,
        )
        # CloudWatch alarms of this account may publish (the enforce_ssl topic policy replaces
        # SNS's default policy, so the service principal is allowed explicitly).
        topic.add_to_resource_policy(
            iam.PolicyStatement(
                sid="AllowCloudWatchAlarmsOfThisAccount",
                principals=[iam.ServicePrincipal("cloudwatch.amazonaws.com")],
                actions=["sns:Publish"],
                resources=[topic.topic_arn],
                conditions={
                    "StringEquals": {"aws:SourceAccount": self.account},
                    "ArnLike": {
                        "aws:SourceArn": f"arn:{self.partition}:cloudwatch:{self.region}:"
                        f"{self.account}:alarm:*"
                    },
                },
            )
        )
        if self.settings.alarm_email:
            topic.add_subscription(subscriptions.EmailSubscription(self.settings.alarm_email))
        return topic

    def _dead_letter_queue(self, construct_id: str) -> sqs.Queue:
        queue = sqs.Queue(
            self,
            construct_id,
            encryption=sqs.QueueEncryption.SQS_MANAGED,
            enforce_ssl=True,
            retention_period=DLQ_RETENTION,
        )
        acknowledge(
            queue,
            "AwsSolutions::AwsSolutions-SQS3",
            (
                "This queue is itself a dead-letter queue (EventBridge target DLQ or the "
                "function's asynchronous on-failure destination); its messages are inspected "
                "by hand after the DLQ alarm fires, nothing consumes it."
            ),
        )
        return queue

    # --- compute --------------------------------------------------------------------------

    def _function_role(self) -> iam.Role:
        role = iam.Role(
            self,
            "FunctionRole",
            assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
            description="signal9-asset-sync Lambda: least privilege, no managed policies",
        )
        statements = [
            iam.PolicyStatement(
                sid="AssetsTableItems",
                actions=[
                    "dynamodb:GetItem",
                    "dynamodb:BatchGetItem",
                    "dynamodb:PutItem",
                    "dynamodb:UpdateItem",
                ],
                resources=[self.assets_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="AssetsTableStatusIndex",
                actions=["dynamodb:Query"],
                resources=[f"{self.assets_table.table_arn}/index/{STATUS_INDEX_NAME}"],
            ),
            iam.PolicyStatement(
                sid="SyncStateTableItems",
                actions=["dynamodb:GetItem", "dynamodb:PutItem", "dynamodb:UpdateItem"],
                resources=[self.sync_state_table.table_arn],
            ),
            iam.PolicyStatement(
                sid="AlpacaSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.alpaca_secret.secret_arn],
            ),
            # Logs (and the EMF metrics in them) go only to the function's own log group. Its
            # Arn attribute is "arn:...:log-group:NAME:*", which covers the group's streams.
            iam.PolicyStatement(
                sid="FunctionLogGroup",
                actions=["logs:CreateLogStream", "logs:PutLogEvents"],
                resources=[self.log_group.log_group_arn],
            ),
        ]
        for statement in statements:
            role.add_to_principal_policy(statement)
        return role

    def _function(self, asset_dir: Path) -> lambda_.Function:
        settings = self.settings
        environment: Mapping[str, str] = {
            "ASSETS_TABLE": self.assets_table.table_name,
            "SYNC_STATE_TABLE": self.sync_state_table.table_name,
            "ALPACA_SECRET_ID": self.alpaca_secret.secret_arn,
            "APCA_API_BASE_URL": settings.alpaca_base_url,
            "MAX_DELIST_FRACTION": settings.max_delist_fraction,
            # The run lease outlives the longest possible run by a little, so a live run never
            # loses it, and a run killed at the timeout frees it before Lambda's first async
            # retry (about a minute later) arrives.
            "SYNC_LOCK_LEASE_SECONDS": str(settings.timeout_seconds + LEASE_MARGIN_SECONDS),
            "POWERTOOLS_SERVICE_NAME": SERVICE_NAME,
            "POWERTOOLS_METRICS_NAMESPACE": METRICS_NAMESPACE,
            "POWERTOOLS_LOG_LEVEL": "INFO",
        }
        function = lambda_.Function(
            self,
            "SyncFunction",
            function_name=f"signal9-asset-sync-{settings.stage}",
            description="Syncs Alpaca's asset catalog into signal9_assets",
            runtime=lambda_.Runtime.PYTHON_3_12,
            architecture=lambda_.Architecture.ARM_64,
            handler=HANDLER,
            code=lambda_.Code.from_asset(str(asset_dir)),
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            reserved_concurrent_executions=1,  # one sync at a time (the run lease is the backstop)
            role=self.role,
            logging_format=lambda_.LoggingFormat.JSON,
            log_group=self.log_group,
            environment=dict(environment),
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
            on_failure=destinations.SqsDestination(self.invoke_failure_queue),
        )
        acknowledge(
            function,
            "AwsSolutions::AwsSolutions-L1",
            (
                "python3.12 is pinned on purpose: scripts/package_lambda.py builds the artifact "
                "with CPython 3.12 wheels (msgspec is a compiled extension). Move both together."
            ),
        )
        return function

    def _schedule(self) -> events.Rule:
        rule = events.Rule(
            self,
            "ScheduleRule",
            description="Daily Alpaca asset catalog sync",
            schedule=events.Schedule.expression(self.settings.schedule),
        )
        rule.add_target(
            targets.LambdaFunction(
                self.function,
                retry_attempts=RULE_RETRY_ATTEMPTS,
                max_event_age=RULE_MAX_EVENT_AGE,
                dead_letter_queue=self.rule_dlq,
            )
        )
        return rule

    # --- alarms ---------------------------------------------------------------------------

    def _alarm(self, construct_id: str, name: str, **kwargs: Any) -> cloudwatch.Alarm:
        alarm = cloudwatch.Alarm(
            self,
            construct_id,
            alarm_name=f"signal9-asset-sync-{self.settings.stage}-{name}",
            **kwargs,
        )
        alarm.add_alarm_action(cw_actions.SnsAction(self.alarm_topic))
        return alarm

    def _alarms(self) -> None:
        five_minutes = cdk.Duration.minutes(5)
        self.errors_alarm = self._alarm(
            "ErrorsAlarm",
            "errors",
            alarm_description="The sync function raised (Errors >= 1 in 5 minutes).",
            metric=self.function.metric_errors(period=five_minutes, statistic="Sum"),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        timeout_ms = self.settings.timeout_seconds * 1000
        self.duration_alarm = self._alarm(
            "DurationAlarm",
            "duration",
            alarm_description=(
                f"A sync ran for >= {DURATION_ALARM_FRACTION:.0%} of the function timeout."
            ),
            metric=self.function.metric_duration(period=five_minutes, statistic="Maximum"),
            threshold=math.floor(timeout_ms * DURATION_ALARM_FRACTION),
            comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_OR_EQUAL_TO_THRESHOLD,
            evaluation_periods=1,
            treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
        )
        self.dlq_alarms = [
            self._alarm(
                f"{queue.node.id}Alarm",
                f"{name}-messages",
                alarm_description=f"Messages are waiting in the {name} dead-letter queue.",
                metric=queue.metric_approximate_number_of_messages_visible(
                    period=five_minutes, statistic="Maximum"
                ),
                threshold=0,
                comparison_operator=cloudwatch.ComparisonOperator.GREATER_THAN_THRESHOLD,
                evaluation_periods=1,
                treat_missing_data=cloudwatch.TreatMissingData.NOT_BREACHING,
            )
            for queue, name in (
                (self.rule_dlq, "schedule-dlq"),
                (self.invoke_failure_queue, "invoke-failure"),
            )
        ]
        self.no_success_alarm = self._alarm(
            "NoSuccessfulSyncAlarm",
            "no-successful-sync",
            alarm_description=(
                f"No successful sync (metric {SYNC_SUCCEEDED_METRIC}) in the last "
                f"{NO_SUCCESS_WINDOW_HOURS} hours; missing data counts as failure."
            ),
            metric=cloudwatch.Metric(
                namespace=METRICS_NAMESPACE,
                metric_name=SYNC_SUCCEEDED_METRIC,
                dimensions_map={"service": SERVICE_NAME},
                statistic="Sum",
                period=cdk.Duration.hours(1),
            ),
            threshold=1,
            comparison_operator=cloudwatch.ComparisonOperator.LESS_THAN_THRESHOLD,
            evaluation_periods=NO_SUCCESS_WINDOW_HOURS,
            datapoints_to_alarm=NO_SUCCESS_WINDOW_HOURS,
            treat_missing_data=cloudwatch.TreatMissingData.BREACHING,
        )

    def _outputs(self) -> None:
        outputs = {
            "AssetsTableName": self.assets_table.table_name,
            "SyncStateTableName": self.sync_state_table.table_name,
            "FunctionName": self.function.function_name,
            "AlpacaSecretArn": self.alpaca_secret.secret_arn,
            "AlarmTopicArn": self.alarm_topic.topic_arn,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
