"""`asset-sync demo` runs the history writer on the records it reads and prints the difference
between the universe as of day 1 and as of day 2: that difference is day 2's report."""

from __future__ import annotations

import re

from asset_sync.local.demo import run_demo


def test_the_demo_prints_how_the_universe_changed_from_day_1_to_day_2() -> None:
    printed: list[str] = []

    result = run_demo(200, seed=11, echo=printed.append)

    assert result.ok, result.problems
    text = "\n".join(printed)
    day2 = result.reports[1]
    found = re.search(
        r"as of day 1 \(\S+\): ([\d,]+) active assets; as of day 2 \(\S+\): ([\d,]+)\n"
        r"  entered (\d+), left (\d+), moved to another ticker (\d+)",
        text,
    )
    assert found is not None, text[-2000:]
    before, after, entered, left, moved = (int(g.replace(",", "")) for g in found.groups())
    assert (before, entered, left, moved) == (200, day2.created, day2.delisted, day2.renamed)
    assert after == before + entered - left
    writes = [int(n) for n in re.findall(r"^history: ([\d,]+) versions written", text, re.M)]
    assert writes == [200, day2.created + day2.updated + day2.delisted + day2.renamed, 0]
