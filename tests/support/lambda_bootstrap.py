"""`python -I -B lambda_bootstrap.py TASK_ROOT REPORT`: invoke the handler the way Lambda does.

A stand-in for the python3.12 runtime's bootstrap, run by an interpreter whose site-packages play
the runtime's libraries (tests/infra/test_artifact_runs.py): TASK_ROOT (the extracted artifact,
`/var/task` on Lambda) goes first on sys.path, ahead of that site-packages, then the handler is
imported and invoked once with a scheduled event and a Lambda-like context. The handler prints
its logs and metrics to stdout; this script writes its own findings to REPORT as JSON: the
handler's result (or exception), and where each loaded module came from.

Stdlib only, and nothing is imported from site-packages before TASK_ROOT is on sys.path.
"""

from __future__ import annotations

import importlib.metadata
import json
import sys
import sysconfig
import traceback
from pathlib import Path
from typing import Any

THIS_SCRIPT = Path(__file__).resolve()
SCHEDULED_EVENT: dict[str, Any] = {
    "version": "0",
    "id": "artifact-run-0001",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2026-12-01T04:00:00Z",
    "region": "us-east-1",
    "resources": ["arn:aws:events:us-east-1:123456789012:rule/asset-sync-daily"],
    "detail": {},
}
# Distributions whose version the report gives (module name -> distribution name).
DISTRIBUTIONS = {
    "urllib3": "urllib3",
    "boto3": "boto3",
    "botocore": "botocore",
    "s3transfer": "s3transfer",
    "aws_lambda_powertools": "aws-lambda-powertools",
    "msgspec": "msgspec",
}


class LambdaContext:
    """The attributes of a Lambda context that Powertools reads."""

    function_name = "signal9-asset-sync-test"
    function_version = "$LATEST"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:signal9-asset-sync-test"
    aws_request_id = "00000000-0000-4000-8000-00000000a1f0"
    log_group_name = "/aws/lambda/signal9-asset-sync-test"
    log_stream_name = "artifact-test"

    def get_remaining_time_in_millis(self) -> int:
        return 600_000


def module_origins(task_root: Path) -> dict[str, list[str]]:
    """Top-level modules loaded, by where they came from: the artifact, the stdlib, elsewhere."""
    stdlib = {Path(sysconfig.get_paths()[key]).resolve() for key in ("stdlib", "platstdlib")}
    origins: dict[str, set[str]] = {"artifact": set(), "stdlib": set(), "elsewhere": set()}
    for name, module in list(sys.modules.items()):
        file = getattr(module, "__file__", None)
        if not file:
            continue  # built-in or namespace module
        path = Path(file).resolve()
        if path == THIS_SCRIPT:
            continue  # __main__, and its alias __mp_main__
        top = name.split(".")[0]
        if path.is_relative_to(task_root):
            origins["artifact"].add(top)
        elif (
            any(path.is_relative_to(root) for root in stdlib) and "site-packages" not in path.parts
        ):
            origins["stdlib"].add(top)
        else:
            origins["elsewhere"].add(f"{name}={path}")
    return {kind: sorted(names) for kind, names in origins.items()}


def loaded_versions() -> dict[str, dict[str, str | None]]:
    """File and version of each module of DISTRIBUTIONS that is loaded."""
    found: dict[str, dict[str, str | None]] = {}
    for module_name, distribution in DISTRIBUTIONS.items():
        module = sys.modules.get(module_name)
        if module is None:
            continue
        version = getattr(module, "__version__", None)
        if version is None:
            version = importlib.metadata.version(distribution)
        found[module_name] = {"file": getattr(module, "__file__", None), "version": str(version)}
    return found


def main(task_root: Path, report_path: Path) -> int:
    """Invoke the handler once; write the report; exit 1 if the handler raised."""
    sys.path.insert(0, str(task_root))  # Lambda: /var/task before the runtime's libraries
    report: dict[str, Any] = {"sys_path": sys.path}
    code = 0
    try:
        from asset_sync.handler import lambda_handler  # noqa: PLC0415 - after sys.path

        report["result"] = lambda_handler(SCHEDULED_EVENT, LambdaContext())
    except BaseException as error:
        report["exception"] = f"{type(error).__name__}: {error}"
        report["traceback"] = traceback.format_exc()
        code = 1
    report["modules"] = module_origins(task_root)
    report["versions"] = loaded_versions()
    report["sys_modules"] = sorted(sys.modules)
    report_path.write_text(json.dumps(report, indent=1, default=str))
    return code


if __name__ == "__main__":
    sys.exit(main(Path(sys.argv[1]).resolve(), Path(sys.argv[2])))
