"""Errors of the data layer: botocore's, turned into the ones logic/ knows (logic.ports).

Every method a run calls on a store goes through `translated`: a botocore error leaves it as a
`StoreError` whose message names the cause and whose `__cause__` is the botocore error (the
CLI and the handlers map that cause to their exit code and message).
"""

from __future__ import annotations

import functools
from collections.abc import Callable
from typing import Any, ParamSpec, TypeVar

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.logic.ports import ConditionFailedError, StoreError, StoreSetupError

__all__ = [
    "ConditionFailedError",  # logic.ports' own: imported from here before the ports existed
    "EndpointNotDynamoDBError",
    "IncompleteReadError",
    "StateTableConflictError",
    "StoreError",
    "TableMissingError",
    "TableSchemaError",
    "TableSetupError",
    "as_store_error",
    "error_code",
    "is_condition_failure",
    "missing_message",
    "translated",
]

P = ParamSpec("P")
R = TypeVar("R")


class TableSetupError(StoreSetupError):
    """A table the sync needs is not usable as it is set up; the message names the fix."""


class TableMissingError(TableSetupError):
    """The table does not exist (run `asset-sync create-table`)."""


class TableSchemaError(TableSetupError):
    """The table exists, but not as the sync needs it (another key, a missing index)."""


class StateTableConflictError(TableSetupError):
    """The run-state table records the runs of another assets table: refuse to mix them."""


class EndpointNotDynamoDBError(ClientError, StoreSetupError):
    """The endpoint answered a DynamoDB request as no DynamoDB does (an HTTP 4xx without a
    DynamoDB error): a wrong AWS_ENDPOINT_URL_DYNAMODB or --endpoint-url. Still a ClientError,
    so every caller that handles one handles this."""

    def __init__(self, endpoint: str, response: Any, operation: str) -> None:
        super().__init__(response, operation)
        status = response.get("ResponseMetadata", {}).get("HTTPStatusCode")
        self.args = (
            f"{endpoint} is not a DynamoDB endpoint (it answered HTTP {status} to {operation}); "
            "check --endpoint-url, AWS_ENDPOINT_URL_DYNAMODB and AWS_ENDPOINT_URL",
        )


class IncompleteReadError(RuntimeError):
    """DynamoDB kept returning unprocessed keys; the read could not complete."""


def error_code(error: ClientError) -> str:
    """The DynamoDB error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: ClientError) -> bool:
    """Whether a write failed its ConditionExpression."""
    return error_code(error) == "ConditionalCheckFailedException"


def missing_message(table: str) -> str:
    """The message of a table that does not exist, with its fix."""
    return f"table {table!r} does not exist; create it with `asset-sync create-table`"


def as_store_error(error: BaseException) -> BaseException:
    """A botocore error as the store's `StoreError` (`ClientError: ...`); any other as it is."""
    if isinstance(error, ClientError | BotoCoreError):
        converted = StoreError(f"{type(error).__name__}: {error}")
        converted.__cause__ = error
        return converted
    return error


def translated(method: Callable[P, R]) -> Callable[P, R]:
    """A store method that raises `StoreError` where botocore raised (see `as_store_error`)."""

    @functools.wraps(method)
    def call(*args: P.args, **kwargs: P.kwargs) -> R:
        try:
            return method(*args, **kwargs)
        except (ClientError, BotoCoreError) as error:
            raise as_store_error(error) from error

    return call
