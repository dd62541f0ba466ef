"""Creating the sync's tables (used by `asset-sync create-table` and the local mode)."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from botocore.exceptions import ClientError

from asset_sync.dal.errors import error_code

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient


def create_table(client: DynamoDBClient, name: str, **spec: Any) -> bool:
    """Create an on-demand table and wait for it; False if it already exists."""
    try:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec)
    except ClientError as error:
        if error_code(error) == "ResourceInUseException":
            return False
        raise
    client.get_waiter("table_exists").wait(TableName=name)
    return True
