"""Errors of the data layer, translated from botocore's ClientError codes."""

from __future__ import annotations

from typing import Any

from botocore.exceptions import ClientError


class ConditionFailedError(Exception):
    """A conditional write lost a race: the item changed since it was read."""


class TableSetupError(RuntimeError):
    """A table the sync needs is not usable as it is set up; the message names the fix."""


class TableMissingError(TableSetupError):
    """The table does not exist (run `asset-sync create-table`)."""


class TableSchemaError(TableSetupError):
    """The table exists, but not as the sync needs it (another key, a missing index)."""


class StateTableConflictError(TableSetupError):
    """The run-state table records the runs of another assets table: refuse to mix them."""


class EndpointNotDynamoDBError(ClientError):
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


def error_code(error: ClientError) -> str:
    """The DynamoDB error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: ClientError) -> bool:
    """Whether a write failed its ConditionExpression."""
    return error_code(error) == "ConditionalCheckFailedException"


def raise_if_missing(error: ClientError, table: str) -> None:
    """Turn ResourceNotFoundException into a TableMissingError with the fix in its message.

    Prefer `schema.raise_table_problem`: moto answers ResourceNotFoundException for a missing
    index too, which only a look at the table tells apart."""
    if error_code(error) == "ResourceNotFoundException":
        raise TableMissingError(missing_message(table)) from None


def missing_message(table: str) -> str:
    """The message of a table that does not exist, with its fix."""
    return f"table {table!r} does not exist; create it with `asset-sync create-table`"


class IncompleteReadError(RuntimeError):
    """DynamoDB kept returning unprocessed keys; the read could not complete."""
