"""`asset-sync events replay`: publish the change events the consumer quarantined.

Reads the quarantine bucket (`--bucket`, else EVENTS_QUARANTINE_BUCKET) and publishes to the
bus (`--bus`, else EVENT_BUS_NAME); S3 and EventBridge endpoints follow boto3's own variables
(AWS_ENDPOINT_URL_S3, AWS_ENDPOINT_URL_EVENTBRIDGE). Exit 0 when nothing remains, 1 when some
records remain (still unreadable, refused, or EventBridge kept failing), 2 for configuration.
"""

from __future__ import annotations

import os

import click
from botocore.exceptions import BotoCoreError, ClientError

from asset_sync.cli.common import echo_json
from asset_sync.cli.outcomes import CommandFailed
from asset_sync.config import ConfigError, resolve_region
from asset_sync.contract import Env, Outcome
from asset_sync.events.clock import Deadline, SystemClock
from asset_sync.events.publisher import Publisher, events_client
from asset_sync.events.quarantine import Quarantine, s3_client
from asset_sync.events.replay import PUBLISHED, WOULD_PUBLISH, ReplayReport, replay
from asset_sync.render import lines_to_text

MISSING_CODES = frozenset({"NoSuchBucket", "ResourceNotFoundException"})


@click.group()
def events() -> None:
    """The change events: replay what the events consumer quarantined."""


@events.command("replay")
@click.option("--bucket", help="Quarantine bucket (default: EVENTS_QUARANTINE_BUCKET).")
@click.option("--bus", help="Event bus to publish to (default: EVENT_BUS_NAME).")
@click.option("--region", help="AWS region (default: AWS_REGION, AWS_DEFAULT_REGION, ...).")
@click.option("--dry-run", is_flag=True, help="Show what would be published; change nothing.")
@click.option(
    "--deadline-seconds",
    default=120.0,
    show_default=True,
    type=click.FloatRange(min=10),
    help="Stop retrying PutEvents after this long (what is left remains quarantined).",
)
@click.option("--json", "as_json", is_flag=True, help="Print the outcome as one JSON object.")
def replay_command(
    bucket: str | None,
    bus: str | None,
    region: str | None,
    dry_run: bool,
    deadline_seconds: float,
    as_json: bool,
) -> None:
    """Publish the quarantined events again (same event_id), then delete what was published."""
    bucket = bucket or os.environ.get(Env.EVENTS_QUARANTINE_BUCKET)
    bus = bus or os.environ.get(Env.EVENT_BUS_NAME)
    where = {"bucket": bucket, "bus": bus}
    if not bucket:
        raise ConfigError(f"no quarantine bucket (--bucket, {Env.EVENTS_QUARANTINE_BUCKET})")
    if not bus:
        raise ConfigError(f"no event bus (--bus, {Env.EVENT_BUS_NAME})")
    region = region or resolve_region(os.environ)[0]
    clock = SystemClock()
    try:
        report = replay(
            Quarantine(s3_client(region), bucket),
            Publisher(events_client(region), bus, sleep=clock.sleep),
            Deadline.after(clock, deadline_seconds),
            dry_run=dry_run,
        )
    except (ClientError, BotoCoreError) as error:
        code = error.response.get("Error", {}).get("Code") if isinstance(error, ClientError) else ""
        cause: BaseException = ConfigError(str(error)) if code in MISSING_CODES else error
        raise CommandFailed(f"AWS error: {error}", where, cause=cause) from error
    _report(report, where, as_json)


def _report(report: ReplayReport, where: dict[str, str | None], as_json: bool) -> None:
    summary = report.to_json()
    failed = not report.dry_run and report.remaining > 0
    message = (
        f"{summary['remaining']} of {summary['quarantined']} quarantined records not replayed"
        if failed
        else f"{summary['published']} published, {summary['remaining']} remain"
    )
    if failed:  # the CLI's one mapping prints the line (and the JSON object), exit 1
        names = [item.key for item in report.items if item.outcome != PUBLISHED]
        shown = ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")
        if not as_json:
            click.echo(lines_to_text(_lines(report, where)))
        raise CommandFailed(
            f"{message} ({shown}); see `asset-sync events replay --dry-run`", {**where, **summary}
        )
    if as_json:
        outcome = "dry_run" if report.dry_run else Outcome.SUCCEEDED
        echo_json({"outcome": outcome, "message": message, **where, **summary})
    else:
        click.echo(lines_to_text(_lines(report, where)))


def _lines(report: ReplayReport, where: dict[str, str | None]) -> list[str]:
    head = "dry run: " if report.dry_run else ""
    lines = [f"{head}quarantine s3://{where['bucket']} -> bus {where['bus']}"]
    for item in report.items:
        event = f"{item.detail_type} {item.symbol}" if item.detail_type else "no event"
        why = f" ({item.error})" if item.error else ""
        lines.append(
            f"  {item.outcome:<13} {event}  [{item.reason} at {item.quarantined_at}] "
            f"{item.key}{why}"
        )
    summary = report.to_json()
    if report.dry_run:
        lines.append(
            f"{summary['quarantined']} quarantined: {report.count(WOULD_PUBLISH)} would be "
            f"published, {summary['no_event']} announce nothing today, "
            f"{summary['quarantined'] - report.count(WOULD_PUBLISH) - summary['no_event']} "
            "cannot be published"
        )
    else:
        lines.append(
            f"{summary['published']} published, {summary['no_event']} announce nothing "
            f"(deleted), {summary['remaining']} remain"
        )
    return lines
