"""What the CLI promises about its output: one `asset-sync: ...` line on stderr for a failure, and
with `--json` exactly one JSON object on stdout; tables with a schema the sync does not expect."""

from __future__ import annotations

import json
import socket
import threading
import uuid
from pathlib import Path
from typing import Any

from tests.support import CliResult, Env

from asset_sync.dal.run_state import RunStateTable


def unique(prefix: str) -> str:
    """A table name no other test on the shared moto server has used."""
    return f"{prefix}_{uuid.uuid4().hex[:8]}"


def one_json_object(result: CliResult) -> dict[str, Any]:
    """stdout as exactly one JSON object on one line (what `--json` promises)."""
    lines = result.stdout.splitlines()
    assert len(lines) == 1, result.stdout
    value = json.loads(lines[0])
    assert isinstance(value, dict)
    return value


def one_error_line(result: CliResult) -> str:
    """stderr as exactly one `asset-sync: ...` line, without a traceback or click's block."""
    lines = result.stderr.splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("asset-sync: "), result.stderr
    return lines[0]


def odd_table(env: Env, key: str, *indexes: str, stream: bool = True) -> str:
    """A new table on the env's moto server with partition key `key` and a keys-only GSI on
    each of `indexes` (what a hand-made or another project's table looks like)."""
    name = unique(f"odd_{key}")
    attributes = dict.fromkeys((key, *indexes), "S")
    spec: dict[str, Any] = {
        "TableName": name,
        "BillingMode": "PAY_PER_REQUEST",
        "KeySchema": [{"AttributeName": key, "KeyType": "HASH"}],
        "AttributeDefinitions": [
            {"AttributeName": n, "AttributeType": t} for n, t in attributes.items()
        ],
    }
    if indexes:
        spec["GlobalSecondaryIndexes"] = [
            {
                "IndexName": f"{index}-index",
                "KeySchema": [{"AttributeName": index, "KeyType": "HASH"}],
                "Projection": {"ProjectionType": "ALL"},
            }
            for index in indexes
        ]
    if stream:
        spec["StreamSpecification"] = {
            "StreamEnabled": True,
            "StreamViewType": "NEW_AND_OLD_IMAGES",
        }
    env.assets.client.create_table(**spec)
    return name


def state_table_for(env: Env, assets_table: str) -> str:
    """Create the default state table of `assets_table` (as `create-table` would)."""
    name = f"{assets_table}_sync_state"
    RunStateTable(env.state.client, name).create()
    return name


class SilentServer:
    """Accepts connections on 127.0.0.1, reads nothing back and never answers (bounded: it
    closes every connection when the block ends). `accepted` counts connections."""

    def __init__(self) -> None:
        self._listener = socket.socket()
        self._listener.bind(("127.0.0.1", 0))
        self._listener.listen(16)
        self._listener.settimeout(0.1)
        self._done = threading.Event()
        self._open: list[socket.socket] = []
        self.accepted = 0
        self._thread = threading.Thread(target=self._serve, daemon=True)

    @property
    def url(self) -> str:
        host, port = self._listener.getsockname()[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> SilentServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._done.set()
        self._thread.join(timeout=10)
        for conn in self._open:
            conn.close()
        self._listener.close()

    def _serve(self) -> None:
        while not self._done.is_set():
            try:
                conn, _ = self._listener.accept()
            except TimeoutError:
                continue
            except OSError:
                return
            self._open.append(conn)
            self.accepted += 1


def child_pids(pid: int, running: str = "") -> list[int]:
    """The running processes whose parent is `pid` (from /proc); with `running`, only those
    whose command line contains it (a forked child that has not yet exec'd it does not)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
            command = (entry / "cmdline").read_bytes().replace(b"\0", b" ").decode(errors="replace")
        except OSError:
            continue
        if int(fields[1]) == pid and fields[0] != "Z" and running in command:
            found.append(int(entry.name))
    return found
