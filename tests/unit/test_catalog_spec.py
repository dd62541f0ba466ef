"""The generated catalog has the shapes and types of Alpaca's OpenAPI `Assets` schema."""

from __future__ import annotations

import json
from typing import Any

import jsonschema
from tests.support import shared_file

from asset_sync.local.catalog import generate_catalog

SPEC = "alpaca_trading-api_openapi_2026-06.json"


def open_enums(schema: Any) -> Any:
    """The schema with every enum removed: class, exchange, attributes... are open strings."""
    if isinstance(schema, dict):
        return {k: open_enums(v) for k, v in schema.items() if k != "enum"}
    if isinstance(schema, list):
        return [open_enums(v) for v in schema]
    return schema


def test_every_generated_asset_matches_the_spec_types() -> None:
    spec = json.loads(shared_file(SPEC).read_text())
    components = open_enums(spec["components"])
    schema = {**components["schemas"]["Assets"], "components": components}
    validator = jsonschema.Draft7Validator(schema)
    broken = {**generate_catalog(1, seed=1)[0], "tradable": "yes", "min_order_size": 1}
    assert len(list(validator.iter_errors(broken))) == 2  # the validator does check types
    catalog = generate_catalog(3000, seed=21)
    errors = [
        f"{asset['symbol']}: {error.message}"
        for asset in catalog
        for error in validator.iter_errors(_nullable_ok(asset))
    ]
    assert errors == []
    classes = {asset["class"] for asset in catalog}
    assert {"us_equity", "crypto"} <= classes


def _nullable_ok(asset: dict[str, Any]) -> dict[str, Any]:
    """OpenAPI 3.0 `nullable: true` (cusip) is not JSON Schema: drop null values it allows."""
    return {k: v for k, v in asset.items() if not (k == "cusip" and v is None)}
