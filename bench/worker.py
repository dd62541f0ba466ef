"""One implementation, one run, in its own process: `python -m bench.worker '<json spec>'`.

The last line of stdout is a JSON object: wall time and CPU time of the measured window, the
process's own peak RSS (VmHWM) and its CPU time since it started, plus
what the implementation reported. Running each cell in a fresh process isolates peak RSS.
"""

from __future__ import annotations

import cProfile
import io
import json
import os
import pstats
import resource
import sys
import time
from pathlib import Path
from typing import Any

IMPLEMENTATIONS = ("naive_put", "batch_writer", "asset_sync")


def _status_mb(field: str) -> float:
    """A `kB` figure of /proc/self/status in MB (VmHWM: this process's own peak RSS).

    Not `ru_maxrss`: on Linux it carries over the RSS of the parent's memory at fork, so a
    child of a big parent would report the parent's size.
    """
    for line in Path("/proc/self/status").read_text(encoding="ascii").splitlines():
        if line.startswith(f"{field}:"):
            return int(line.split()[1]) * 1024 / 1e6
    raise RuntimeError(f"{field} not in /proc/self/status")


def _rss_mb() -> float:
    pages = int(Path("/proc/self/statm").read_text(encoding="ascii").split()[1])
    return pages * os.sysconf("SC_PAGE_SIZE") / 1e6


PHASES = (  # the run's stage messages (`Progress.stage`), by their first word
    ("taking", "lease"),
    ("fetching", "fetch"),
    ("reading", "read + plan"),
    ("confirming", "confirm delistings"),
    ("writing", "write + record"),
)


def run_asset_sync(spec: dict[str, Any], phases: list[tuple[str, float]]) -> dict[str, Any]:
    """(c) This project's sync, exactly as the CLI and the Lambda build it.

    `phases` receives (phase, seconds since the window opened) each time the run reports a
    stage; the last phase ends when the run returns (after its final write, the run record).
    """
    from asset_sync.config import AlpacaCredentials, SyncSettings  # noqa: PLC0415
    from asset_sync.logic.sync import Progress, SyncError  # noqa: PLC0415
    from asset_sync.wiring import build_run  # noqa: PLC0415

    opened = time.perf_counter()
    names = dict(PHASES)

    def stage(message: str) -> None:
        first = message.split(" ", 1)[0]
        phases.append((names.get(first, first), time.perf_counter() - opened))

    settings = SyncSettings(
        assets_table=spec["table"],
        state_table=spec["state_table"],
        dynamodb_endpoint_url=spec["endpoint_url"],
        alpaca_base_url=spec["alpaca_url"],
        credentials=AlpacaCredentials(spec["key_id"], spec["secret_key"]),
        full=bool(spec.get("full", False)),
        full_reconcile_days=0,  # a plain run unless the scenario asks for a full one
    )
    settings.validate()
    try:
        report = build_run(settings, progress=Progress(stage=stage)).run()
    except SyncError as failed:
        report = failed.report
    phases.append(("end", time.perf_counter() - opened))
    return {
        "outcome": report.outcome,
        "message": report.message[:300],
        "full": report.full,
        **report.counts(),
        "sync_reported_requests": report.dynamodb_requests,
        "sync_reported_writes": report.dynamodb_write_requests,
        "retries": report.dynamodb_retries,
    }


def run_naive(spec: dict[str, Any]) -> dict[str, Any]:
    """(a) or (b)."""
    from bench import naive  # noqa: PLC0415

    function = naive.put_each if spec["impl"] == "naive_put" else naive.batch_writer
    result = function(
        spec["endpoint_url"],
        spec["table"],
        spec["alpaca_url"],
        spec["key_id"],
        spec["secret_key"],
        spec["now"],
    )
    return {"outcome": "succeeded", **vars(result)}


def main(argv: list[str]) -> int:
    """Run the spec in argv[1]; print the result as the last line of stdout."""
    spec: dict[str, Any] = json.loads(argv[1])
    if spec["impl"] not in IMPLEMENTATIONS:
        raise SystemExit(f"unknown implementation {spec['impl']!r}")
    # Import what the implementation needs before the window (as a warm Lambda would have).
    if spec["impl"] == "asset_sync":
        import asset_sync.wiring  # noqa: F401, PLC0415
    else:
        import bench.naive  # noqa: F401, PLC0415
    rss_before = _rss_mb()
    profiler = cProfile.Profile() if spec.get("profile") else None
    cpu0, wall0 = time.process_time(), time.perf_counter()
    if profiler:
        profiler.enable()
    phases: list[tuple[str, float]] = []
    result = run_asset_sync(spec, phases) if spec["impl"] == "asset_sync" else run_naive(spec)
    if profiler:
        profiler.disable()
    wall, cpu = time.perf_counter() - wall0, time.process_time() - cpu0
    usage = resource.getrusage(resource.RUSAGE_SELF)
    package = sys.modules.get("asset_sync")
    out: dict[str, Any] = {
        "code": str(Path(str(package.__file__)).parent) if package else None,
        "wall_s": wall,
        "cpu_s": cpu,
        "process_cpu_s": usage.ru_utime + usage.ru_stime,
        "peak_rss_mb": _status_mb("VmHWM"),
        "ru_maxrss_mb": usage.ru_maxrss * 1024 / 1e6,
        "rss_before_mb": rss_before,
        "phases": phases,
        "result": result,
    }
    if profiler:
        text = io.StringIO()
        pstats.Stats(profiler, stream=text).sort_stats("tottime").print_stats(12)
        out["profile"] = text.getvalue()
    print(json.dumps(out))
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
