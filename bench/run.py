"""`make bench`: the sync against the naive implementations; writes docs/benchmarks.md.

    python -m bench.run            # full: N = 12,000 and 35,000 -> docs/, bench/results/
    python -m bench.run --quick    # N = 500 and 1,500, one run each -> a temporary directory

Everything listens on 127.0.0.1 only: moto's server, the counting proxy, the Alpaca stand-in.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import shutil
import sys
import tempfile
import time
from pathlib import Path

from asset_sync.dal.client import dynamodb_client
from asset_sync.local.moto_server import LOCAL_CREDENTIALS
from asset_sync.local.stand_in import AlpacaStandIn
from bench import cells, handwritten, measures, reading, records, report, targets
from bench.capture import CapturingProxy
from bench.cells import KEY_ID, SECRET, Infra, run_cell
from bench.moto_transactions import BenchMotoServer
from bench.plot import plot
from bench.records import Profile, Results, ScenarioSize, SizeFigures
from bench.scenarios import SCENARIOS, Scenario, make_scenarios

ROOT = Path(__file__).resolve().parent.parent
FULL_SIZES = (12_000, 35_000)
QUICK_SIZES = (500, 1_500)


def log(message: str) -> None:
    """Progress on stderr, flushed (the full run takes long)."""
    print(f"[{time.strftime('%H:%M:%S')}] {message}", file=sys.stderr, flush=True)


def repetitions(quick: bool, n: int, scenario: str, impl: str) -> int:
    """Runs per cell: 3 at 12,000; at 35,000 one, except the no-change re-runs of (b) and (c)
    and (c)'s full reconciliation of an unchanged table (compared with its plain re-run)."""
    if quick:
        return 1
    if n <= 12_000:
        return 3
    if scenario == "nochange" and impl in ("batch_writer", "asset_sync"):
        return 3
    if scenario == "fullnochange":
        return 3
    return 1


REPETITIONS_NOTE = (
    "3 runs per cell at N = 12,000. At N = 35,000, to keep `make bench` near an hour, one run "
    "per cell except the no-change re-runs of (b) and (c) and (c)'s full "
    "reconciliation of an unchanged table, which have 3 (the targets and the full-run section "
    "compare them); a moto-bound run there takes 1 to 3 minutes and its spread at 12,000 is a "
    "few percent (see the runs in brackets)."
)


def src_digest(package: Path = ROOT / "src" / "asset_sync") -> str:
    """sha256 of asset_sync/**/*.py: which version of the code under test was measured."""
    digest = hashlib.sha256()
    for path in sorted(package.rglob("*.py")):
        digest.update(path.relative_to(package.parent).as_posix().encode())
        digest.update(path.read_bytes())
    return digest.hexdigest()[:16]


def snapshot_src(into: Path) -> str:
    """Copy src/asset_sync to `into`; every worker imports that copy (edits during a long run
    cannot mix versions). Returns the copy's digest."""
    shutil.copytree(
        ROOT / "src" / "asset_sync",
        into / "asset_sync",
        ignore=shutil.ignore_patterns("__pycache__"),
    )
    cells.CODE_PATH[:] = [str(into)]
    return src_digest(into / "asset_sync")


def _scenario_size(scenario: Scenario) -> ScenarioSize:
    size = ScenarioSize(k=len(scenario.touched), served=len(scenario.served))
    if scenario.reassignments is not None:
        size.identity_changes = scenario.reassignments.identity_changes
        size.identity_items = scenario.reassignments.identity_items
        size.identity_by_kind = scenario.reassignments.by_kind()
    return size


def _size_figures(n: int, scenarios: dict[str, Scenario]) -> SizeFigures:
    sizes = {name: _scenario_size(scenario) for name, scenario in scenarios.items()}
    return SizeFigures(
        **sizes, item_bytes=measures.item_bytes(n), state_bytes=measures.state_bytes(n)
    )


def _profile(infra: Infra, n: int, scenario: Scenario) -> Profile:
    """One extra (c) no-change run under cProfile (not in the tables)."""
    log("profiling one extra (c) no-change run (not in the table)")
    infra.alpaca.set_assets(scenario.served)
    first = run_cell(infra, n, scenario, "asset_sync", 1, log, profile=True).runs[0]
    return Profile(
        n=n,
        summary=(
            f"N = {n:,}, one extra run under cProfile: {first.wall_s:.1f} s wall "
            f"(cProfile slows it), sync process CPU {first.cpu_s:.1f} s, moto "
            f"server CPU {first.moto_cpu_s:.1f} s. Top functions of the sync "
            "process by own time: the sync spends its wall time waiting on the "
            "socket for moto's answers."
        ),
        text=first.profile if isinstance(first.profile, str) else "",
    )


def run(quick: bool, out_dir: Path) -> Results:
    """Every cell for every N; the raw results."""
    os.environ.update(LOCAL_CREDENTIALS)
    started = time.perf_counter()
    sizes = QUICK_SIZES if quick else FULL_SIZES
    snapshot = Path(tempfile.mkdtemp(prefix="asset-sync-bench-src-"))
    digest = snapshot_src(snapshot)
    if digest != src_digest():
        log("src/ changed while it was copied; the copy's digest is recorded")
    note = "1 run per cell (quick mode)" if quick else REPETITIONS_NOTE
    results = Results(
        meta=measures.machine("quick" if quick else "full", digest, note), sizes=list(sizes)
    )
    log("measuring handler import time")
    results.import_time = measures.import_time()
    for n in sizes:
        catalog = measures.equity_catalog(n)
        scenarios = make_scenarios(catalog, seed=n)
        results.scenarios[str(n)] = _size_figures(n, scenarios)
        with (
            BenchMotoServer() as moto,
            CapturingProxy(moto.url) as proxy,
            AlpacaStandIn(catalog, key_id=KEY_ID, secret_key=SECRET) as alpaca,
        ):
            assert moto.process is not None
            client = dynamodb_client("us-east-1", moto.url)
            infra = Infra(moto.url, moto.process.pid, proxy, alpaca, client)
            for name in SCENARIOS:
                scenario = scenarios[name]
                alpaca.set_assets(scenario.served)
                for impl in scenario.impls:
                    reps = repetitions(quick, n, name, impl)
                    results.cells.append(run_cell(infra, n, scenario, impl, reps, log))
                    _save(results, out_dir)
            if n == sizes[0]:
                results.profile = _profile(infra, n, scenarios["nochange"])
    results.meta.total_s = time.perf_counter() - started
    results.meta.src_changed_during_run = src_digest() != digest
    shutil.rmtree(snapshot, ignore_errors=True)
    results.analysis = reading.analysis(results)
    results.targets = targets.evaluate(results)
    return results


def _save(results: Results, out_dir: Path) -> None:
    out_dir.mkdir(parents=True, exist_ok=True)
    (out_dir / "latest.json.tmp").write_text(records.dumps(results), encoding="utf-8")


DOC = ROOT / "docs" / "benchmarks.md"


def previous_doc() -> str | None:
    """The committed docs/benchmarks.md (its hand-written blocks are kept), if any."""
    return DOC.read_text(encoding="utf-8") if DOC.exists() else None


def write_outputs(results: Results, doc_dir: Path, results_dir: Path) -> None:
    """latest.json, then benchmarks.png and benchmarks.md (with the hand-written blocks of
    docs/benchmarks.md put back: a quick run's doc shows them too)."""
    doc_dir.mkdir(parents=True, exist_ok=True)
    results_dir.mkdir(parents=True, exist_ok=True)
    (results_dir / "latest.json").write_text(records.dumps(results), encoding="utf-8")
    (results_dir / "latest.json.tmp").unlink(missing_ok=True)
    plot(results, doc_dir / "benchmarks.png")
    text = handwritten.regenerate(report.markdown(results, "benchmarks.png"), previous_doc())
    (doc_dir / "benchmarks.md").write_text(text, encoding="utf-8")


def main(argv: list[str] | None = None) -> int:
    """Entry point of `python -m bench.run`."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0] if __doc__ else None)
    parser.add_argument("--quick", action="store_true", help="N = 500 and 1,500, one run each")
    parser.add_argument(
        "--rebuild", action="store_true", help="only rewrite the doc and plot from latest.json"
    )
    args = parser.parse_args(argv)
    kept = handwritten.blocks(previous_doc() or "")  # malformed markers fail now, not in 90 min
    log(f"hand-written blocks of {DOC.name} to keep: {', '.join(b.name for b in kept) or 'none'}")
    if args.quick:
        out = Path(tempfile.mkdtemp(prefix="asset-sync-bench-"))
        doc_dir = results_dir = out
    else:
        doc_dir, results_dir = ROOT / "docs", ROOT / "bench" / "results"
    if args.rebuild:
        results = records.load(results_dir / "latest.json")
        results.analysis = reading.analysis(results)
        results.targets = targets.evaluate(results)
    else:
        results = run(args.quick, results_dir)
    write_outputs(results, doc_dir, results_dir)
    log(f"wrote {doc_dir / 'benchmarks.md'}, {doc_dir / 'benchmarks.png'}, "
        f"{results_dir / 'latest.json'}")  # fmt: skip
    for verdict in results.targets:
        log(f"{'met   ' if verdict.met else 'MISSED'} {verdict.target}: {verdict.detail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
