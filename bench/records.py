"""The benchmark's results as typed records: what `bench.run` measures, what
bench/results/latest.json holds (`load` / `dump` round-trip it) and what the report reads."""

from __future__ import annotations

import itertools
import json
import statistics
from pathlib import Path
from typing import Literal

import msgspec
from msgspec import UNSET, UnsetType

# A per-run figure the report takes medians of (a `Run` field holding a number).
Figure = Literal[
    "wall_s", "cpu_s", "moto_cpu_s", "rss_before_mb", "requests_total", "write_requests",
    "response_bytes", "item_writes", "gsi_wcu", "wcu", "assets_table_item_writes",
    "assets_wcu", "state_table_wcu", "transact_wcu", "rcu", "items_read", "alpaca_lookups",
    "alpaca_lists",
]  # fmt: skip
ReportValue = str | int | bool  # a value of the run report's summary (`bench.worker`)


class Run(msgspec.Struct, kw_only=True):
    """One measured run of one implementation: its times, requests, units and report."""

    wall_s: float
    cpu_s: float  # the sync process, during the measured window
    process_cpu_s: float  # the sync process since it started
    peak_rss_mb: float
    rss_before_mb: float
    moto_cpu_s: float
    code: str | None  # where the worker imported asset_sync from
    setup_s: float
    load1: float
    requests: dict[str, int]  # by DynamoDB operation, as the proxy saw them
    requests_total: int
    write_requests: int
    request_bytes: int
    response_bytes: int
    item_writes: int
    failed_item_writes: int
    conditional_puts: int
    base_wcu: int
    gsi_wcu: int  # every index of the assets table
    gsi_wcu_by_index: dict[str, int] = {}
    wcu: int
    assets_table_item_writes: int
    assets_wcu: int
    state_table_wcu: int
    transact_wcu: int
    rcu: float
    rcu_by_op: dict[str, float]
    items_read: int
    alpaca_lookups: int
    alpaca_lists: int
    phases: list[tuple[str, float]]  # (phase, seconds since the window opened)
    result: dict[str, ReportValue]
    check: str  # "ok", or what differs from what the scenario asks
    profile: str | UnsetType = UNSET
    foreign_sample: int | UnsetType = UNSET  # items carrying another service's attributes
    foreign_survived: int | UnsetType = UNSET

    def count(self, name: str) -> int:
        """One of the run report's counts (0 when absent)."""
        value = self.result.get(name, 0)
        return value if isinstance(value, int) else 0

    def phase_durations(self) -> dict[str, float]:
        """Seconds per phase of a (c) run, from its stage timestamps (`bench.worker.PHASES`)."""
        out: dict[str, float] = {}
        for (name, start), (_, end) in itertools.pairwise(self.phases):
            out[name] = out.get(name, 0.0) + end - start
        return out


class Cell(msgspec.Struct, kw_only=True):
    """Every run of one (N, scenario, implementation)."""

    n: int
    scenario: str
    impl: str
    runs: list[Run] = []

    def median(self, figure: Figure) -> float:
        """Median of a per-run figure."""
        return float(statistics.median(getattr(run, figure) for run in self.runs))

    def most(self, figure: Figure) -> float:
        """Largest value of a per-run figure."""
        return float(max(getattr(run, figure) for run in self.runs))

    def median_count(self, name: str) -> float:
        """Median of one of the run report's counts."""
        return float(statistics.median(run.count(name) for run in self.runs))

    def median_phase(self, phase: str) -> float:
        """Median duration of one phase (0 when the runs have none)."""
        return float(statistics.median(r.phase_durations().get(phase, 0.0) for r in self.runs))

    def median_requests(self, operation: str) -> float:
        """Median count of one DynamoDB operation's requests."""
        return float(statistics.median(run.requests.get(operation, 0) for run in self.runs))

    def median_rcu(self, operation: str) -> float:
        """Median read units of one DynamoDB operation."""
        return float(statistics.median(run.rcu_by_op.get(operation, 0.0) for run in self.runs))

    def median_index_units(self, index: str) -> float:
        """Median write units on one index of the assets table."""
        return float(statistics.median(run.gsi_wcu_by_index.get(index, 0) for run in self.runs))

    def median_cpu_both(self) -> float:
        """Median CPU of the sync process plus moto's server: what the run costs the machine,
        much less sensitive to other load than its wall time."""
        return float(statistics.median(run.cpu_s + run.moto_cpu_s for run in self.runs))

    def peak_rss(self) -> float:
        """The largest peak RSS over the runs."""
        return max(run.peak_rss_mb for run in self.runs)

    def loads(self) -> str:
        """The 1-minute load average after each run."""
        return ", ".join(format(run.load1, ".1f") for run in self.runs)


class ScenarioSize(msgspec.Struct, kw_only=True):
    """How many assets a scenario changes (`k`) and how many records the catalog serves."""

    k: int
    served: int
    identity_changes: int | UnsetType = UNSET  # transactions a correct run sends
    identity_items: int | UnsetType = UNSET  # items those transactions write
    identity_by_kind: dict[str, int] | UnsetType = UNSET  # identity changes by kind


class ItemBytes(msgspec.Struct, kw_only=True):
    """Item sizes by DynamoDB's rules, as each implementation stores them."""

    asset_sync_mean: float
    asset_sync_max: int
    naive_mean: float
    naive_max: int


class StateBytes(msgspec.Struct, kw_only=True):
    """Python memory per item of the planner's view of the table (tracemalloc)."""

    whole_per_item: float
    projected_per_item: float


class SizeFigures(msgspec.Struct, kw_only=True):
    """What one N's scenarios are, and its items' sizes."""

    initial: ScenarioSize
    nochange: ScenarioSize
    changed1: ScenarioSize
    delisted5: ScenarioSize
    fullnochange: ScenarioSize
    fulldrift: ScenarioSize
    reassigned: ScenarioSize | UnsetType = UNSET
    item_bytes: ItemBytes
    state_bytes: StateBytes

    def scenario(self, name: str) -> ScenarioSize:
        """The figures of a scenario by its name."""
        size: ScenarioSize | UnsetType = getattr(self, name)
        if isinstance(size, UnsetType):
            raise KeyError(f"no scenario {name!r} in these results")
        return size


class Meta(msgspec.Struct, kw_only=True):
    """The machine, the versions and the run as a whole."""

    date: str
    cpu_model: str
    nproc: int
    mem_gb: float
    python: str
    moto: str
    boto3: str
    botocore: str
    mode: str
    src_digest: str
    repetitions_note: str
    total_s: float = 0.0
    src_changed_during_run: bool = False


class ImportTime(msgspec.Struct, kw_only=True):
    """The handler's import time (`python -X importtime`, fresh interpreters)."""

    importtime_ms: list[int]
    importtime_ms_median: float
    fresh_interpreter_ms_median: float
    bare_interpreter_ms_median: float
    top: str


class Profile(msgspec.Struct, kw_only=True):
    """One extra (c) run under cProfile."""

    n: int
    summary: str
    text: str


class Verdict(msgspec.Struct, kw_only=True):
    """One target: its name, whether it was met, and the figures that say so."""

    target: str
    met: bool
    detail: str


class Results(msgspec.Struct, kw_only=True):
    """A whole benchmark: what bench/results/latest.json holds."""

    meta: Meta
    sizes: list[int]
    scenarios: dict[str, SizeFigures] = {}
    cells: list[Cell] = []
    import_time: ImportTime | UnsetType = UNSET
    profile: Profile | UnsetType = UNSET
    analysis: list[str] = []
    targets: list[Verdict] = []

    def cell(self, n: int, scenario: str, impl: str) -> Cell | None:
        """The cell, if measured."""
        for entry in self.cells:
            if entry.n == n and entry.scenario == scenario and entry.impl == impl:
                return entry
        return None

    def size(self, n: int) -> SizeFigures:
        """The scenarios' figures at N = n."""
        return self.scenarios[str(n)]

    def load_range(self) -> str:
        """Min, median and max of the 1-minute load average after each run."""
        loads = [run.load1 for entry in self.cells for run in entry.runs]
        if not loads:
            return "n/a"
        return f"min {min(loads):.1f}, median {statistics.median(loads):.1f}, max {max(loads):.1f}"


def load(path: Path) -> Results:
    """The results in `path` (latest.json), validated against the records."""
    return msgspec.json.decode(path.read_bytes(), type=Results)


def dumps(results: Results) -> str:
    """The JSON of bench/results/latest.json (indented, keys sorted: diffs stay readable)."""
    return json.dumps(msgspec.to_builtins(results), indent=1, sort_keys=True)
