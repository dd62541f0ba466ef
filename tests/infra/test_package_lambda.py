"""scripts/package_lambda.py: deterministic zip, what ships, and the handler import guard.

pip is replaced by a stub that writes fake dependencies, so these tests need no network.
"""

from __future__ import annotations

import os
import re
import stat
import zipfile
from pathlib import Path

import pytest
from scripts import package_lambda as pl

pytestmark = pytest.mark.infra

REPO_ROOT = Path(__file__).resolve().parents[2]


def write(path: Path, text: str = "") -> Path:
    """Write text to path, creating parent directories."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def make_source(root: Path, handler: str = "import msgspec\nfrom . import logic\n") -> Path:
    """A miniature repository: src/asset_sync with a handler, a CLI and the local mode."""
    pkg = root / "src" / "asset_sync"
    write(pkg / "__init__.py", '"""pkg."""\n')
    write(pkg / "handler.py", handler)
    write(pkg / "logic" / "__init__.py", "from .sync import run_sync\n")
    write(pkg / "logic" / "sync.py", "import json\nimport boto3\n\ndef run_sync(): ...\n")
    write(pkg / "cli.py", "import click\n")
    write(pkg / "local" / "__init__.py", "import moto\n")
    write(pkg / "__pycache__" / "handler.cpython-311.pyc", "junk")
    write(pkg / "py.typed")
    return root


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> list[Path]:
    """Replace pip with a stub that 'installs' msgspec and records its target directories."""
    targets: list[Path] = []

    def install(requirements: Path, target: Path) -> None:
        assert requirements.is_file()
        targets.append(target)
        write(target / "msgspec" / "__init__.py", "VERSION = 1\n")
        write(target / "msgspec" / "__pycache__" / "x.cpython-311.pyc", "junk")
        write(target / "msgspec-0.0.dist-info" / "RECORD", "msgspec/__init__.py,,\n")
        write(target / "bin" / "tool", "#!/bin/sh\n")

    monkeypatch.setattr(pl, "run_pip_install", install)
    return targets


def build(root: Path) -> pl.ArtifactStats:
    """Run the build on a miniature repository with the real requirements file."""
    return pl.build(root=root, requirements=REPO_ROOT / "requirements" / "lambda.txt")


def test_build_ships_handler_without_local_mode_or_caches(
    tmp_path: Path, fake_pip: list[Path]
) -> None:
    stats = build(make_source(tmp_path))
    tree = tmp_path / "dist" / "lambda"
    shipped = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert shipped == [
        "asset_sync/__init__.py",
        "asset_sync/cli.py",
        "asset_sync/handler.py",
        "asset_sync/logic/__init__.py",
        "asset_sync/logic/sync.py",
        "asset_sync/py.typed",
        "msgspec-0.0.dist-info/RECORD",
        "msgspec/__init__.py",
    ]
    with zipfile.ZipFile(tmp_path / "dist" / "lambda.zip") as archive:
        assert archive.namelist() == shipped
    assert stats.files == len(shipped)
    assert stats.unzipped_bytes == sum((tree / name).stat().st_size for name in shipped)
    assert stats.zipped_bytes == (tmp_path / "dist" / "lambda.zip").stat().st_size
    assert fake_pip == [tmp_path / "build" / "lambda"]


def test_build_is_idempotent_and_byte_identical(tmp_path: Path, fake_pip: list[Path]) -> None:
    root = make_source(tmp_path)
    first = build(root)
    write(tmp_path / "build" / "lambda" / "stale.py")  # wiped by the next run
    write(tmp_path / "dist" / "lambda" / "stale.py")
    handler = root / "src" / "asset_sync" / "handler.py"
    os.utime(handler, (1_700_000_000, 1_700_000_000))  # mtimes must not matter
    second = build(root)
    assert first == second
    assert not (tmp_path / "dist" / "lambda" / "stale.py").exists()


def test_zip_entries_are_sorted_with_fixed_dates_and_modes(tmp_path: Path) -> None:
    tree = tmp_path / "tree"
    write(tree / "b.py", "b")
    write(tree / "a" / "z.py", "z")
    write(tree / "a" / "b.so", "so")
    (tree / "b.py").chmod(0o700)
    pl.write_zip(tree, tmp_path / "out.zip")
    with zipfile.ZipFile(tmp_path / "out.zip") as archive:
        infos = archive.infolist()
    assert [i.filename for i in infos] == ["a/b.so", "a/z.py", "b.py"]
    for info in infos:
        assert info.date_time == (1980, 1, 1, 0, 0, 0)
        assert stat.S_IMODE(info.external_attr >> 16) == 0o644
        assert info.compress_type == zipfile.ZIP_DEFLATED


def test_normalise_modes_makes_everything_world_readable(tmp_path: Path) -> None:
    write(tmp_path / "t" / "d" / "f.py").chmod(0o600)
    (tmp_path / "t" / "d").chmod(0o700)
    pl.normalise_modes(tmp_path / "t")
    assert stat.S_IMODE((tmp_path / "t" / "d").stat().st_mode) == 0o755
    assert stat.S_IMODE((tmp_path / "t" / "d" / "f.py").stat().st_mode) == 0o644


@pytest.mark.parametrize(
    ("handler", "message"),
    [
        ("from asset_sync import cli\n", "asset_sync.cli"),
        ("from .cli import main\n", "asset_sync.cli"),
        ("import asset_sync.local.demo\n", "asset_sync.local"),
        ("import click\n", "click"),
        ("from . import helper\n", "click"),  # reached transitively
        ("import requests\n", "not available: ['requests']"),
    ],
)
def test_import_guard_rejects_what_does_not_ship(
    tmp_path: Path, fake_pip: list[Path], handler: str, message: str
) -> None:
    root = make_source(tmp_path, handler)
    write(root / "src" / "asset_sync" / "helper.py", "import click\n")
    with pytest.raises(pl.PackagingError, match=re.escape(message)):
        build(root)
    assert not (tmp_path / "dist").exists(), "a failed build must not publish"


def test_import_guard_ignores_type_checking_and_optional_imports(tmp_path: Path) -> None:
    handler = (
        "from __future__ import annotations\n"
        "from typing import TYPE_CHECKING\n"
        "if TYPE_CHECKING:\n"
        "    from mypy_boto3_dynamodb import DynamoDBClient\n"
        "    from asset_sync import cli\n"
        "try:\n"
        "    import orjson\n"
        "except ImportError:\n"
        "    orjson = None\n"
        "import urllib3, boto3\n"
        "from aws_lambda_powertools import Logger\n"
    )
    tree = tmp_path / "tree"
    write(tree / "asset_sync" / "__init__.py")
    write(tree / "asset_sync" / "handler.py", handler)
    write(tree / "aws_lambda_powertools" / "__init__.py")
    assert pl.check_handler_imports(tree) == {"aws_lambda_powertools", "boto3", "urllib3"}


def test_import_guard_requires_the_handler(tmp_path: Path) -> None:
    write(tmp_path / "asset_sync" / "__init__.py")
    with pytest.raises(pl.PackagingError, match="not found"):
        pl.check_handler_imports(tmp_path)


def test_requirements_are_pinned_hashed_and_minimal() -> None:
    text = (REPO_ROOT / "requirements" / "lambda.txt").read_text()
    logical = re.sub(r"\s*\\\n\s*", " ", text)
    requirements = [
        line.strip()
        for line in logical.splitlines()
        if line.strip() and not line.lstrip().startswith("#")
    ]
    names = set()
    for line in requirements:
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^ ]*)( --hash=sha256:[0-9a-f]{64})+", line)
        assert match, f"not pinned with a hash: {line}"
        names.add(match.group(1).lower().replace("_", "-"))
    assert {"aws-lambda-powertools", "msgspec"} <= names
    assert not names & {"boto3", "botocore", "click", "moto", "s3transfer"}
