"""The sync Lambda with its role, Alpaca secret, log group and asynchronous failure queue."""

from __future__ import annotations

import aws_cdk as cdk
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_secretsmanager as secretsmanager

from asset_sync.contract import (
    ASSET_ID_INDEX,
    STATUS_INDEX,
    SYNC_HANDLER,
    SYNC_SERVICE,
    Env,
)
from infra.components.common import (
    RETAINED,
    SendOnlyQueueDestination,
    acknowledge,
    dynamodb_actions,
    failure_queue,
    fixed_logical_id,
    function_role,
    python_function,
    retained_log_group,
)
from infra.components.stage_function import StageFunction
from infra.components.tables import Tables

ASYNC_RETRY_ATTEMPTS = 2
ASYNC_MAX_EVENT_AGE = cdk.Duration.hours(6)  # the Lambda maximum: a late daily sync still helps
# Fixed, like the tables' (docs/deploy.md imports it): a logical id, no secret value.
ALPACA_SECRET_LOGICAL_ID = "AlpacaSecret"  # noqa: S105


class SyncFunction(StageFunction):
    """The scheduled sync: function, least-privilege role, secret, log group, failure queue."""

    def build(self, tables: Tables, code: lambda_.Code) -> None:
        """The secret, log group, failure queue, role and function."""
        settings = self.settings
        self.secret = self._alpaca_secret()
        self.log_group = retained_log_group(self, "Logs", settings.function_name)
        self.failure_queue = failure_queue(
            self,
            "InvokeFailureQueue",
            f"{settings.prefix}-invoke-failures",
            "sync function's asynchronous on-failure destination",
        )
        self.role = self._role(tables)
        self.function = self._function(tables, code)

    def _alpaca_secret(self) -> secretsmanager.Secret:
        # External API keys cannot be generated, so the secret is created without a value (no
        # SecretString, no GenerateSecretString: CloudFormation creates an empty secret) and an
        # operator puts the keys once after the first deploy (docs/deploy.md). No template value
        # exists that a later deploy or a replacement could write over the keys. Encrypted with
        # the account's AWS managed key for Secrets Manager (aws/secretsmanager), which needs no
        # key policy for the function's role to decrypt.
        secret = secretsmanager.Secret(
            self,
            "AlpacaSecret",
            secret_name=self.settings.secret_name,
            description="Alpaca API keys for signal9-asset-sync (put by an operator)",
            removal_policy=RETAINED,
        )
        resource = secret.node.default_child
        assert isinstance(resource, secretsmanager.CfnSecret)
        resource.add_property_deletion_override("GenerateSecretString")  # the L2's default
        fixed_logical_id(secret, ALPACA_SECRET_LOGICAL_ID)
        acknowledge(
            secret,
            "AwsSolutions::AwsSolutions-SMG4",
            "Alpaca API keys are issued by Alpaca, not by AWS: there is no rotation function "
            "that could create new keys. They are rotated by hand in the Alpaca dashboard and "
            "put-secret-value.",
        )
        return secret

    def _role(self, tables: Tables) -> iam.Role:
        statements = [
            iam.PolicyStatement(
                sid="AssetsTableItems",
                # Key reads, create-only puts (attribute_not_exists) and conditional updates.
                # Never Scan, never DeleteItem: the sync marks assets inactive, it never deletes.
                actions=dynamodb_actions("GetItem", "BatchGetItem", "PutItem", "UpdateItem"),
                resources=[tables.assets.table_arn],
            ),
            iam.PolicyStatement(
                sid="AssetsTableStatusIndex",
                actions=dynamodb_actions("Query"),
                resources=[f"{tables.assets.table_arn}/index/{STATUS_INDEX}"],
            ),
            iam.PolicyStatement(  # a Query per asset id, or one Scan of it on a first load
                sid="AssetsTableAssetIdIndex",
                actions=dynamodb_actions("Query", "Scan"),
                resources=[f"{tables.assets.table_arn}/index/{ASSET_ID_INDEX}"],
            ),
            iam.PolicyStatement(
                sid="SyncStateTableItems",
                # GetItem/UpdateItem: the lease on the state item (acquire, renew, read). The run
                # ends with one TransactWriteItems that updates the state item (gives the lease
                # back, stores the run record), Puts the run-history item and Deletes the history
                # item 400 runs older. DynamoDB authorises each part of a transaction by its own
                # item action, so PutItem and DeleteItem are needed for the history, and there is
                # no separate TransactWriteItems permission.
                actions=dynamodb_actions("GetItem", "UpdateItem", "PutItem", "DeleteItem"),
                resources=[tables.sync_state.table_arn],
            ),
            iam.PolicyStatement(
                sid="AlpacaSecret",
                actions=["secretsmanager:GetSecretValue"],
                resources=[self.secret.secret_arn],
            ),
        ]
        return function_role(
            self,
            "signal9-asset-sync Lambda: least privilege, no managed policies",
            self.log_group,
            statements,
        )

    def _function(self, tables: Tables, code: lambda_.Code) -> lambda_.Function:
        settings = self.settings
        environment = {
            Env.ASSETS_TABLE: tables.assets.table_name,
            Env.SYNC_STATE_TABLE: tables.sync_state.table_name,
            Env.ALPACA_SECRET_ID: self.secret.secret_arn,
            Env.APCA_API_BASE_URL: settings.alpaca_base_url,
            Env.MAX_DELIST_FRACTION: settings.max_delist_fraction,
            Env.FULL_RECONCILE_DAYS: str(settings.full_reconcile_days),
            # The run lease outlives the longest possible run by a little, so a live run never
            # loses it, and a run killed at the timeout frees it before Lambda's first async
            # retry (about a minute later) arrives.
            Env.SYNC_LOCK_LEASE_SECONDS: str(settings.lease_seconds),
        }
        return python_function(
            self,
            "Function",
            service=SYNC_SERVICE,
            environment=environment,
            function_name=settings.function_name,
            description=f"Syncs Alpaca's asset catalog into {settings.assets_table_name}",
            handler=SYNC_HANDLER,
            code=code,
            memory_size=settings.memory_mb,
            timeout=cdk.Duration.seconds(settings.timeout_seconds),
            # None (the default) reserves nothing: the run lease already keeps runs from
            # overlapping, and a reservation fails on accounts whose concurrency quota is 10.
            reserved_concurrent_executions=settings.reserved_concurrency,
            role=self.role,
            log_group=self.log_group,
            retry_attempts=ASYNC_RETRY_ATTEMPTS,
            max_event_age=ASYNC_MAX_EVENT_AGE,
            on_failure=SendOnlyQueueDestination(self.failure_queue),
        )
