"""How many examples a property test tries: `HYPOTHESIS_EXAMPLES_SCALE` (default 1) scales them.

`make mutation` runs the unit suite once per mutant and sets a smaller scale; `make test` keeps
the full counts.
"""

from __future__ import annotations

import os

SCALE = float(os.environ.get("HYPOTHESIS_EXAMPLES_SCALE", "1"))


def examples(count: int) -> int:
    """`count` scaled, at least 10."""
    return max(10, round(count * SCALE))
