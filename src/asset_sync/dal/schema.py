"""The sync's tables as specified: creating them, and telling what is wrong with one that exists.

A `TableSpec` is the one description of a table (its key, the indexes the sync queries, its
stream): `create-table` creates it from the spec, and a request that fails because the table is
not as specified (a missing index, another key) is explained from the same spec, with its fix.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.dal.errors import (
    TableMissingError,
    TableSchemaError,
    error_code,
    missing_message,
)

if TYPE_CHECKING:
    from mypy_boto3_dynamodb import DynamoDBClient

# DynamoDB's answers to a request on a table that is not as the request assumes (moto answers
# ResourceNotFoundException for a missing index, DynamoDB ValidationException).
SCHEMA_ERROR_CODES = ("ResourceNotFoundException", "ValidationException")


@dataclass(frozen=True)
class IndexSpec:
    """A global secondary index the sync queries: its name, partition key and projection
    (`ALL`: every attribute must be there; `KEYS_ONLY`: any projection will do)."""

    name: str
    key: str
    projection: str = "ALL"

    def create_entry(self) -> dict[str, Any]:
        """The index as CreateTable and UpdateTable take it."""
        return {
            "IndexName": self.name,
            "KeySchema": [{"AttributeName": self.key, "KeyType": "HASH"}],
            "Projection": {"ProjectionType": self.projection},
        }


@dataclass(frozen=True)
class TableSpec:
    """One of the sync's tables: what it is (for messages), where its name comes from (for the
    fix), its string partition key, its indexes and whether it has a NEW_AND_OLD_IMAGES stream."""

    role: str
    source: str
    key: str
    indexes: tuple[IndexSpec, ...] = ()
    stream: bool = False

    def create_args(self) -> dict[str, Any]:
        """CreateTable's arguments (but the name and the billing mode)."""
        names = dict.fromkeys((self.key, *(index.key for index in self.indexes)))
        args: dict[str, Any] = {
            "KeySchema": [{"AttributeName": self.key, "KeyType": "HASH"}],
            "AttributeDefinitions": [{"AttributeName": n, "AttributeType": "S"} for n in names],
        }
        if self.indexes:
            args["GlobalSecondaryIndexes"] = [index.create_entry() for index in self.indexes]
        if self.stream:
            args["StreamSpecification"] = {
                "StreamEnabled": True,
                "StreamViewType": "NEW_AND_OLD_IMAGES",
            }
        return args


def _hash_key(schema: list[Mapping[str, Any]]) -> str | None:
    return next((k["AttributeName"] for k in schema if k.get("KeyType") == "HASH"), None)


def schema_problems(table: Mapping[str, Any], spec: TableSpec) -> list[str]:
    """What keeps a described table (DescribeTable's `Table`) from serving as `spec`: each
    problem in words (`has no index 'status-index' ...`); empty when it can serve."""
    problems = []
    types = {a["AttributeName"]: a["AttributeType"] for a in table.get("AttributeDefinitions", [])}
    keys = [k["AttributeName"] for k in table.get("KeySchema", [])]
    if keys != [spec.key] or types.get(spec.key) != "S":
        shown = ", ".join(f"{k!r} ({types.get(k, '?')})" for k in keys) or "none"
        problems.append(f"has the key {shown}, not {spec.key!r} (S)")
    for index in spec.indexes:
        problem = _index_problem(table, index)
        if problem:
            problems.append(problem)
    return problems


def _index_problem(table: Mapping[str, Any], index: IndexSpec) -> str | None:
    found = {i["IndexName"]: i for i in table.get("GlobalSecondaryIndexes", [])}
    actual = found.get(index.name)
    if actual is None:
        return f"has no index {index.name!r} (partition key {index.key!r})"
    key = _hash_key(actual.get("KeySchema", []))
    projection = actual.get("Projection", {}).get("ProjectionType")
    if key != index.key:
        return f"has the index {index.name!r} on {key!r}, not on {index.key!r}"
    if index.projection == "ALL" and projection != "ALL":
        return f"has the index {index.name!r} projecting {projection}, not ALL"
    return None


def schema_fix(name: str, table: Mapping[str, Any], spec: TableSpec) -> str:
    """How to make the described table serve as `spec` (or which other table to use)."""
    keys = [k["AttributeName"] for k in table.get("KeySchema", [])]
    if keys != [spec.key]:
        return (
            f"it is not an asset-sync {spec.role} table: point {spec.source} at one, or at a "
            "new name and run `asset-sync create-table`"
        )
    found = {i["IndexName"] for i in table.get("GlobalSecondaryIndexes", [])}
    steps = []
    for index in spec.indexes:
        if not _index_problem(table, index):
            continue
        updates: list[dict[str, Any]] = []
        if index.name in found:
            updates.append({"Delete": {"IndexName": index.name}})
        updates.append({"Create": index.create_entry()})
        steps.append(
            f"aws dynamodb update-table --table-name {name} --attribute-definitions "
            f"AttributeName={index.key},AttributeType=S --global-secondary-index-updates "
            f"'{json.dumps(updates, separators=(',', ':'))}'"
        )
    if not steps:
        return "see docs/deploy.md"
    if not any(index.name in found for index in spec.indexes if _index_problem(table, index)):
        return "`asset-sync create-table` adds it, or: " + " && ".join(steps)  # only missing
    return "add it: " + " && ".join(steps)


def describe(client: DynamoDBClient, name: str) -> dict[str, Any] | None:
    """DescribeTable's `Table`, or None when the table does not exist."""
    try:
        table: dict[str, Any] = dict(client.describe_table(TableName=name)["Table"])
    except ClientError as error:
        if error_code(error) == "ResourceNotFoundException":
            return None
        raise
    return table


@dataclass(frozen=True)
class Diagnosis:
    """What keeps a table from serving as specified, and the fix."""

    problem: str
    fix: str


def diagnose(client: DynamoDBClient, name: str, spec: TableSpec) -> Diagnosis | None:
    """What is wrong with table `name` for `spec` (it is missing, has another key, lacks an
    index or the stream the change events need); None when it serves as specified."""
    table = describe(client, name)
    if table is None:
        return Diagnosis("does not exist", "run `asset-sync create-table`")
    problems = schema_problems(table, spec)
    if problems:
        return Diagnosis(", and ".join(problems), schema_fix(name, table, spec))
    stream = table.get("StreamSpecification", {})
    if spec.stream and (
        not stream.get("StreamEnabled") or stream.get("StreamViewType") != "NEW_AND_OLD_IMAGES"
    ):
        return Diagnosis(
            "has no NEW_AND_OLD_IMAGES stream (the change events need it)",
            f"aws dynamodb update-table --table-name {name} --stream-specification "
            "StreamEnabled=true,StreamViewType=NEW_AND_OLD_IMAGES",
        )
    return None


def check_table(client: DynamoDBClient, name: str, spec: TableSpec) -> None:
    """Raise TableMissingError or TableSchemaError (with the fix) unless `name` serves as
    `spec`."""
    table = describe(client, name)
    if table is None:
        raise TableMissingError(missing_message(name))
    problems = schema_problems(table, spec)
    if problems:
        raise TableSchemaError(
            f"table {name!r} {', and '.join(problems)}; {schema_fix(name, table, spec)}"
        )


def raise_table_problem(
    client: DynamoDBClient, name: str, spec: TableSpec, error: ClientError
) -> None:
    """After a request on `name` failed with `error`: raise what is wrong with the table when
    that is the cause (it does not exist, lacks an index, has another key); return otherwise,
    for the caller to raise `error`. Looks (DescribeTable) only after such a failure."""
    if error_code(error) not in SCHEMA_ERROR_CODES:
        return
    try:
        check_table(client, name, spec)
    except (TableMissingError, TableSchemaError) as problem:
        raise problem from None
    except (ClientError, BotoCoreError):  # cannot look: judge by the error alone
        if error_code(error) == "ResourceNotFoundException":
            raise TableMissingError(missing_message(name)) from None


def paged_items(
    call: Callable[..., Any], request: dict[str, Any], problem: Callable[[ClientError], None]
) -> Iterator[Mapping[str, Any]]:
    """Every item a paged Query or Scan returns; a failed page is explained by `problem` first
    (`raise_table_problem` of its table), else its error is raised as it is."""
    while True:
        try:
            response = call(**request)
        except ClientError as error:
            problem(error)
            raise
        yield from response.get("Items", [])
        last_key = response.get("LastEvaluatedKey")
        if not last_key:
            return
        request["ExclusiveStartKey"] = last_key


def create_table(client: DynamoDBClient, name: str, spec: TableSpec) -> bool:
    """Create an on-demand table as `spec` says and wait for it; False if one that serves as
    `spec` already exists, TableSchemaError (with the fix) if one that does not exists."""
    try:
        client.create_table(TableName=name, BillingMode="PAY_PER_REQUEST", **spec.create_args())
    except ClientError as error:
        if error_code(error) == "ResourceInUseException":
            check_table(client, name, spec)
            return False
        raise
    client.get_waiter("table_exists").wait(TableName=name)
    return True
