#!/usr/bin/env python3
"""Measure the Lambda artifact: its size, and the handler's cold import time from it.

`python scripts/measure_artifact.py [ZIP]` extracts ZIP (default: the artifact for this machine,
`dist/lambda-x86_64.zip` from `scripts/package_lambda.py --arch x86_64`, or `dist/lambda.zip` on
arm64) into a fresh directory and reports its size (zipped, unzipped, files, and by top-level
package). Then it imports `asset_sync.handler` in fresh python3.12 interpreters (`-I -B -X
importtime`, the extracted tree first on sys.path, as Lambda puts /var/task first), RUNS times
each, and reports medians: the `-X importtime` cumulative time of the handler, the wall time of
the process against a bare `python -c pass`, and the largest top-level imports. As on Lambda,
where /var/task is read-only and the artifact ships no bytecode, every run compiles the
artifact's modules from source; a second series with bytecode compiled beforehand shows what
shipping .pyc files would save.

Stdlib only; python3.12 is found as `scripts/old_runtime_env.py` finds it (or --python).
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

from old_runtime_env import find_python312

ROOT = Path(__file__).resolve().parent.parent
RUNS = 5
HANDLER = "asset_sync.handler"
TOP_IMPORTS = 6


@dataclass(frozen=True)
class ImportSeries:
    """Medians over the runs of one series."""

    cumulative_ms: list[float]  # `-X importtime` cumulative time of the handler, per run
    wall_ms: list[float]  # the interpreter process, per run
    cpu_ms: list[float]  # its user + system CPU time (steadier than wall on a loaded machine)
    package_ms: dict[str, float]  # top-level package -> median of its modules' summed self time


def default_zip() -> Path:
    """The artifact built for this machine's architecture."""
    machine = platform.machine().lower()
    name = "lambda" if machine in {"aarch64", "arm64"} else f"lambda-{machine}"
    return ROOT / "dist" / f"{name}.zip"


def sizes_by_package(tree: Path) -> dict[str, int]:
    """Unzipped bytes by top-level entry, a distribution's metadata counted with its package."""
    sizes: dict[str, int] = defaultdict(int)
    for path in tree.rglob("*"):
        if path.is_file():
            top = path.relative_to(tree).parts[0]
            name = top.split("-")[0] if top.endswith(".dist-info") else top.removesuffix(".py")
            sizes[name.lower().replace("python_", "")] += path.stat().st_size
    return dict(sorted(sizes.items(), key=lambda item: -item[1]))


def _children_cpu_s() -> float:
    usage = resource.getrusage(resource.RUSAGE_CHILDREN)
    return usage.ru_utime + usage.ru_stime


def _run_timed(cmd: list[str]) -> tuple[float, float, str]:
    """(wall ms, CPU ms, stderr) of one child process (run one at a time)."""
    cpu_before, started = _children_cpu_s(), time.perf_counter()
    completed = subprocess.run(cmd, capture_output=True, text=True, check=False)  # noqa: S603
    wall_ms = (time.perf_counter() - started) * 1000
    cpu_ms = (_children_cpu_s() - cpu_before) * 1000
    if completed.returncode != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed:\n{completed.stderr[-2000:]}")
    return wall_ms, cpu_ms, completed.stderr


def parse_importtime(stderr: str) -> tuple[dict[str, float], dict[str, float]]:
    """(module -> cumulative ms, top-level package -> summed self ms) from `-X importtime`."""
    cumulative_ms: dict[str, float] = {}
    self_ms: dict[str, float] = defaultdict(float)
    for line in stderr.splitlines():
        if not line.startswith("import time:") or line.count("|") != 2:
            continue
        own, cumulative, name = line.removeprefix("import time:").split("|")
        if cumulative.strip().isdigit():  # not the header line
            cumulative_ms[name.strip()] = int(cumulative) / 1000
            self_ms[name.strip().split(".")[0]] += int(own) / 1000
    return cumulative_ms, dict(self_ms)


def import_series(python: Path, tree: Path, runs: int) -> ImportSeries:
    """Import the handler from tree in `runs` fresh interpreters."""
    code = f"import sys; sys.path.insert(0, {str(tree)!r}); import {HANDLER}"
    cumulative, walls, cpus = [], [], []
    packages: dict[str, list[float]] = defaultdict(list)
    for _ in range(runs):
        wall_ms, cpu_ms, stderr = _run_timed(
            [str(python), "-I", "-B", "-X", "importtime", "-c", code]
        )
        modules, by_package = parse_importtime(stderr)
        cumulative.append(modules[HANDLER])
        walls.append(wall_ms)
        cpus.append(cpu_ms)
        for name, ms in by_package.items():
            packages[name].append(ms)
    package_ms = {name: statistics.median(values) for name, values in packages.items()}
    return ImportSeries(cumulative, walls, cpus, package_ms)


def bare_times_ms(python: Path, runs: int) -> tuple[list[float], list[float]]:
    """Wall and CPU times of `python -c pass`."""
    times = [_run_timed([str(python), "-I", "-B", "-c", "pass"])[:2] for _ in range(runs)]
    return [wall for wall, _ in times], [cpu for _, cpu in times]


def _fmt(values: list[float]) -> str:
    return f"median {statistics.median(values):.0f} ms ({', '.join(f'{v:.0f}' for v in values)})"


def report(python: Path, zip_path: Path, runs: int) -> None:
    """Measure and print."""
    mib = 1024 * 1024
    with tempfile.TemporaryDirectory(prefix="lambda-artifact-") as scratch:
        tree = Path(scratch) / "task"
        with zipfile.ZipFile(zip_path) as archive:
            archive.extractall(tree)
        files = [p for p in tree.rglob("*") if p.is_file()]
        unzipped = sum(p.stat().st_size for p in files)
        print(
            f"artifact: {zip_path.relative_to(ROOT) if zip_path.is_relative_to(ROOT) else zip_path}"
        )
        print(
            f"  zipped   {zip_path.stat().st_size} bytes ({zip_path.stat().st_size / mib:.2f} MiB)"
        )
        print(f"  unzipped {unzipped} bytes ({unzipped / mib:.2f} MiB), {len(files)} files")
        by_package = ", ".join(f"{k} {v / mib:.2f}" for k, v in sizes_by_package(tree).items())
        print(f"  by package (MiB): {by_package}")

        version = subprocess.run(  # noqa: S603 - fixed argv
            [str(python), "-c", "import sys; print(sys.version.split()[0])"],
            capture_output=True, text=True, check=True,
        ).stdout.strip()  # fmt: skip
        print(f"python {version} ({python}), {runs} fresh interpreters per series")
        load = ", ".join(f"{v:.1f}" for v in os.getloadavg())
        print(f"  {os.cpu_count()} CPUs, load average before the runs: {load}")
        bare_wall, bare_cpu = bare_times_ms(python, runs)
        cold = import_series(python, tree, runs)
        subprocess.run(  # noqa: S603 - bytecode for the measuring python3.12
            [str(python), "-m", "compileall", "-q", str(tree)], check=True
        )
        warm = import_series(python, tree, runs)
    print(f"  bare interpreter (python -c pass): wall {_fmt(bare_wall)}; CPU {_fmt(bare_cpu)}")
    for label, series in (("no bytecode (as shipped)", cold), ("bytecode precompiled", warm)):
        extra = statistics.median(series.wall_ms) - statistics.median(bare_wall)
        extra_cpu = statistics.median(series.cpu_ms) - statistics.median(bare_cpu)
        top = sorted(series.package_ms.items(), key=lambda item: -item[1])[:TOP_IMPORTS]
        print(f"  {label}:")
        print(f"    -X importtime cumulative {HANDLER}: {_fmt(series.cumulative_ms)}")
        print(f"    process wall: {_fmt(series.wall_ms)}; minus bare: {extra:.0f} ms")
        print(f"    process CPU: {_fmt(series.cpu_ms)}; minus bare: {extra_cpu:.0f} ms")
        print("    by package, own modules only (median of summed self ms): " + ", ".join(
            f"{name} {ms:.0f}" for name, ms in top
        ))  # fmt: skip


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("zip", nargs="?", type=Path, default=default_zip())
    parser.add_argument("--python", type=Path, help="a python3.12 (default: found on this machine)")
    parser.add_argument("--runs", type=int, default=RUNS)
    args = parser.parse_args(argv)
    python = args.python or find_python312()
    if python is None:
        print("error: python3.12 not found (see scripts/old_runtime_env.py)", file=sys.stderr)
        return 2
    if not args.zip.is_file():
        print(f"error: {args.zip} not found: build it with scripts/package_lambda.py --arch ...")
        return 2
    report(python, args.zip.resolve(), args.runs)
    return 0


if __name__ == "__main__":
    sys.exit(main())
