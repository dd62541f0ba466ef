"""The built Lambda artifact runs on its own libraries, over a runtime with older ones.

`scripts/package_lambda.py --arch <this machine>` builds the same artifact as the deployed one
(only msgspec's compiled wheel differs), the zip is extracted, and a python3.12 interpreter whose
site-packages hold only boto3 1.34, botocore 1.34 and urllib3 1.26 (`.venv-old-runtime`, from
requirements/old-runtime.txt: a runtime with older libraries than the code needs) invokes the
handler from it with the artifact first on sys.path, as Lambda puts /var/task first
(tests/support/lambda_bootstrap.py). Everything is real: moto's server over HTTP for DynamoDB and
Secrets Manager, the Alpaca stand-in over HTTP. A control run of the same artifact without its
own boto3/botocore/urllib3 (the old packaging) fails, so the stand-in runtime is old enough to
catch a regression.
"""

from __future__ import annotations

import json
import platform
import re
import shutil
import subprocess
import zipfile
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from scripts import old_runtime_env
from scripts import package_lambda as pl
from tests.support import CANARY_SECRET, Env, alpaca_secret

from asset_sync.local.catalog import generate_catalog
from asset_sync.local.moto_server import LOCAL_CREDENTIALS

pytestmark = [pytest.mark.infra, pytest.mark.xdist_group("lambda_artifact")]

REPO_ROOT = Path(__file__).resolve().parents[2]
BOOTSTRAP = REPO_ROOT / "tests" / "support" / "lambda_bootstrap.py"
MACHINE_ARCH = {"x86_64": "x86_64", "amd64": "x86_64", "aarch64": "arm64", "arm64": "arm64"}
# What the artifact used to leave to the runtime (before issue 13): removed for the control run.
RUNTIME_LIBRARIES = ("boto3", "botocore", "urllib3", "s3transfer", "jmespath", "dateutil", "six")
CATALOG_SIZE = 150


def locked_versions() -> dict[str, str]:
    """Distribution name -> version pinned in requirements/lambda.txt."""
    text = (REPO_ROOT / "requirements" / "lambda.txt").read_text()
    pins = re.findall(r"^([A-Za-z0-9_.-]+)==(\S+)", text, flags=re.MULTILINE)
    return {name.lower().replace("_", "-"): version for name, version in pins}


@dataclass(frozen=True)
class OldRuntime:
    """The stand-in runtime: its interpreter and the versions of its own libraries."""

    python: Path
    site_packages: Path
    versions: dict[str, str]


@pytest.fixture(scope="session")
def old_runtime() -> OldRuntime:
    """.venv-old-runtime (created if missing; `make test` creates it beforehand)."""
    python = old_runtime_env.find_python312()
    if python is None:
        pytest.skip(old_runtime_env.MISSING_PYTHON)
    env_python = old_runtime_env.ensure_env(python)
    probe = (
        "import json, sysconfig, boto3, botocore, urllib3; print(json.dumps({"
        "'site': sysconfig.get_paths()['purelib'], 'boto3': boto3.__version__, "
        "'botocore': botocore.__version__, 'urllib3': urllib3.__version__}))"
    )
    completed = subprocess.run(
        [str(env_python), "-I", "-c", probe], capture_output=True, text=True, check=True
    )
    found = json.loads(completed.stdout)
    return OldRuntime(env_python, Path(found.pop("site")).resolve(), found)


@pytest.fixture(scope="session")
def task_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The artifact for this machine's architecture, built once and extracted (`/var/task`)."""
    arch = MACHINE_ARCH.get(platform.machine().lower())
    if arch is None:
        pytest.skip(f"no Lambda architecture matches this machine ({platform.machine()})")
    work = tmp_path_factory.mktemp("artifact")
    pl.build(arch=arch, staging=work / "build", dist=work / "dist")
    root = work / "task"
    with zipfile.ZipFile(work / "dist" / f"{pl.artifact_name(arch)}.zip") as archive:
        archive.extractall(root)
    return root.resolve()


def without_runtime_libraries(task_root: Path, dest: Path) -> Path:
    """A copy of the extracted artifact without boto3, botocore, urllib3 and their dependencies."""

    def ignore(directory: str, names: list[str]) -> set[str]:
        if Path(directory) != task_root:
            return set()
        dropped = set()
        for name in names:
            stem = name.removesuffix(".py").split("-")[0]
            if stem in RUNTIME_LIBRARIES or stem == "python_dateutil":
                dropped.add(name)
        return dropped

    shutil.copytree(task_root, dest, ignore=ignore)
    return dest


@dataclass
class Invocation:
    """One run of the bootstrap: its exit code, output and report."""

    code: int
    stdout: str
    stderr: str
    report: dict[str, Any]

    def log_messages(self) -> set[str]:
        """The `message` of every JSON log line the handler printed."""
        lines = [json.loads(x) for x in self.stdout.splitlines() if x.startswith("{")]
        return {line["message"] for line in lines if "message" in line}


def invoke(runtime: OldRuntime, root: Path, env: Env, tmp_path: Path) -> Invocation:
    """Invoke the handler from root in the old runtime, with only the function's environment."""
    endpoint = env.settings.dynamodb_endpoint_url or ""
    secret_arn = alpaca_secret(endpoint, "signal9/asset-sync/test/alpaca")
    environment = {
        "PATH": "/usr/bin:/bin",
        "LANG": "C.UTF-8",
        "HOME": str(tmp_path),  # no ~/.aws: credentials come from the environment, as on Lambda
        **LOCAL_CREDENTIALS,
        "AWS_REGION": "us-east-1",
        "LAMBDA_TASK_ROOT": str(root),
        "AWS_LAMBDA_FUNCTION_NAME": "signal9-asset-sync-test",
        "AWS_ENDPOINT_URL_DYNAMODB": endpoint,
        "AWS_ENDPOINT_URL_SECRETS_MANAGER": endpoint,
        # What the stack sets (infra/stack.py):
        "ASSETS_TABLE": env.settings.assets_table,
        "SYNC_STATE_TABLE": env.settings.state_table,
        "ALPACA_SECRET_ID": secret_arn,
        "APCA_API_BASE_URL": env.stand_in.base_url,
        "POWERTOOLS_SERVICE_NAME": "asset-sync",
        "POWERTOOLS_METRICS_NAMESPACE": "Signal9/AssetSync",
        "POWERTOOLS_LOG_LEVEL": "INFO",
    }
    report_path = tmp_path / "report.json"
    completed = subprocess.run(
        [str(runtime.python), "-I", "-B", str(BOOTSTRAP), str(root), str(report_path)],
        env=environment, cwd=tmp_path, capture_output=True, text=True, timeout=120, check=False,
    )  # fmt: skip
    assert CANARY_SECRET not in completed.stdout + completed.stderr
    report = json.loads(report_path.read_text()) if report_path.exists() else {}
    assert report, f"no report; stderr:\n{completed.stderr[-3000:]}"
    return Invocation(completed.returncode, completed.stdout, completed.stderr, report)


def test_the_old_runtime_really_has_old_libraries(old_runtime: OldRuntime) -> None:
    assert old_runtime.versions["urllib3"].startswith("1.26.")
    assert old_runtime.versions["boto3"].startswith("1.34.")
    assert old_runtime.versions["botocore"].startswith("1.34.")


def test_a_full_sync_runs_from_the_artifact_on_its_own_libraries(
    old_runtime: OldRuntime, task_root: Path, env: Env, tmp_path: Path
) -> None:
    # us_equity only: what Alpaca (and the stand-in) serve when no asset_class is asked for.
    catalog = [a for a in generate_catalog(CATALOG_SIZE, seed=13) if a["class"] == "us_equity"]
    env.stand_in.set_assets(catalog)

    run = invoke(old_runtime, task_root, env, tmp_path)

    assert run.code == 0, run.report.get("traceback") or run.stderr[-3000:]
    result = run.report["result"]
    assert result["outcome"] == "succeeded"
    assert result["fetched"] == result["created"] == len(catalog) > 100
    assert result["invalid"] == result["failed"] == 0
    assert {"sync starting", "sync finished"} <= run.log_messages()
    stored = env.snapshot()
    assert set(stored) == {asset["symbol"] for asset in catalog}
    assert {item["status"]["S"] for item in stored.values()} == {"active"}
    state = env.state.read()
    assert state.last_run_outcome == "succeeded"
    assert state.last_run["created"] == len(catalog)

    # Only the artifact's copies were imported: nothing from the old runtime's site-packages.
    assert run.report["modules"]["elsewhere"] == []
    shipped = {"asset_sync", "aws_lambda_powertools", "boto3", "botocore", "msgspec", "urllib3"}
    assert shipped <= set(run.report["modules"]["artifact"])
    locked = locked_versions()
    for module in ("urllib3", "boto3", "botocore", "s3transfer"):
        loaded = run.report["versions"][module]
        assert Path(loaded["file"]).is_relative_to(task_root), loaded
        assert not Path(loaded["file"]).is_relative_to(old_runtime.site_packages), loaded
        assert loaded["version"] == locked[module], module
        assert loaded["version"] != old_runtime.versions.get(module), module
    forbidden = [
        module
        for module in run.report["sys_modules"]
        for name in pl.FORBIDDEN_MODULES  # click, asset_sync.cli, asset_sync.local
        if module == name or module.startswith(name + ".")
    ]
    assert forbidden == []


def test_without_its_own_libraries_the_artifact_fails_on_the_old_runtime(
    old_runtime: OldRuntime, task_root: Path, env: Env, tmp_path: Path
) -> None:
    root = without_runtime_libraries(task_root, tmp_path / "task-without-libraries")
    env.stand_in.set_assets(generate_catalog(10, seed=14))

    run = invoke(old_runtime, root, env, tmp_path)

    assert run.code == 1
    assert run.report["versions"]["urllib3"]["version"] == old_runtime.versions["urllib3"]
    assert Path(run.report["versions"]["urllib3"]["file"]).is_relative_to(old_runtime.site_packages)
    # urllib3 1.26's Retry lacks the arguments the Alpaca client passes (backoff_max, ...).
    assert run.report["exception"].startswith(
        "SyncError: TypeError: Retry.__init__() got an unexpected keyword argument"
    ), run.report["exception"]
    assert env.snapshot() == {}
