"""The contract module is the one place of every shared name (src/asset_sync/contract.py).

Scans the production sources (src/, infra/, scripts/) for string literals that repeat a name the
contract owns: an environment variable, a metric, an outcome, an index, the metrics namespace, a
service, the event source or a detail type, or the state table's name rule. Each must be written
once, in contract.py, and imported everywhere else.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

import pytest

from asset_sync import contract
from asset_sync.config import settings_from_env

ROOT = Path(__file__).resolve().parents[2]
CONTRACT = ROOT / "src" / "asset_sync" / "contract.py"
SCANNED = ("src", "infra", "scripts")  # bench/ joins once it imports the contract (branch bench)
# Words that are also something else where they stand: (file, literal) -> why.
OTHER_MEANINGS: dict[tuple[str, str], str] = {
    ("src/asset_sync/events/batch.py", "failed"): "the outcome's count a metric reports",
    ("src/asset_sync/events/publisher.py", "failed"): "a count in a log line",
    ("src/asset_sync/events/quarantine.py", "refused"): "why a record was quarantined",
    ("src/asset_sync/history/writer.py", "failed"): "the outcome's count a metric reports",
    ("infra/components/common.py", "failed"): "a metric's id in a metric math expression",
    ("infra/components/monitoring.py", "succeeded"): "a metric's id in a metric math expression",
    ("infra/components/monitoring.py", "fresh"): "a metric's id in a metric math expression",
}


def _names() -> dict[str, str]:
    """Every exact string the contract owns -> what it is."""
    names: dict[str, str] = {}
    for kind, holder in (("environment variable", contract.Env), ("metric", contract.Metric)):
        for attribute, value in vars(holder).items():
            if attribute.isupper() and isinstance(value, str):
                names[value] = f"{kind} {attribute}"
    names |= {outcome.value: f"outcome {outcome.name}" for outcome in contract.Outcome}
    names |= {kind.value: f"detail type {kind.name}" for kind in contract.DetailType}
    for constant in (
        "STATUS_INDEX",
        "ASSET_ID_INDEX",
        "METRICS_NAMESPACE",
        "SYNC_SERVICE",
        "EVENTS_SERVICE",
        "EVENT_SOURCE",
        "SYNC_HANDLER",
        "EVENTS_HANDLER",
        "HISTORY_SERVICE",
        "HISTORY_HANDLER",
        "HISTORY_SYMBOL_INDEX",
        "QUARANTINE_PREFIX",
        "DEFAULT_ASSETS_TABLE",
    ):
        names[getattr(contract, constant)] = constant
    return names


def _sources() -> Iterator[Path]:
    for folder in SCANNED:
        for path in sorted((ROOT / folder).rglob("*.py")):
            if path != CONTRACT and ".venv" not in path.parts:
                yield path


def _literals(path: Path) -> Iterator[tuple[int, str]]:
    for node in ast.walk(ast.parse(path.read_text(), str(path))):
        if isinstance(node, ast.Constant) and isinstance(node.value, str):
            yield node.lineno, node.value


def test_no_shared_name_is_written_outside_the_contract() -> None:
    names = _names()
    found = []
    for path in _sources():
        where = str(path.relative_to(ROOT))
        for line, text in _literals(path):
            rule = contract.STATE_TABLE_SUFFIX in text
            if (text in names or rule) and (where, text) not in OTHER_MEANINGS:
                what = "the state table's name rule" if rule else names[text]
                found.append(f"{where}:{line}: {text!r} ({what})")
    assert found == []


def test_every_listed_other_meaning_is_still_there() -> None:
    present = {
        (str(path.relative_to(ROOT)), text) for path in _sources() for _, text in _literals(path)
    }
    assert set(OTHER_MEANINGS) <= present


def test_each_knob_has_one_range_that_config_enforces() -> None:
    knobs = [value for value in vars(contract).values() if isinstance(value, contract.Knob)]
    assert {knob.env for knob in knobs} >= {contract.Env.FULL_RECONCILE_DAYS}
    for knob in knobs:
        settings_from_env({knob.env: f"{knob.low:g}"})
        settings_from_env({knob.env: f"{knob.high:g}"})
        for outside in (knob.low - 1, knob.high + 1):
            with pytest.raises(ValueError, match=rf"{knob.env} must be between"):
                settings_from_env({knob.env: f"{outside:g}"})


def test_the_state_table_is_named_after_its_assets_table() -> None:
    assert contract.state_table_name("t_assets") == "t_assets_sync_state"
    settings = settings_from_env({contract.Env.ASSETS_TABLE: "t_assets"})
    assert settings.state_table == contract.state_table_name("t_assets")
