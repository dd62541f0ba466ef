"""Quiet jsii's end-of-life warning for the machine's own Node in test output.

aws-cdk-lib's Python bindings start the jsii runtime on Node, which prints a framed warning on
every start when that Node is past its end of life. The variable lists the *major versions* it
silences (``20``, or ``18,20``), not a flag. The Node version is the machine's, not the
project's (package.json states the supported ones).
"""

from __future__ import annotations

import os
import subprocess

VARIABLE = "JSII_SILENCE_WARNING_END_OF_LIFE_NODE_VERSION"


def node_major() -> str | None:
    """The major version of `node` on PATH, or None without one."""
    try:
        version = subprocess.run(
            ["node", "--version"], capture_output=True, text=True, timeout=30, check=True
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return None
    return version.strip().removeprefix("v").split(".")[0] or None


def silence_node_end_of_life() -> None:
    """Set the variable for this process and its children (unless already set)."""
    major = node_major()
    if major is not None:
        os.environ.setdefault(VARIABLE, major)
