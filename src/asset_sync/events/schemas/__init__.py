"""JSON Schemas (draft-04, as EventBridge's schema registry accepts) of each detail type's event.

Generated from the item model by `python scripts/event_schemas.py`; a test keeps them in step.
"""

from __future__ import annotations

import json
from importlib import resources
from typing import Any


def schema_file(detail_type: str) -> str:
    """The file name of a detail type's schema: `Asset Listed` -> `asset-listed.json`."""
    return detail_type.lower().replace(" ", "-") + ".json"


def load_schema(detail_type: str) -> dict[str, Any]:
    """The JSON Schema of the events of one detail type (the whole event as delivered)."""
    text = resources.files(__name__).joinpath(schema_file(detail_type)).read_text("utf-8")
    schema: dict[str, Any] = json.loads(text)
    return schema
