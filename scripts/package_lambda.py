#!/usr/bin/env python3
"""Build the Lambda artifact (python3.12, arm64 or x86_64) reproducibly and without Docker.

Steps: wipe the staging directory; ``pip install`` the hash-pinned wheels of
``requirements/lambda.txt`` (boto3, botocore and urllib3 included: the artifact does not use the
runtime's copies) for manylinux / CPython 3.12 on the chosen architecture into it; check that
boto3, botocore and urllib3 were installed; copy ``src/asset_sync`` (without the CLI ``cli/``,
the embedded local mode ``local/`` and caches); check statically that every handler's import
graph stays inside what ships (no ``click``, no ``asset_sync.cli``, no ``asset_sync.local``, no
third-party module that is not in the artifact); normalise permissions; then publish the tree
and a deterministic zip (sorted entries, timestamps 1980-01-01, modes 0644/0755), and print
their sizes. arm64 (the deployed function) publishes ``dist/lambda/`` (the CDK asset) and
``dist/lambda.zip``; ``--arch x86_64`` publishes ``dist/lambda-x86_64/`` and
``dist/lambda-x86_64.zip``, the same artifact for x86_64 machines (tests/infra runs it).

Stdlib only. Run from anywhere: ``python scripts/package_lambda.py [--arch x86_64]``.
"""

from __future__ import annotations

import argparse
import ast
import hashlib
import os
import shutil
import stat
import subprocess
import sys
import zipfile
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

from asset_sync.contract import LAMBDA_FORBIDDEN_MODULES

ROOT = Path(__file__).resolve().parent.parent
PACKAGE = "asset_sync"
HANDLER_MODULE = f"{PACKAGE}.handler"
# Further Lambda entry points: each one that exists in src/ gets the same import check.
OPTIONAL_HANDLER_MODULES = (f"{PACKAGE}.events.handler", f"{PACKAGE}.history.handler")

# The python3.12 runtime is Amazon Linux 2023 (glibc 2.34): manylinux2014 (glibc 2.17) and
# manylinux_2_28 wheels both run there. pip does not expand these tags by itself.
PLATFORMS = {
    "arm64": ("manylinux2014_aarch64", "manylinux_2_28_aarch64"),
    "x86_64": ("manylinux2014_x86_64", "manylinux_2_28_x86_64"),
}
DEFAULT_ARCH = "arm64"  # the deployed function's architecture (infra/)
PYTHON_VERSION = "3.12"

# Not shipped from src/asset_sync (paths relative to the package): the CLI and the embedded
# local mode. Interpreter caches are left out everywhere.
# The CLI (a package), its terminal helpers (click) and the local mode never run in Lambda.
EXCLUDED_FROM_PACKAGE = frozenset({"cli", "cli.py", "terminal.py", "local"})
EXCLUDED_DIRS = frozenset({"__pycache__"})
EXCLUDED_SUFFIXES = (".pyc", ".pyo")

# The runtime's boto3, botocore and urllib3 are not used: whatever version AWS puts in the
# runtime, the artifact's own copies come first on sys.path (/var/task). A build whose
# requirements lose one of them fails instead of silently falling back to the runtime's.
MUST_SHIP = ("boto3", "botocore", "urllib3")
# Must never be reached from a handler: the CLI, its dependency, the local mode and test tools.
FORBIDDEN_MODULES = LAMBDA_FORBIDDEN_MODULES

FIXED_DATE_TIME = (1980, 1, 1, 0, 0, 0)
FILE_MODE = 0o644
DIR_MODE = 0o755

# Lambda quotas for a .zip deployment package.
MAX_ZIPPED_BYTES = 50 * 1024 * 1024
MAX_UNZIPPED_BYTES = 250 * 1024 * 1024


class PackagingError(Exception):
    """The artifact cannot be built or would not work in Lambda."""


@dataclass(frozen=True)
class ArtifactStats:
    """Sizes of a built artifact."""

    files: int
    unzipped_bytes: int
    zipped_bytes: int
    sha256: str


def artifact_name(arch: str) -> str:
    """The name of the published tree and zip: ``lambda`` (arm64) or ``lambda-<arch>``."""
    return "lambda" if arch == DEFAULT_ARCH else f"lambda-{arch}"


def pip_install_command(requirements: Path, target: Path, arch: str) -> list[str]:
    """pip's argv that installs the hash-pinned requirements for CPython 3.12 on arch."""
    return [
        sys.executable,
        "-m",
        "pip",
        "install",
        "--disable-pip-version-check",
        "--no-input",
        "--quiet",
        "--no-compile",  # .pyc made here would be for this interpreter, not the runtime's 3.12
        "--require-hashes",
        "--only-binary=:all:",
        "--implementation",
        "cp",
        "--python-version",
        PYTHON_VERSION,
        *[arg for platform in PLATFORMS[arch] for arg in ("--platform", platform)],
        "--target",
        str(target),
        "-r",
        str(requirements),
    ]


def run_pip_install(requirements: Path, target: Path, arch: str = DEFAULT_ARCH) -> None:
    """Install the hash-pinned requirements for CPython 3.12 on manylinux/arch into target."""
    cmd = pip_install_command(requirements, target, arch)
    print("+", " ".join(cmd), flush=True)
    result = subprocess.run(cmd, check=False)  # noqa: S603 (fixed argv, no shell)
    if result.returncode != 0:
        raise PackagingError(f"pip install failed with exit code {result.returncode}")


def copy_package(src: Path, dest: Path) -> None:
    """Copy the package tree, leaving out the CLI, the local mode, caches and compiled files."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        at_root = Path(directory) == src
        return {
            n
            for n in names
            if n in EXCLUDED_DIRS
            or n.endswith(EXCLUDED_SUFFIXES)
            or (at_root and n in EXCLUDED_FROM_PACKAGE)
        }

    shutil.copytree(src, dest, ignore=ignore)


def remove_caches(tree: Path) -> None:
    """Delete __pycache__ directories and compiled files anywhere in tree."""
    for cache in sorted(tree.rglob("__pycache__"), reverse=True):
        shutil.rmtree(cache)
    for path in tree.rglob("*"):
        if path.suffix in EXCLUDED_SUFFIXES:
            path.unlink()


def normalise_modes(tree: Path) -> None:
    """Give every directory 0755 and every file 0644 (Lambda needs world-readable files)."""
    for path in tree.rglob("*"):
        if path.is_symlink():
            raise PackagingError(f"symlink in artifact: {path}")
        path.chmod(DIR_MODE if path.is_dir() else FILE_MODE)
    tree.chmod(DIR_MODE)


def iter_files(tree: Path) -> Iterator[tuple[str, Path]]:
    """Yield (archive name, path) for every regular file in tree, sorted by archive name."""
    files = [(p.relative_to(tree).as_posix(), p) for p in tree.rglob("*") if p.is_file()]
    yield from sorted(files)


def write_zip(tree: Path, zip_path: Path) -> None:
    """Write tree to zip_path deterministically: sorted names, fixed dates and modes."""
    tmp = zip_path.with_name(zip_path.name + ".tmp")
    with zipfile.ZipFile(tmp, "w") as archive:
        for name, path in iter_files(tree):
            info = zipfile.ZipInfo(name, date_time=FIXED_DATE_TIME)
            info.compress_type = zipfile.ZIP_DEFLATED
            info.create_system = 3  # Unix, so that external_attr carries the mode
            info.external_attr = (stat.S_IFREG | FILE_MODE) << 16
            archive.writestr(info, path.read_bytes(), compresslevel=9)
    tmp.replace(zip_path)


def sha256_file(path: Path) -> str:
    """Hex SHA-256 of a file."""
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


# --- static import check -------------------------------------------------------------------


def _is_type_checking_guard(node: ast.If) -> bool:
    test = node.test
    return (isinstance(test, ast.Name) and test.id == "TYPE_CHECKING") or (
        isinstance(test, ast.Attribute) and test.attr == "TYPE_CHECKING"
    )


def _catches_import_error(node: ast.Try) -> bool:
    names: set[str] = set()
    for handler in node.handlers:
        if handler.type is None:
            return True
        types = handler.type.elts if isinstance(handler.type, ast.Tuple) else [handler.type]
        names.update(t.id for t in types if isinstance(t, ast.Name))
    return bool(names & {"ImportError", "ModuleNotFoundError", "Exception", "BaseException"})


def _resolve_relative(module: str, is_package: bool, level: int, name: str | None) -> str:
    parts = module.split(".")
    base = parts if is_package else parts[:-1]
    if level > 1:
        base = base[: len(base) - (level - 1)]
    return ".".join([*base, name] if name else base)


def module_imports(source: str, module: str, is_package: bool) -> set[str]:
    """Absolute names of the modules a module imports when it is executed.

    Imports under ``if TYPE_CHECKING:`` and inside ``try`` blocks that handle ImportError
    (optional imports) are not counted. ``from pkg import name`` counts both ``pkg`` and
    ``pkg.name`` (name may be a submodule).
    """
    found: set[str] = set()

    def visit(nodes: Iterable[ast.stmt | ast.AST]) -> None:
        for node in nodes:
            if isinstance(node, ast.If) and _is_type_checking_guard(node):
                visit(node.orelse)
                continue
            if isinstance(node, ast.Try) and _catches_import_error(node):
                visit(node.handlers)
                visit(node.orelse)
                visit(node.finalbody)
                continue
            if isinstance(node, ast.Import):
                found.update(alias.name for alias in node.names)
            elif isinstance(node, ast.ImportFrom):
                if node.level:
                    base = _resolve_relative(module, is_package, node.level, node.module)
                else:
                    base = node.module or ""
                found.add(base)
                found.update(f"{base}.{alias.name}" for alias in node.names if alias.name != "*")
            visit(ast.iter_child_nodes(node))

    visit(ast.parse(source).body)
    return found


def _module_file(tree: Path, module: str) -> tuple[Path, bool] | None:
    rel = Path(*module.split("."))
    if (tree / rel / "__init__.py").is_file():
        return tree / rel / "__init__.py", True
    if (tree / rel.with_suffix(".py")).is_file():
        return tree / rel.with_suffix(".py"), False
    return None


def check_shipped(tree: Path, names: Iterable[str] = MUST_SHIP) -> None:
    """Raise PackagingError unless every top-level package in names was installed in tree."""
    missing = [name for name in names if not (tree / name / "__init__.py").is_file()]
    if missing:
        raise PackagingError(
            f"the requirements do not ship {', '.join(missing)}: the artifact must carry its own "
            "copies, not rely on the Lambda runtime's (add them to requirements/lambda.in, then "
            "`make lock`)"
        )


def check_handler_imports(tree: Path, entry: str = HANDLER_MODULE) -> set[str]:
    """Walk the package modules reachable from entry; return the third-party top-level names.

    Raises PackagingError if the entry module is missing, if a forbidden module (the CLI,
    click, the local mode) is reachable, or if a third-party import is neither in the
    artifact nor in the standard library (the runtime's libraries do not count).
    """
    if _module_file(tree, entry) is None:
        raise PackagingError(f"handler module {entry} not found in {tree}")
    seen: set[str] = set()
    external: set[str] = set()
    stack = [entry]
    while stack:
        module = stack.pop()
        if module in seen:
            continue
        seen.add(module)
        parts = module.split(".")
        # Importing a.b.c first executes a/__init__ and a/b/__init__.
        stack.extend(".".join(parts[:i]) for i in range(1, len(parts)))
        located = _module_file(tree, module)
        if located is None:
            continue  # `from pkg import name` where name is not a submodule
        path, is_package = located
        for imported in module_imports(path.read_text(encoding="utf-8"), module, is_package):
            if imported == PACKAGE or imported.startswith(PACKAGE + "."):
                stack.append(imported)
            elif imported:
                external.add(imported.split(".")[0])
    reachable = seen | external
    bad = sorted(m for m in reachable for f in FORBIDDEN_MODULES if m == f or m.startswith(f + "."))
    if bad:
        raise PackagingError(f"{entry} reaches modules that are not shipped: {', '.join(bad)}")
    available = {p.name.removesuffix(".py") for p in tree.iterdir() if not p.name.endswith("-info")}
    missing = sorted(
        name for name in external if name not in sys.stdlib_module_names and name not in available
    )
    if missing:
        raise PackagingError(f"{entry} imports modules that are not available: {missing}")
    return external - set(sys.stdlib_module_names)


# --- orchestration -------------------------------------------------------------------------


def tree_size(tree: Path) -> tuple[int, int]:
    """(file count, total bytes) of the regular files in tree."""
    sizes = [p.stat().st_size for _, p in iter_files(tree)]
    return len(sizes), sum(sizes)


def handler_modules(tree: Path) -> list[str]:
    """The Lambda entry points to check: the handler, and every optional one present in tree."""
    return [HANDLER_MODULE] + [m for m in OPTIONAL_HANDLER_MODULES if _module_file(tree, m)]


def build(
    *,
    root: Path = ROOT,
    arch: str = DEFAULT_ARCH,
    requirements: Path | None = None,
    staging: Path | None = None,
    dist: Path | None = None,
) -> ArtifactStats:
    """Build dist/<name>/ and dist/<name>.zip (see artifact_name); return their sizes."""
    if arch not in PLATFORMS:
        raise PackagingError(f"unknown architecture {arch!r}: one of {', '.join(PLATFORMS)}")
    name = artifact_name(arch)
    requirements = requirements or root / "requirements" / "lambda.txt"
    staging = staging or root / "build" / name
    dist = dist or root / "dist"
    source = root / "src" / PACKAGE

    if staging.exists():
        shutil.rmtree(staging)
    staging.mkdir(parents=True)
    run_pip_install(requirements, staging, arch)
    if (staging / PACKAGE).exists():
        raise PackagingError(f"a dependency installed a top-level {PACKAGE!r}")
    check_shipped(staging)
    copy_package(source, staging / PACKAGE)
    remove_caches(staging)
    shutil.rmtree(staging / "bin", ignore_errors=True)  # console scripts: useless in Lambda
    third_party: set[str] = set()
    for entry in handler_modules(staging):
        third_party |= check_handler_imports(staging, entry)
    print(f"handler imports (third-party, top level): {', '.join(sorted(third_party)) or '-'}")
    normalise_modes(staging)

    # Publish: a failed build above leaves the previous dist/ untouched.
    dist.mkdir(parents=True, exist_ok=True)
    tree = dist / name
    if tree.exists():
        shutil.rmtree(tree)
    shutil.copytree(staging, tree)
    normalise_modes(tree)
    zip_path = dist / f"{name}.zip"
    write_zip(tree, zip_path)

    files, unzipped = tree_size(tree)
    stats = ArtifactStats(files, unzipped, zip_path.stat().st_size, sha256_file(zip_path))
    if stats.zipped_bytes > MAX_ZIPPED_BYTES or stats.unzipped_bytes > MAX_UNZIPPED_BYTES:
        raise PackagingError(f"artifact exceeds the Lambda .zip quotas: {stats}")
    return stats


def main(argv: list[str] | None = None) -> int:
    """Command-line entry point."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--arch",
        choices=sorted(PLATFORMS),
        default=DEFAULT_ARCH,
        help=f"target architecture (default {DEFAULT_ARCH}, the deployed function's)",
    )
    parser.add_argument("--requirements", type=Path, default=ROOT / "requirements" / "lambda.txt")
    parser.add_argument("--staging", type=Path, help="default: build/<artifact name>")
    parser.add_argument("--dist", type=Path, default=ROOT / "dist")
    args = parser.parse_args(argv)
    os.umask(0o022)
    try:
        stats = build(
            arch=args.arch, requirements=args.requirements, staging=args.staging, dist=args.dist
        )
    except PackagingError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 1
    mib = 1024 * 1024
    name = artifact_name(args.arch)
    print(
        f"dist/{name}/  {stats.files} files, {stats.unzipped_bytes} bytes unzipped "
        f"({stats.unzipped_bytes / mib:.2f} MiB)"
    )
    print(
        f"dist/{name}.zip  {stats.zipped_bytes} bytes ({stats.zipped_bytes / mib:.2f} MiB), "
        f"sha256 {stats.sha256}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
