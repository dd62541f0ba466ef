"""Small pieces the components share: nag acknowledgements, retained resources, failure queues."""

from __future__ import annotations

from typing import Any

import aws_cdk as cdk
import jsii
from aws_cdk import aws_cloudwatch as cloudwatch
from aws_cdk import aws_iam as iam
from aws_cdk import aws_lambda as lambda_
from aws_cdk import aws_logs as logs
from aws_cdk import aws_sqs as sqs
from constructs import Construct

from asset_sync.contract import METRICS_NAMESPACE, Env

# Stateful resources outlive the stack (delete, replacement), but a resource created by a stack
# operation that fails and rolls back is deleted with it (DeletionPolicy RetainExceptOnCreate), so
# a failed first deploy leaves no fixed-name leftovers that make the next one fail.
RETAINED = cdk.RemovalPolicy.RETAIN_ON_UPDATE_OR_DELETE
LOG_RETENTION = logs.RetentionDays.THREE_MONTHS
FAILURE_QUEUE_RETENTION = cdk.Duration.days(14)  # the SQS maximum
PYTHON_RUNTIME_REASON = (
    "python3.12 is pinned on purpose: scripts/package_lambda.py builds the artifact with "
    "CPython 3.12 wheels (msgspec is a compiled extension). Move both together."
)


def service_metric(
    service: str, name: str, *, statistic: str = "Sum", period: cdk.Duration
) -> cloudwatch.Metric:
    """A metric a handler publishes (EMF, the project's namespace, dimension service=...)."""
    return cloudwatch.Metric(
        namespace=METRICS_NAMESPACE,
        metric_name=name,
        dimensions_map={"service": service},
        statistic=statistic,
        period=period,
    )


def failed_or_quarantined(
    service: str, failed: str, quarantined: str, period: cdk.Duration
) -> cloudwatch.MathExpression:
    """A stream reader's records left for a retry plus its records quarantined, per period."""
    return cloudwatch.MathExpression(
        expression="FILL(failed, 0) + FILL(quarantined, 0)",
        using_metrics={
            "failed": service_metric(service, failed, period=period),
            "quarantined": service_metric(service, quarantined, period=period),
        },
        label=f"{failed} + {quarantined}",
        period=period,
    )


def dynamodb_actions(*operations: str) -> list[str]:
    """IAM actions of DynamoDB operations (`GetItem` -> `dynamodb:GetItem`)."""
    return [f"dynamodb:{operation}" for operation in operations]


def acknowledge(construct: Construct, rule_id: str, reason: str) -> None:
    """Acknowledge (suppress) one cdk-nag finding on a construct, with the reason recorded."""
    cdk.Validations.of(construct).acknowledge(cdk.Acknowledgment(id=rule_id, reason=reason))


def python_function(
    scope: Construct,
    construct_id: str,
    *,
    service: str,
    environment: dict[str, str],
    **props: Any,
) -> lambda_.Function:
    """A function of this project: python3.12 on arm64 (the artifact's build), JSON logs,
    Powertools' service name and metrics namespace; `props` give the rest (name, handler,
    code, memory, timeout, role, log group, ...)."""
    function = lambda_.Function(
        scope,
        construct_id,
        runtime=lambda_.Runtime.PYTHON_3_12,
        architecture=lambda_.Architecture.ARM_64,
        logging_format=lambda_.LoggingFormat.JSON,
        environment={
            **environment,
            Env.POWERTOOLS_SERVICE_NAME: service,
            Env.POWERTOOLS_METRICS_NAMESPACE: METRICS_NAMESPACE,
            Env.POWERTOOLS_LOG_LEVEL: "INFO",
        },
        **props,
    )
    acknowledge(function, "AwsSolutions::AwsSolutions-L1", PYTHON_RUNTIME_REASON)
    return function


def fixed_logical_id(construct: Construct, logical_id: str) -> None:
    """Pin the logical id of a construct's CloudFormation resource.

    Retained named resources have fixed ids: docs/deploy.md adopts existing ones under these ids
    (`cdk import`), and a refactor of the construct tree must never turn into "create a second
    resource of that name".
    """
    resource = construct.node.default_child
    assert isinstance(resource, cdk.CfnResource)
    resource.override_logical_id(logical_id)


def retained_log_group(scope: Construct, construct_id: str, function_name: str) -> logs.LogGroup:
    """The log group a function writes to, created by the stack (90 days) and retained.

    Its logical id is fixed: the parent construct's id plus "LogGroup" (SyncLogGroup, ...).
    """
    log_group = logs.LogGroup(
        scope,
        construct_id,
        log_group_name=f"/aws/lambda/{function_name}",
        retention=LOG_RETENTION,
        removal_policy=RETAINED,
    )
    fixed_logical_id(log_group, f"{scope.node.id}LogGroup")
    return log_group


def failure_queue(scope: Construct, construct_id: str, queue_name: str, role: str) -> sqs.Queue:
    """An SQS queue that only collects failures (a DLQ or on-failure destination): SSE, TLS only.

    SSE-SQS (keys owned by SQS) rather than KMS: the senders (EventBridge, Scheduler, Lambda) then
    need no key policy, and nothing here calls for key-level control.
    """
    queue = sqs.Queue(
        scope,
        construct_id,
        queue_name=queue_name,
        encryption=sqs.QueueEncryption.SQS_MANAGED,
        enforce_ssl=True,
        retention_period=FAILURE_QUEUE_RETENTION,
    )
    acknowledge(
        queue,
        "AwsSolutions::AwsSolutions-SQS3",
        f"This queue is itself the {role}; its messages are read by hand after its alarm fires "
        "(docs/deploy.md runbooks), nothing consumes it, so it needs no DLQ of its own.",
    )
    return queue


def function_role(
    scope: Construct,
    description: str,
    log_group: logs.ILogGroup,
    statements: list[iam.PolicyStatement],
) -> iam.Role:
    """A Lambda role with no managed policies: the given statements plus writes to its log group.

    Logs (and the EMF metrics in them) go only to the function's own log group. Its Arn
    attribute is "arn:...:log-group:NAME:*", which covers the group's streams.
    """
    role = iam.Role(
        scope,
        "Role",
        assumed_by=iam.ServicePrincipal("lambda.amazonaws.com"),
        description=description,
    )
    log_statement = iam.PolicyStatement(
        sid="FunctionLogGroup",
        actions=["logs:CreateLogStream", "logs:PutLogEvents"],
        resources=[log_group.log_group_arn],
    )
    for statement in [*statements, log_statement]:
        role.add_to_principal_policy(statement)
    return role


def send_message_statement(queue: sqs.IQueue, sid: str) -> iam.PolicyStatement:
    """sqs:SendMessage on one queue: all a Lambda destination or a DLQ sender needs."""
    return iam.PolicyStatement(sid=sid, actions=["sqs:SendMessage"], resources=[queue.queue_arn])


@jsii.implements(lambda_.IDestination)
class SendOnlyQueueDestination:
    """An on-failure destination that grants only sqs:SendMessage.

    CDK's SqsDestination grants grantSendMessages (SendMessage plus GetQueueAttributes and
    GetQueueUrl); Lambda's asynchronous invocation needs only SendMessage.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self,
        _scope: Construct,
        fn: lambda_.IFunction,
        *,
        type: lambda_.DestinationType,
    ) -> lambda_.DestinationConfig:
        """Grant SendMessage on the queue to the function and name it as the destination."""
        del type  # failure or success: the grant is the same
        fn.add_to_role_policy(send_message_statement(self.queue, "OnFailureDestination"))
        return lambda_.DestinationConfig(destination=self.queue.queue_arn)


@jsii.implements(lambda_.IEventSourceDlq)
class SendOnlyEventSourceDlq:
    """An event source mapping's on-failure destination that grants only sqs:SendMessage.

    CDK's SqsDlq grants grantSendMessages; the mapping sends the discarded batch's description
    with the function's role, which needs only SendMessage.
    """

    def __init__(self, queue: sqs.IQueue) -> None:
        self.queue = queue

    def bind(
        self, _target: lambda_.IEventSourceMapping, target_handler: lambda_.IFunction
    ) -> lambda_.DlqDestinationConfig:
        """Grant SendMessage on the queue to the function and name it as the destination."""
        target_handler.add_to_role_policy(
            send_message_statement(self.queue, "OnFailureDestination")
        )
        return lambda_.DlqDestinationConfig(destination=self.queue.queue_arn)
