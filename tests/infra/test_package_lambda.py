"""scripts/package_lambda.py: deterministic zip, what ships, the import guard, the lock files.

pip is replaced by a stub that writes fake dependencies, so these tests need no network (the real
build runs in test_artifact_runs.py).
"""

from __future__ import annotations

import os
import re
import stat
import tomllib
import zipfile
from pathlib import Path

import pytest
from packaging.requirements import Requirement
from packaging.version import Version
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


FAKE_DEPENDENCIES = ("boto3", "botocore", "msgspec", "urllib3")


@pytest.fixture
def fake_pip(monkeypatch: pytest.MonkeyPatch) -> list[tuple[Path, str]]:
    """Replace pip with a stub that 'installs' FAKE_DEPENDENCIES; record (target, arch)."""
    calls: list[tuple[Path, str]] = []

    def install(requirements: Path, target: Path, arch: str) -> None:
        assert requirements.is_file()
        calls.append((target, arch))
        for name in FAKE_DEPENDENCIES:
            write(target / name / "__init__.py", "VERSION = 1\n")
        write(target / "msgspec" / "__pycache__" / "x.cpython-311.pyc", "junk")
        write(target / "msgspec-0.0.dist-info" / "RECORD", "msgspec/__init__.py,,\n")
        write(target / "bin" / "tool", "#!/bin/sh\n")

    monkeypatch.setattr(pl, "run_pip_install", install)
    return calls


def build(root: Path, arch: str = pl.DEFAULT_ARCH) -> pl.ArtifactStats:
    """Run the build on a miniature repository with the real requirements file."""
    return pl.build(root=root, arch=arch, requirements=REPO_ROOT / "requirements" / "lambda.txt")


def test_build_ships_handler_and_libraries_without_cli_local_mode_or_caches(
    tmp_path: Path, fake_pip: list[tuple[Path, str]]
) -> None:
    stats = build(make_source(tmp_path))
    tree = tmp_path / "dist" / "lambda"
    shipped = sorted(p.relative_to(tree).as_posix() for p in tree.rglob("*") if p.is_file())
    assert shipped == [
        "asset_sync/__init__.py",
        "asset_sync/handler.py",
        "asset_sync/logic/__init__.py",
        "asset_sync/logic/sync.py",
        "asset_sync/py.typed",
        "boto3/__init__.py",
        "botocore/__init__.py",
        "msgspec-0.0.dist-info/RECORD",
        "msgspec/__init__.py",
        "urllib3/__init__.py",
    ]
    with zipfile.ZipFile(tmp_path / "dist" / "lambda.zip") as archive:
        assert archive.namelist() == shipped
    assert stats.files == len(shipped)
    assert stats.unzipped_bytes == sum((tree / name).stat().st_size for name in shipped)
    assert stats.zipped_bytes == (tmp_path / "dist" / "lambda.zip").stat().st_size
    assert fake_pip == [(tmp_path / "build" / "lambda", "arm64")]


def test_x86_64_build_is_published_beside_the_arm64_one(
    tmp_path: Path, fake_pip: list[tuple[Path, str]]
) -> None:
    root = make_source(tmp_path)
    arm64 = build(root)
    x86_64 = build(root, arch="x86_64")
    assert fake_pip == [
        (tmp_path / "build" / "lambda", "arm64"),
        (tmp_path / "build" / "lambda-x86_64", "x86_64"),
    ]
    assert (tmp_path / "dist" / "lambda.zip").stat().st_size == arm64.zipped_bytes
    assert (tmp_path / "dist" / "lambda-x86_64.zip").stat().st_size == x86_64.zipped_bytes
    assert (tmp_path / "dist" / "lambda-x86_64" / "asset_sync" / "handler.py").is_file()
    with pytest.raises(pl.PackagingError, match="unknown architecture"):
        build(root, arch="ppc64le")


def test_pip_is_asked_for_the_architecture_s_wheels(tmp_path: Path) -> None:
    requirements = REPO_ROOT / "requirements" / "lambda.txt"
    commands = [
        pl.pip_install_command(requirements, tmp_path, arch) for arch in ("arm64", "x86_64")
    ]
    platforms = [[c[i + 1] for i, arg in enumerate(c) if arg == "--platform"] for c in commands]
    assert platforms == [
        ["manylinux2014_aarch64", "manylinux_2_28_aarch64"],
        ["manylinux2014_x86_64", "manylinux_2_28_x86_64"],
    ]
    for cmd in commands:
        assert {"--require-hashes", "--only-binary=:all:", "--no-compile"} <= set(cmd)
        assert cmd[cmd.index("--python-version") + 1] == "3.12"
        assert cmd[cmd.index("--target") + 1] == str(tmp_path)


def test_a_build_without_boto3_botocore_or_urllib3_fails(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    def install(requirements: Path, target: Path, arch: str) -> None:
        write(target / "msgspec" / "__init__.py")
        write(target / "boto3" / "__init__.py")

    monkeypatch.setattr(pl, "run_pip_install", install)
    with pytest.raises(pl.PackagingError, match="do not ship botocore, urllib3"):
        build(make_source(tmp_path))
    assert not (tmp_path / "dist").exists()


def test_build_is_idempotent_and_byte_identical(
    tmp_path: Path, fake_pip: list[tuple[Path, str]]
) -> None:
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
        ("import s3transfer\n", "not available: ['s3transfer']"),  # the runtime's: not counted
    ],
)
def test_import_guard_rejects_what_does_not_ship(
    tmp_path: Path, fake_pip: list[tuple[Path, str]], handler: str, message: str
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
    for name in ("aws_lambda_powertools", "boto3", "urllib3"):
        write(tree / name / "__init__.py")
    assert pl.check_handler_imports(tree) == {"aws_lambda_powertools", "boto3", "urllib3"}


@pytest.mark.parametrize(
    ("events_handler", "message"),
    [
        ("from asset_sync.cli import main\n", "asset_sync.events.handler reaches"),
        ("from asset_sync.local import demo\n", "asset_sync.local"),
        ("import requests\n", "not available: ['requests']"),
    ],
)
def test_import_guard_checks_the_events_handler_too(
    tmp_path: Path, fake_pip: list[tuple[Path, str]], events_handler: str, message: str
) -> None:
    root = make_source(tmp_path)
    write(root / "src" / "asset_sync" / "events" / "__init__.py")
    write(root / "src" / "asset_sync" / "events" / "handler.py", events_handler)
    with pytest.raises(pl.PackagingError, match=re.escape(message)):
        build(root)


def test_an_events_handler_within_the_artifact_ships(
    tmp_path: Path, fake_pip: list[tuple[Path, str]]
) -> None:
    root = make_source(tmp_path)
    write(root / "src" / "asset_sync" / "events" / "__init__.py")
    write(
        root / "src" / "asset_sync" / "events" / "handler.py",
        "import boto3\nfrom asset_sync.logic import run_sync\n",
    )
    build(root)
    assert (tmp_path / "dist" / "lambda" / "asset_sync" / "events" / "handler.py").is_file()


def test_import_guard_requires_the_handler(tmp_path: Path) -> None:
    write(tmp_path / "asset_sync" / "__init__.py")
    with pytest.raises(pl.PackagingError, match="not found"):
        pl.check_handler_imports(tmp_path)


def normalized(name: str) -> str:
    """A distribution name as PEP 503 compares them."""
    return re.sub(r"[-_.]+", "-", name).lower()


def hashed_pins(path: Path) -> dict[str, Version]:
    """name -> version of a requirements file, asserting every line is pinned with hashes."""
    logical = re.sub(r"\s*\\\n\s*", " ", path.read_text())
    pins: dict[str, Version] = {}
    for raw in logical.splitlines():
        line = raw.split("#", 1)[0].strip()  # uv writes `# via ...` comments after the hashes
        if not line:
            continue
        match = re.fullmatch(r"([A-Za-z0-9_.-]+)==([0-9][^ ]*)( --hash=sha256:[0-9a-f]{64})+", line)
        assert match, f"not pinned with a hash: {line}"
        pins[normalized(match.group(1))] = Version(match.group(2))
    return pins


def plain_pins(path: Path) -> dict[str, Version]:
    """name -> version of the `name==version` lines of a requirements file."""
    found = (re.match(r"([A-Za-z0-9_.-]+)==(\S+)", line) for line in path.read_text().splitlines())
    return {normalized(m.group(1)): Version(m.group(2)) for m in found if m}


def requirement_names(path: Path) -> set[str]:
    """The distribution names an input file (`*.in`) asks for."""
    lines = (line.split("#", 1)[0].strip() for line in path.read_text().splitlines())
    return {normalized(Requirement(line).name) for line in lines if line}


def test_lambda_requirements_are_pinned_hashed_and_ship_boto3_botocore_urllib3() -> None:
    pins = hashed_pins(REPO_ROOT / "requirements" / "lambda.txt")
    assert {"aws-lambda-powertools", "msgspec", "boto3", "botocore", "urllib3"} <= set(pins)
    assert {"s3transfer", "jmespath", "python-dateutil", "six"} <= set(pins)  # boto3's own
    assert not set(pins) & {"click", "moto", "pytest"}
    assert pins["urllib3"] >= Version("2.6.3")  # Retry(retry_after_max=...)


def test_lambda_lock_matches_its_input_and_the_project() -> None:
    requirements = REPO_ROOT / "requirements"
    pins = hashed_pins(requirements / "lambda.txt")
    wanted = requirement_names(requirements / "lambda.in")
    project = tomllib.loads((REPO_ROOT / "pyproject.toml").read_text())["project"]
    dependencies = [Requirement(d) for d in project["dependencies"]]
    # The artifact ships every runtime dependency but the CLI's, at a version pyproject allows.
    assert wanted == {normalized(d.name) for d in dependencies} - {"click"}
    for dependency in dependencies:
        if normalized(dependency.name) in wanted:
            assert pins[normalized(dependency.name)] in dependency.specifier, dependency
    # ... and the versions the test suite runs against (`make lock` uses the constraints).
    constraints = plain_pins(requirements / "constraints.txt")
    assert {name: constraints[name] for name in pins} == pins


def test_old_runtime_requirements_are_old_and_pinned_with_hashes() -> None:
    pins = hashed_pins(REPO_ROOT / "requirements" / "old-runtime.txt")
    assert pins["urllib3"] < Version("2")
    assert pins["boto3"] < Version("1.35")
    assert pins["botocore"] < Version("1.35")
