"""moto's server for the benchmark, with one change: how a TransactWriteItems keeps its rollback.

moto (5.x) deep-copies every table a transaction writes, once per item, before applying it, so
that it can put the tables back if an item fails. At 35,000 items that copy takes seconds, so
each identity change (one transaction) would cost moto more than a whole no-change run and
outlast the client's read timeout (then retried: one more write request that DynamoDB would
never see). Here a transaction keeps, for its rollback, a copy of the table in which only the
items it writes are copied deeply (the others are not written by it, so they need no copy):
the same rollback, at the cost of the items written. Requests, answers and the table's contents
are moto's own; only moto's CPU time on transactions shrinks.

    python -m bench.moto_transactions -H 127.0.0.1 -p PORT    # moto.server's own arguments
"""

from __future__ import annotations

import copy
import inspect
import os
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections import defaultdict
from pathlib import Path
from typing import Any

from asset_sync.local.moto_server import LOCAL_CREDENTIALS, MotoServer, MotoServerError

MODULE = "bench.moto_transactions"
_local = threading.local()  # the items the current thread's transaction writes, by table


def _touched(backend: Any, transact_items: list[dict[str, Any]]) -> dict[str, set[Any]]:
    """The hash keys (as moto indexes them) each table's items of a transaction have."""
    from moto.dynamodb.models.dynamo_type import DynamoType  # noqa: PLC0415

    touched: dict[str, set[Any]] = defaultdict(set)
    for entry in transact_items:
        (operation,) = entry.values()
        table = backend.tables.get(operation.get("TableName"))
        key = operation.get("Item") or operation.get("Key") or {}
        if table is not None and table.hash_key_attr in key:
            touched[table.name].add(DynamoType(key[table.hash_key_attr]))
    return touched


class _RollbackCopy:
    """Stands for the `copy` module in moto.dynamodb.models: a table copied during a
    transaction shares its unwritten items with the live table."""

    def __getattr__(self, name: str) -> Any:
        return getattr(copy, name)

    def deepcopy(self, value: Any, memo: dict[int, Any] | None = None) -> Any:
        from moto.dynamodb.models.table import Table  # noqa: PLC0415

        touched: dict[str, set[Any]] | None = getattr(_local, "touched", None)
        if touched is None or not isinstance(value, Table):
            return copy.deepcopy(value, memo)
        snapshot = copy.copy(value)
        snapshot.items = defaultdict(dict, value.items)
        for hash_value in touched.get(value.name, ()):
            if hash_value in value.items:
                snapshot.items[hash_value] = copy.deepcopy(value.items[hash_value])
        return snapshot


def patch_transactions() -> None:
    """Install the rollback copy (refusing a moto whose transactions work otherwise)."""
    from moto.dynamodb import models  # noqa: PLC0415

    original = models.DynamoDBBackend.transact_write_items
    if "copy.deepcopy(" not in inspect.getsource(original):
        raise RuntimeError("moto's TransactWriteItems no longer deep-copies its tables")

    def transact_write_items(self: Any, transact_items: list[dict[str, Any]]) -> None:
        _local.touched = _touched(self, transact_items)
        try:
            original(self, transact_items)
        finally:
            _local.touched = None

    models.copy = _RollbackCopy()  # type: ignore[attr-defined,assignment]
    models.DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]


class BenchMotoServer(MotoServer):
    """`MotoServer`, running this module instead of `moto.server`."""

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers; return its URL."""
        root = str(Path(__file__).resolve().parent.parent)
        env = {**os.environ, **LOCAL_CREDENTIALS, "MOTO_CALL_RESET_API": "false"}
        env["PYTHONPATH"] = os.pathsep.join(filter(None, [root, env.get("PYTHONPATH")]))
        argv = [sys.executable, "-m", MODULE, "-H", self.host, "-p", str(self.port)]
        self.process = subprocess.Popen(
            argv,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            cwd=root,
            start_new_session=True,  # not killed by the terminal's Ctrl-C under the bench
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MotoServerError(f"moto's server exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):
                    return self.url
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise MotoServerError(f"moto's server did not answer on {self.url} within {timeout} s")


if __name__ == "__main__":
    from moto.server import main

    patch_transactions()
    main()
