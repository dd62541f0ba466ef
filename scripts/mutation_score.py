"""Score a finished `mutmut run`: killed / non-equivalent mutants, per module and in all.

Reads `mutmut results --all` and `scripts/mutation_equivalents.txt` (one `mutant-name  reason`
a line: mutants no test can kill because they do not change behaviour). A mutant without tests
counts as survived; a timeout counts as killed, and so does a listed mutant a test killed (the
listing is stale: reported). Exits 1 below `--min`.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from collections import Counter
from pathlib import Path

EQUIVALENTS = Path(__file__).with_name("mutation_equivalents.txt")
KILLED = {"killed", "timeout", "caught by type check", "segfault"}


def equivalents() -> dict[str, str]:
    """Mutant name -> why it is equivalent."""
    found: dict[str, str] = {}
    for line in EQUIVALENTS.read_text().splitlines():
        if line.strip() and not line.startswith("#"):
            name, _, reason = line.strip().partition(" ")
            found[name] = reason.strip()
    return found


def results(mutmut: str) -> dict[str, str]:
    """Mutant name -> status, from `mutmut results --all true`."""
    out = subprocess.run(  # noqa: S603 - the venv's own mutmut, fixed arguments
        [mutmut, "results", "--all", "true"], capture_output=True, text=True, check=True
    ).stdout
    statuses: dict[str, str] = {}
    for line in out.splitlines():
        name, sep, status = line.strip().rpartition(": ")
        if sep and name.startswith("asset_sync."):
            statuses[name] = status
    return statuses


def module_of(name: str) -> str:
    return name.split(".")[2] if name.count(".") >= 3 else name


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--min", type=float, default=0.90, help="fail below this score")
    parser.add_argument("--mutmut", default=str(Path(sys.executable).with_name("mutmut")))
    args = parser.parse_args()
    statuses, known = results(args.mutmut), equivalents()
    stale = sorted(set(known) - set(statuses))
    rows: dict[str, Counter[str]] = {}
    survivors: list[str] = []
    killed_but_listed: list[str] = []  # a test tells it apart: the listing is stale
    for name, status in sorted(statuses.items()):
        row = rows.setdefault(module_of(name), Counter())
        row["mutants"] += 1
        if status in KILLED:
            row["killed"] += 1
            if name in known:
                killed_but_listed.append(name)
        elif name in known:
            row["equivalent"] += 1
        else:
            row["survived"] += 1
            survivors.append(f"{name}: {status}")
    total: Counter[str] = sum(rows.values(), Counter())
    print(f"{'module':<12} {'mutants':>8} {'killed':>7} {'survived':>9} {'equiv.':>7} {'score':>7}")
    for module, row in [*sorted(rows.items()), ("all", total)]:
        judged = row["mutants"] - row["equivalent"]
        score = row["killed"] / judged if judged else 1.0
        print(
            f"{module:<12} {row['mutants']:>8} {row['killed']:>7} {row['survived']:>9} "
            f"{row['equivalent']:>7} {score:>7.1%}"
        )
    print("\nsurvivors:" if survivors else "\nno survivors")
    for line in survivors:
        print(f"  {line}")
    if stale:
        print(f"\n{len(stale)} listed equivalents no longer exist (renumbered?): {stale[:5]}")
    if killed_but_listed:
        print(f"\n{len(killed_but_listed)} listed as equivalent but killed (renumbered?), counted")
        print(f"killed: {killed_but_listed[:5]}")
    judged = total["mutants"] - total["equivalent"]
    score = total["killed"] / judged if judged else 1.0
    if score < args.min:
        print(f"\nFAILED: {score:.1%} of the non-equivalent mutants killed, below {args.min:.0%}")
        return 1
    print(f"\n{score:.1%} of the non-equivalent mutants killed (target {args.min:.0%})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
