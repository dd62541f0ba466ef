"""docs/benchmarks.png: time, write requests and write units per scenario and implementation."""

from __future__ import annotations

import math
import textwrap
from pathlib import Path

from bench.records import Figure, Results
from bench.scenarios import IMPL_TITLES, IMPLS, SCENARIO_TITLES, SCENARIOS
from bench.text import short

COLORS = {"naive_put": "#d62728", "batch_writer": "#ff7f0e", "asset_sync": "#2ca02c"}
PANELS: tuple[tuple[Figure, str], ...] = (
    ("wall_s", "wall time, s (median)"),
    ("write_requests", "write requests"),
    ("wcu", "write units (assets + GSI + run state)"),
)


def plot(results: Results, path: Path) -> None:
    """Three panels per N, bars by implementation, log scale.

    Scenarios measured for (c) only (full reconciliation) have no peer bars: 'n/a' is written
    where they would be.
    """
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    sizes = results.sizes
    figure, axes = plt.subplots(len(sizes), 3, figsize=(21, 4.8 * len(sizes)), squeeze=False)
    width = 0.27
    for row, n in enumerate(sizes):
        for col, (key, label) in enumerate(PANELS):
            axis = axes[row][col]
            for offset, impl in enumerate(IMPLS):
                values = []
                for scenario in SCENARIOS:
                    entry = results.cell(n, scenario, impl)
                    values.append(max(entry.median(key), 0.05) if entry else math.nan)
                xs = [i + (offset - 1) * width for i in range(len(SCENARIOS))]
                bars = axis.bar(xs, values, width, label=IMPL_TITLES[impl], color=COLORS[impl])
                axis.bar_label(
                    bars,
                    labels=["" if math.isnan(v) else short(v, key == "wall_s") for v in values],
                    fontsize=7, padding=1,
                )  # fmt: skip
                for x, value in zip(xs, values, strict=True):
                    if math.isnan(value):  # no such mode: say so where the bar would be
                        axis.text(
                            x, 0.02, "n/a", transform=axis.get_xaxis_transform(),
                            ha="center", va="bottom", fontsize=6, rotation=90, color="#777777",
                        )  # fmt: skip
            axis.set_yscale("log")
            axis.set_xticks(range(len(SCENARIOS)))
            axis.set_xticklabels(
                [textwrap.fill(SCENARIO_TITLES[s], 16) for s in SCENARIOS], fontsize=7.5
            )
            axis.set_title(f"N = {n:,}: {label}", fontsize=10)
            axis.grid(axis="y", which="both", alpha=0.3)
    handles, labels = axes[0][0].get_legend_handles_labels()
    figure.legend(handles, labels, loc="lower center", ncol=3, fontsize=9)
    figure.suptitle("asset-sync vs naive peers on moto's server (log scale)")
    figure.tight_layout(rect=(0, 0.04, 1, 1))
    figure.savefig(path, dpi=110)
    plt.close(figure)
