"""The base of a stage's Lambda components: built from the stage's settings, tables and code."""

from __future__ import annotations

from aws_cdk import aws_lambda as lambda_
from constructs import Construct

from infra.components.tables import Tables
from infra.settings import StageSettings


class StageFunction(Construct):
    """One Lambda function of a stage with what it needs; a subclass creates them in `build`."""

    def __init__(
        self,
        scope: Construct,
        construct_id: str,
        *,
        settings: StageSettings,
        tables: Tables,
        code: lambda_.Code,
    ) -> None:
        super().__init__(scope, construct_id)
        self.settings = settings
        self.build(tables, code)

    def build(self, tables: Tables, code: lambda_.Code) -> None:
        """Create the function and its resources in this construct."""
        raise NotImplementedError
