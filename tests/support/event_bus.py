"""An event bus on moto whose rules deliver to SQS queues, read back as a subscriber receives."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import Any

import boto3

from asset_sync.events import SOURCE


@dataclass
class Bus:
    """A bus on moto whose rules send events to SQS queues, read back as delivered."""

    name: str
    endpoint: str
    queue_url: str = ""  # the queue of the rule that takes every event of this project

    @classmethod
    def create(cls, endpoint: str) -> Bus:
        """A new bus with one rule taking every `signal9.asset-sync` event to a queue."""
        events = boto3.client("events", endpoint_url=endpoint, region_name="us-east-1")
        created = cls(f"signal9-assets-{uuid.uuid4().hex[:8]}", endpoint)
        events.create_event_bus(Name=created.name)
        created.queue_url = created.subscribe({"source": [SOURCE]})
        return created

    def subscribe(self, pattern: dict[str, Any]) -> str:
        """A rule with `pattern` targeting a new queue; the queue's URL."""
        events = boto3.client("events", endpoint_url=self.endpoint, region_name="us-east-1")
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")
        rule = f"rule-{uuid.uuid4().hex[:8]}"
        queue_url = sqs.create_queue(QueueName=f"{self.name}-{rule}")["QueueUrl"]
        queue_arn = sqs.get_queue_attributes(QueueUrl=queue_url, AttributeNames=["QueueArn"])
        events.put_rule(Name=rule, EventBusName=self.name, EventPattern=json.dumps(pattern))
        events.put_targets(
            Rule=rule,
            EventBusName=self.name,
            Targets=[{"Id": "queue", "Arn": queue_arn["Attributes"]["QueueArn"]}],
        )
        return queue_url

    def delivered(self, queue_url: str | None = None) -> list[dict[str, Any]]:
        """Every event a queue (default: the catch-all one) received since the last call."""
        sqs = boto3.client("sqs", endpoint_url=self.endpoint, region_name="us-east-1")
        events: list[dict[str, Any]] = []
        for _ in range(1000):  # bounded: a queue that never empties is a failure, not a hang
            page = sqs.receive_message(QueueUrl=queue_url or self.queue_url, MaxNumberOfMessages=10)
            messages = page.get("Messages", [])
            if not messages:
                return events
            for message in messages:
                events.append(json.loads(message["Body"]))
                sqs.delete_message(
                    QueueUrl=queue_url or self.queue_url, ReceiptHandle=message["ReceiptHandle"]
                )
        raise AssertionError("the queue did not empty")


def quarantine_bucket(endpoint: str) -> str:
    """A new, empty quarantine bucket on moto."""
    name = f"signal9-events-quarantine-{uuid.uuid4().hex[:8]}"
    boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1").create_bucket(Bucket=name)
    return name
