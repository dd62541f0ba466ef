"""The DynamoDB tables: the assets table (read by other services), the run-state table and the
history table (versions of every asset, docs/history.md)."""

from __future__ import annotations

from aws_cdk import aws_dynamodb as dynamodb
from constructs import Construct

from asset_sync.contract import (
    ASSET_ID_INDEX,
    ASSET_ID_INDEX_KEY,
    ASSETS_TABLE_KEY,
    HISTORY_PARTITION_KEY,
    HISTORY_SORT_KEY,
    HISTORY_SYMBOL_INDEX,
    STATE_TABLE_KEY,
    STATE_TTL_ATTRIBUTE,
    STATUS_INDEX,
    STATUS_INDEX_KEY,
)
from infra.components.common import RETAINED
from infra.settings import StageSettings

# Fixed logical ids: docs/deploy.md imports an existing table under this id (`cdk import`), and
# a refactor of the construct tree must never turn into "create a second table of that name".
ASSETS_TABLE_LOGICAL_ID = "AssetsTable"
SYNC_STATE_TABLE_LOGICAL_ID = "SyncStateTable"
HISTORY_TABLE_LOGICAL_ID = "HistoryTable"


class Tables(Construct):
    """Assets table (key ``symbol``, GSI ``status-index``, stream), the run-state table and the
    history table (keys ``shard`` and ``key``, GSI ``symbol-index``)."""

    def __init__(self, scope: Construct, construct_id: str, *, settings: StageSettings) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.assets = self._assets_table()
        self.sync_state = self._sync_state_table()
        self.history = self._history_table()

    def _table(
        self,
        construct_id: str,
        logical_id: str,
        *,
        table_name: str,
        partition_key: str,
        sort_key: str | None = None,
        stream: dynamodb.StreamViewType | None = None,
        time_to_live_attribute: str | None = None,
    ) -> dynamodb.Table:
        table = dynamodb.Table(
            self,
            construct_id,
            table_name=table_name,
            partition_key=dynamodb.Attribute(
                name=partition_key, type=dynamodb.AttributeType.STRING
            ),
            sort_key=(
                dynamodb.Attribute(name=sort_key, type=dynamodb.AttributeType.STRING)
                if sort_key
                else None
            ),
            stream=stream,
            time_to_live_attribute=time_to_live_attribute,
            billing_mode=dynamodb.BillingMode.PAY_PER_REQUEST,
            point_in_time_recovery_specification=dynamodb.PointInTimeRecoverySpecification(
                point_in_time_recovery_enabled=True
            ),
            # The AWS managed KMS key of this account (alias aws/dynamodb): encrypted at rest, key
            # use visible in CloudTrail, and readers need no key policy or kms:Decrypt grant. A
            # customer managed key would add cost and key-policy upkeep for nothing needed here
            # (no cross-account readers, no key-level revocation requirement).
            encryption=dynamodb.TableEncryption.AWS_MANAGED,
            # On for production stages: no stack operation or person deletes a table by
            # mistake. A failed first deploy then cannot roll the new tables back: they stay, and
            # the next deploy adopts them (docs/deploy.md, "Tables, secret or log groups that
            # already exist").
            deletion_protection=self.settings.deletion_protection,
            removal_policy=RETAINED,
        )
        resource = table.node.default_child
        assert isinstance(resource, dynamodb.CfnTable)
        resource.override_logical_id(logical_id)
        return table

    def _assets_table(self) -> dynamodb.Table:
        table = self._table(
            "Assets",
            ASSETS_TABLE_LOGICAL_ID,
            table_name=self.settings.assets_table_name,
            partition_key=ASSETS_TABLE_KEY,
            # Downstream services and the events consumer read the changes from the stream.
            stream=dynamodb.StreamViewType.NEW_AND_OLD_IMAGES,
        )
        table.add_global_secondary_index(
            index_name=STATUS_INDEX,
            partition_key=dynamodb.Attribute(
                name=STATUS_INDEX_KEY, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.ALL,
        )
        table.add_global_secondary_index(  # CloudFormation adds one GSI per stack update
            index_name=ASSET_ID_INDEX,  # the identity rule's lookups (docs/identity.md)
            partition_key=dynamodb.Attribute(
                name=ASSET_ID_INDEX_KEY, type=dynamodb.AttributeType.STRING
            ),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        return table

    def _sync_state_table(self) -> dynamodb.Table:
        return self._table(
            "SyncState",
            SYNC_STATE_TABLE_LOGICAL_ID,
            table_name=self.settings.sync_state_table_name,
            partition_key=STATE_TABLE_KEY,
            # Run-history items carry an expiry; TTL removes any the sync's own trimming missed.
            time_to_live_attribute=STATE_TTL_ATTRIBUTE,
        )

    def _history_table(self) -> dynamodb.Table:
        table = self._table(
            "History",
            HISTORY_TABLE_LOGICAL_ID,
            table_name=self.settings.history_table_name,
            partition_key=HISTORY_PARTITION_KEY,  # a fixed hash of the asset id (32 shards)
            sort_key=HISTORY_SORT_KEY,  # <asset_id>#<version>
        )
        table.add_global_secondary_index(  # the assets that held a ticker (`show --history`)
            index_name=HISTORY_SYMBOL_INDEX,
            partition_key=dynamodb.Attribute(name="symbol", type=dynamodb.AttributeType.STRING),
            sort_key=dynamodb.Attribute(name=HISTORY_SORT_KEY, type=dynamodb.AttributeType.STRING),
            projection_type=dynamodb.ProjectionType.KEYS_ONLY,
        )
        return table
