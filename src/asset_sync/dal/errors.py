"""Errors of the data layer, translated from botocore's ClientError codes."""

from __future__ import annotations

from botocore.exceptions import ClientError


class ConditionFailedError(Exception):
    """A conditional write lost a race: the item changed since it was read."""


class TableMissingError(RuntimeError):
    """The table does not exist (run `asset-sync create-table`)."""


def error_code(error: ClientError) -> str:
    """The DynamoDB error code of a ClientError."""
    return str(error.response.get("Error", {}).get("Code", ""))


def is_condition_failure(error: ClientError) -> bool:
    """Whether a write failed its ConditionExpression."""
    return error_code(error) == "ConditionalCheckFailedException"


def raise_if_missing(error: ClientError, table: str, index: str | None = None) -> None:
    """Turn ResourceNotFoundException into a TableMissingError with the fix in its message (and
    a read of an index the table lacks into an IndexMissingError: DynamoDB answers a
    ValidationException, moto a ResourceNotFoundException, both naming the index)."""
    code = error_code(error)
    message = str(error.response.get("Error", {}).get("Message", ""))
    missing = code in ("ValidationException", "ResourceNotFoundException")
    if index and missing and index in message:
        raise IndexMissingError(
            f"table {table!r} has no index {index!r} (a table made before it existed); "
            "`asset-sync create-table` adds it to the existing table"
        ) from None
    if code == "ResourceNotFoundException":
        raise TableMissingError(
            f"table {table!r} does not exist; create it with `asset-sync create-table`"
        ) from None


class IndexMissingError(TableMissingError):
    """The table lacks an index the sync reads (`asset-sync create-table` adds it)."""


class StateTableConflictError(RuntimeError):
    """The run-state table records the runs of another assets table: refuse to mix them."""


class IncompleteReadError(RuntimeError):
    """DynamoDB kept returning unprocessed keys; the read could not complete."""
