"""Audit pinned requirements against the vulnerabilities PyPI's project JSON API reports.

`python scripts/audit_pins.py requirements/lambda.txt` (what `make audit` and CI run)

A fallback for machines where `pip-audit` cannot reach a vulnerability service: OSV's API is
unreachable and PyPI's per-version endpoint (`/pypi/<name>/<version>/json`, what pip-audit's
default service reads) answers 404, while the project endpoint (`/pypi/<name>/json`) is served.
That endpoint's `vulnerabilities` list is for the project's latest release only, so a pin that
is not the latest release cannot be audited this way: it is reported as NOT AUDITED (a prompt to
bump it), which fails the audit only with `--strict`. Exit 1 on any known vulnerability.
The index is pip's own (PIP_INDEX_URL, else pip's default), so no host is named here.
"""

from __future__ import annotations

import json
import os
import re
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)")


def project_url(name: str) -> str:
    """The JSON API address of a project on the index pip uses."""
    index = os.environ.get("PIP_INDEX_URL")
    if index:
        base = index.rstrip("/").removesuffix("/simple")
    else:
        from pip._internal.models.index import PyPI  # noqa: PLC0415 - pip's default index

        base = PyPI.url.rstrip("/")
    return f"{base}/pypi/{name}/json"


def pins(requirements: Path) -> list[tuple[str, str]]:
    """`name==version` pins of a requirements file (hash continuation lines skipped)."""
    found = []
    for line in requirements.read_text().splitlines():
        match = PIN.match(line.strip())
        if match:
            found.append((match.group(1), match.group(2)))
    return found


def project(name: str) -> dict[str, object]:
    """PyPI's project JSON, with three bounded attempts."""
    for attempt in range(3):
        try:
            url = project_url(name)
            if not url.startswith("https://"):
                raise ValueError(f"refusing a non-https index: {url}")
            with urllib.request.urlopen(url, timeout=30) as response:  # noqa: S310 - https only
                data: dict[str, object] = json.load(response)
                return data
        except (urllib.error.URLError, TimeoutError):
            if attempt == 2:
                raise
            time.sleep(2**attempt)
    raise AssertionError("unreachable")


def main(argv: list[str]) -> int:
    """Audit each pin; exit 1 on a known vulnerability (or an unauditable pin with --strict)."""
    strict = "--strict" in argv
    paths = [a for a in argv if a != "--strict"]
    failures = 0
    for name, version in pins(Path(paths[0] if paths else "requirements/lambda.txt")):
        data = project(name)
        info = data.get("info")
        latest = info.get("version") if isinstance(info, dict) else None
        vulns = data.get("vulnerabilities") or []
        assert isinstance(vulns, list)
        if latest != version:
            print(f"{name}=={version}: NOT AUDITED (the index reports {latest}'s only): bump it")
            failures += int(strict)
        elif vulns:
            ids = ", ".join(str(v.get("id")) for v in vulns if isinstance(v, dict))
            print(f"{name}=={version}: {len(vulns)} known vulnerabilities: {ids}")
            failures += 1
        else:
            print(f"{name}=={version}: no known vulnerabilities")
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
