"""`python -m tests.support.measure_rss CMD...`: run CMD, pass its output on, report its peak RSS.

The measuring process is the child's only parent, so `RUSAGE_CHILDREN` holds exactly that child's
(and its own descendants') peak resident set size. The last stderr line is `MAXRSS_KB=<n>`; the
exit code is the child's.
"""

from __future__ import annotations

import resource
import subprocess
import sys


def main() -> int:
    completed = subprocess.run(sys.argv[1:], capture_output=True, check=False, timeout=300)
    sys.stdout.buffer.write(completed.stdout)
    sys.stderr.buffer.write(completed.stderr)
    peak = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss  # KiB on Linux
    sys.stderr.write(f"\nMAXRSS_KB={peak}\n")
    return completed.returncode


if __name__ == "__main__":
    sys.exit(main())
