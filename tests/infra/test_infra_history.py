"""The history of versions in the stack (issue 24): its table, the stream's second reader with
its own failure handling, least privilege, and names that follow the stage's tables."""

from __future__ import annotations

from pathlib import Path

import pytest
from aws_cdk.assertions import Template
from infra.settings import StageError, settings_from_context
from tests.infra.synth import (
    REPO_ROOT,
    arn,
    key,
    logical_id,
    resources,
    role_grants,
    role_of_function,
    synthesize,
)
from tests.infra.test_infra_settings import two_stages
from tests.support.stream_mapping import MappingSettings

from asset_sync.history.writer import REQUEST_SECONDS

pytestmark = pytest.mark.infra

WRITER = "signal9-asset-history-dev"


@pytest.fixture(scope="module")
def template(stub_lambda_asset: Path, tmp_path_factory: pytest.TempPathFactory) -> Template:
    """The dev stage (cdk.json), synthesized with cdk-nag on."""
    return synthesize(tmp_path_factory.mktemp("cdk.out"), stub_lambda_asset).template("dev")


def writer_id(template: Template) -> str:
    return logical_id(template, "AWS::Lambda::Function", FunctionName=WRITER)


def mappings(template: Template) -> dict[str, dict[str, object]]:
    """The event source mappings by the function they feed."""
    return {
        str(m["Properties"]["FunctionName"]["Ref"]): m["Properties"]
        for m in resources(template, "AWS::Lambda::EventSourceMapping").values()
    }


def test_the_history_table_is_on_demand_recoverable_retained_and_keyed_by_shard_and_key(
    template: Template,
) -> None:
    table = resources(template, "AWS::DynamoDB::Table")["HistoryTable"]
    props = table["Properties"]

    assert props["TableName"] == "signal9_assets_dev_history"
    assert props["BillingMode"] == "PAY_PER_REQUEST"
    assert props["PointInTimeRecoverySpecification"] == {"PointInTimeRecoveryEnabled": True}
    assert props["KeySchema"] == [
        {"AttributeName": "shard", "KeyType": "HASH"},
        {"AttributeName": "key", "KeyType": "RANGE"},
    ]
    assert props["GlobalSecondaryIndexes"] == [
        {
            "IndexName": "symbol-index",
            "KeySchema": [
                {"AttributeName": "symbol", "KeyType": "HASH"},
                {"AttributeName": "key", "KeyType": "RANGE"},
            ],
            "Projection": {"ProjectionType": "KEYS_ONLY"},
        }
    ]
    assert "StreamSpecification" not in props
    assert (table["DeletionPolicy"], table["UpdateReplacePolicy"]) == (
        "RetainExceptOnCreate",
        "Retain",
    )


def test_the_writer_reads_the_assets_stream_as_the_events_consumer_does(
    template: Template,
) -> None:
    found = mappings(template)
    consumer = logical_id(
        template, "AWS::Lambda::Function", FunctionName="signal9-asset-events-dev"
    )
    writer = dict(found[writer_id(template)])
    queue = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-history-failures"
    )

    assert set(found) == {consumer, writer_id(template)}  # two readers: no room for a third
    assert writer.pop("DestinationConfig") == {"OnFailure": {"Destination": arn(queue)}}
    events = dict(found[consumer])
    events.pop("DestinationConfig")
    assert {k: v for k, v in writer.items() if k != "FunctionName"} == {
        k: v for k, v in events.items() if k != "FunctionName"
    }
    assert writer["EventSourceArn"] == arn("AssetsTable", "StreamArn")
    assert writer["FunctionResponseTypes"] == ["ReportBatchItemFailures"]


def test_the_writer_runs_as_the_mapping_double_and_its_tests_assume(template: Template) -> None:
    function = resources(template, "AWS::Lambda::Function")[writer_id(template)]["Properties"]
    mapping = mappings(template)[writer_id(template)]
    double = MappingSettings()

    assert function["Handler"] == "asset_sync.history.handler.lambda_handler"
    assert function["Environment"]["Variables"]["HISTORY_TABLE"] == {"Ref": "HistoryTable"}
    assert function["Environment"]["Variables"]["POWERTOOLS_SERVICE_NAME"] == "asset-history"
    assert function["Timeout"] == double.function_timeout_seconds
    assert mapping["BatchSize"] == double.batch_size
    assert mapping["MaximumRecordAgeInSeconds"] == double.maximum_record_age_seconds
    assert function["Timeout"] > 2 * REQUEST_SECONDS  # room for a write and its retry


def test_the_writer_may_read_the_stream_and_write_the_history_table_only(
    template: Template,
) -> None:
    role = role_of_function(template, writer_id(template))
    queue = logical_id(
        template, "AWS::SQS::Queue", QueueName="signal9-asset-sync-dev-history-failures"
    )
    log_group = logical_id(template, "AWS::Logs::LogGroup", LogGroupName=f"/aws/lambda/{WRITER}")

    assert log_group == "HistoryLogGroup"  # fixed: the import guide adopts it under this id
    assert role_grants(template, role) == {
        key(arn("AssetsTable", "StreamArn")): {
            "dynamodb:DescribeStream",
            "dynamodb:GetRecords",
            "dynamodb:GetShardIterator",
            "dynamodb:ListStreams",
        },
        key(arn("HistoryTable")): {"dynamodb:BatchWriteItem", "dynamodb:PutItem"},
        key(arn(queue)): {"sqs:SendMessage"},
        key(arn(log_group)): {"logs:CreateLogStream", "logs:PutLogEvents"},
    }


def test_the_history_table_follows_the_assets_table_and_the_collision_check_counts_it() -> None:
    own = settings_from_context(two_stages({"assets_table_name": "research_assets"}))
    assert own.history_table_name == "research_assets_history"

    # dev's assets table named like prod's history table: they would share that name
    with pytest.raises(StageError, match="DynamoDB table 'signal9_assets_history'"):
        settings_from_context(two_stages({"assets_table_name": "signal9_assets_history"}))


def test_the_architecture_says_there_is_no_room_for_a_third_stream_reader() -> None:
    text = (REPO_ROOT / "docs" / "architecture.md").read_text()

    assert "two readers per shard" in text and "no room for a third" in text
