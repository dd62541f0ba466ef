"""boto3 DynamoDB client with the retry and timeout policy every caller shares."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import boto3
from botocore.config import Config

from asset_sync.dal.errors import EndpointNotDynamoDBError

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# Standard retry mode: exponential backoff with jitter on throttling, 5xx and connection errors.
# Writes are conditional, so a retry of a write that already applied fails its condition and is
# then confirmed by a re-read (see logic/apply.py) instead of being applied twice.
DEFAULT_MAX_ATTEMPTS = 10


def dynamodb_client(
    region: str,
    endpoint_url: str | None = None,
    *,
    max_attempts: int = DEFAULT_MAX_ATTEMPTS,
    max_pool_connections: int = 16,
    read_timeout: float = 30,
) -> DynamoDBClient:
    """A DynamoDB client; `endpoint_url` points it at moto's server or DynamoDB Local
    (`read_timeout`: the bench's reads of a year of history from moto take longer)."""
    config = Config(
        region_name=region,
        retries={"mode": "standard", "max_attempts": max_attempts},
        connect_timeout=5,
        read_timeout=read_timeout,
        max_pool_connections=max_pool_connections,
        tcp_keepalive=True,
    )
    client: DynamoDBClient = boto3.session.Session().client(
        "dynamodb", endpoint_url=endpoint_url, config=config
    )
    client.meta.events.register("after-call.dynamodb", _refuse_non_dynamodb_answers)
    return client


def _refuse_non_dynamodb_answers(
    http_response: Any, parsed: dict[str, Any], model: Any, **_kwargs: Any
) -> None:
    """botocore hook: an HTTP 4xx whose body names no DynamoDB error (botocore then uses the
    status as the error code) came from a server that is not DynamoDB."""
    code = str(parsed.get("Error", {}).get("Code", ""))
    if 400 <= http_response.status_code < 500 and code.isdigit():
        url = urlsplit(http_response.url)
        endpoint = f"{url.scheme}://{url.netloc.rpartition('@')[2]}"
        raise EndpointNotDynamoDBError(endpoint, parsed, model.name)
