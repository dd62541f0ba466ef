#!/usr/bin/env python3
"""An older Lambda runtime's libraries, for the artifact test: python3.12 with boto3 1.34.

`python scripts/old_runtime_env.py` (what `make old-runtime-env`, and so `make test`, runs)
creates `.venv-old-runtime/` from a python3.12 interpreter found on this machine and installs
the hash-pinned `requirements/old-runtime.txt` into it (boto3 1.34, botocore 1.34, urllib3 1.26
and their dependencies; no pip, nothing else). It is rebuilt only when that file or the
interpreter changes, under a file lock (pytest-xdist workers may ask at the same time). Without
python3.12 it says so and exits 0: tests/infra/test_artifact_runs.py then skips with that reason.

Stdlib only; the install uses this interpreter's pip with `--python` (pip's configured index).
"""

from __future__ import annotations

import fcntl
import hashlib
import os
import shutil
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV_DIR = ROOT / ".venv-old-runtime"
REQUIREMENTS = ROOT / "requirements" / "old-runtime.txt"
STAMP = ENV_DIR / ".installed-stamp"
LOCK = ROOT / ".venv-old-runtime.lock"
PYTHON_VERSION = (3, 12)  # the Lambda runtime the artifact is built for
MISSING_PYTHON = (
    "python3.12 (the Lambda runtime's Python) is not installed: the artifact cannot be run here. "
    "Install it (for example `pyenv install 3.12`, or set PYTHON312=/path/to/python3.12)."
)


class OldRuntimeError(Exception):
    """The old-runtime environment could not be created."""


def _candidates() -> Iterator[Path]:
    """Places a python3.12 may be, most explicit first."""
    explicit = os.environ.get("PYTHON312")
    if explicit:
        yield Path(explicit)
    on_path = shutil.which("python3.12")
    if on_path:
        yield Path(on_path)  # may be a pyenv shim that refuses to run: checked below
    pyenv_root = Path(os.environ.get("PYENV_ROOT", Path.home() / ".pyenv"))
    yield from sorted((pyenv_root / "versions").glob("3.12*/bin/python3.12"), reverse=True)
    yield Path("/usr/local/bin/python3.12")
    yield Path("/usr/bin/python3.12")


def _is_python312(python: Path) -> bool:
    try:
        completed = subprocess.run(  # noqa: S603 - a local interpreter, fixed argv
            [str(python), "-I", "-c", "import sys; print(sys.version_info[:2])"],
            capture_output=True,
            text=True,
            timeout=30,
            check=False,
        )
    except OSError:
        return False
    return completed.returncode == 0 and completed.stdout.strip() == str(PYTHON_VERSION)


def find_python312() -> Path | None:
    """A python3.12 interpreter that runs, or None."""
    return next((p for p in _candidates() if p.is_file() and _is_python312(p)), None)


def _stamp_text(python: Path) -> str:
    digest = hashlib.sha256(REQUIREMENTS.read_bytes()).hexdigest()
    return f"{python}\n{digest}\n"


def _run(cmd: list[str]) -> None:
    print("+", " ".join(cmd), flush=True)
    if subprocess.run(cmd, check=False).returncode != 0:  # noqa: S603 - fixed argv
        raise OldRuntimeError(f"failed: {' '.join(cmd)}")


def ensure_env(python: Path) -> Path:
    """Create .venv-old-runtime from python (unless up to date); return its interpreter."""
    env_python = ENV_DIR / "bin" / "python"
    LOCK.touch()
    with LOCK.open("r") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        if STAMP.is_file() and STAMP.read_text() == _stamp_text(python) and env_python.exists():
            return env_python
        shutil.rmtree(ENV_DIR, ignore_errors=True)
        _run([str(python), "-m", "venv", "--without-pip", str(ENV_DIR)])
        _run(
            [
                sys.executable, "-m", "pip", "--python", str(env_python), "install",
                "--quiet", "--disable-pip-version-check", "--no-input",
                "--require-hashes", "--only-binary=:all:", "--no-deps",
                "-r", str(REQUIREMENTS),
            ]
        )  # fmt: skip
        STAMP.write_text(_stamp_text(python))
    return env_python


def main() -> int:
    """Create the environment, or explain why not."""
    python = find_python312()
    if python is None:
        print(f"note: {MISSING_PYTHON} tests/infra/test_artifact_runs.py will be skipped.")
        return 0
    try:
        env_python = ensure_env(python)
    except OldRuntimeError as error:
        print(f"error: {error}", file=sys.stderr)
        return 1
    print(f"old runtime: {env_python} (python3.12 from {python}; {REQUIREMENTS.name})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
