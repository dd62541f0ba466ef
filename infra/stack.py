"""AssetSyncStack: one stage of signal9-asset-sync, composed of one component per concern."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import aws_cdk as cdk
from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.dashboard import SyncDashboard
from infra.components.events import AssetEvents
from infra.components.history import AssetHistory
from infra.components.monitoring import Monitoring, Watched
from infra.components.schedule import SyncSchedule
from infra.components.sync_function import SyncFunction
from infra.components.tables import Tables
from infra.settings import StageSettings


class AssetSyncStack(cdk.Stack):
    """Tables, the scheduled sync, change events, history, alarms and the dashboard of one
    stage."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        asset_root: Path | None = None,
        **kwargs: Any,
    ) -> None:
        """Create the stack; a relative ``settings.lambda_asset`` is resolved under asset_root."""
        super().__init__(scope, construct_id, **kwargs)
        self.settings = settings
        cdk.Tags.of(self).add("project", "signal9-asset-sync")
        cdk.Tags.of(self).add("stage", settings.stage)

        code = lambda_.Code.from_asset(str(self._asset_dir(asset_root)))
        self.tables = Tables(self, "Tables", settings=settings)
        self.sync = SyncFunction(self, "Sync", settings=settings, tables=self.tables, code=code)
        self.schedule = SyncSchedule(
            self, "Schedule", settings=settings, function=self.sync.function
        )
        self.events = AssetEvents(self, "Events", settings=settings, tables=self.tables, code=code)
        self.history = AssetHistory(
            self, "History", settings=settings, tables=self.tables, code=code
        )
        watched = Watched(self.sync, self.schedule, self.events, self.history)
        self.monitoring = Monitoring(self, "Monitoring", settings=settings, watched=watched)
        self.dashboard = SyncDashboard(
            self, "Dashboard", settings=settings, watched=watched, alarms=self.monitoring.alarms
        )
        self._outputs()

    def _asset_dir(self, asset_root: Path | None) -> Path:
        asset_dir = Path(self.settings.lambda_asset)
        if not asset_dir.is_absolute():
            asset_dir = (asset_root or Path.cwd()) / asset_dir
        if not asset_dir.is_dir():
            raise FileNotFoundError(
                f"Lambda asset directory {asset_dir} does not exist: "
                "run `make package` first (or pass -c lambda_asset=DIR)"
            )
        return asset_dir

    def _outputs(self) -> None:
        outputs = {
            "AssetsTableName": self.tables.assets.table_name,
            "SyncStateTableName": self.tables.sync_state.table_name,
            "FunctionName": self.sync.function.function_name,
            "AlpacaSecretArn": self.sync.secret.secret_arn,
            "AlarmTopicArn": self.monitoring.topic.topic_arn,
            "EventBusName": self.events.bus.event_bus_name,
            "EventBusArn": self.events.bus.event_bus_arn,
            "EventsFunctionName": self.events.function.function_name,
            "DashboardName": self.dashboard.dashboard.dashboard_name,
            "ScheduleDlqUrl": self.schedule.dead_letter_queue.queue_url,
            "InvokeFailureQueueUrl": self.sync.failure_queue.queue_url,
            "EventsFailureQueueUrl": self.events.failure_queue.queue_url,
            "HistoryTableName": self.tables.history.table_name,
            "HistoryFunctionName": self.history.function.function_name,
            "HistoryFailureQueueUrl": self.history.failure_queue.queue_url,
        }
        for name, value in outputs.items():
            cdk.CfnOutput(self, name, value=value)
