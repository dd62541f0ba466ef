"""`asset-sync demo` stops its sync and its child servers (moto's server process) on SIGTERM as
on Ctrl-C: the demo runs as a child, the signal goes to it alone (not to its process group, as a
terminal's Ctrl-C would), and moto's server must be gone afterwards."""

from __future__ import annotations

import os
import re
import select
import signal
import subprocess
import sys
import time
from pathlib import Path

import boto3
import pytest
from tests.support.lifecycle import signal_name
from tests.support.reliability import REPO_ROOT, child_env, wait_until

from asset_sync.local.moto_server import LOCAL_CREDENTIALS


def children(pid: int) -> list[int]:
    """The processes whose parent is `pid` (from /proc)."""
    found = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        if int(stat.rsplit(")", 1)[1].split()[1]) == pid:
            found.append(int(entry.name))
    return found


def running(pid: int) -> bool:
    """Whether `pid` exists and is not a zombie."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except OSError:
        return False
    return stat.rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.parametrize("sig", [signal.SIGTERM, signal.SIGINT], ids=signal_name)
def test_demo_stops_its_sync_and_its_servers_on_sigterm_as_on_ctrl_c(sig: int) -> None:
    size = 3000
    process = subprocess.Popen(
        [sys.executable, "-m", "asset_sync.cli", "demo", "--assets", str(size)],
        env=child_env({**os.environ, **LOCAL_CREDENTIALS}, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
    )
    servers: list[int] = []
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)  # bounded
        assert ready, "the demo printed nothing within 60 s"
        first = process.stdout.readline()
        url = re.search(r"moto's server\): (http://\S+);", first)
        assert url, first
        servers = [pid for pid in children(process.pid) if running(pid)]
        assert servers, "moto's server is not a child of the demo"
        client = boto3.client("dynamodb", endpoint_url=url.group(1), region_name="us-east-1")

        def items() -> int:
            try:
                return int(client.scan(TableName="signal9_assets", Select="COUNT")["Count"])
            except client.exceptions.ResourceNotFoundException:
                return 0

        assert wait_until(lambda: items() >= 50 or process.poll() is not None, 60, 0.05)
        process.send_signal(sig)
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.communicate(timeout=10)
        time.sleep(0.2)
        left_running = [pid for pid in servers if running(pid)]
        for pid in left_running:  # never leave a server behind, whatever happened
            os.kill(pid, signal.SIGKILL)

    assert not left_running, "moto's server was left running"
    assert process.returncode == 128 + sig, stderr
    assert f"demo stopped ({signal_name(sig)})" in stderr
    assert "interrupted" in stdout
    created = re.search(r"created (\d+)", stdout)
    assert created and int(created.group(1)) < size // 2, "the sync wrote on after the signal"


def test_ctrl_c_in_a_terminal_stops_the_demo_with_130_and_keeps_its_servers_up() -> None:
    """A terminal's Ctrl-C reaches every process of the foreground process group: the demo and,
    unless it has a session of its own, moto's server, which would die before the sync records
    what it wrote."""
    process = subprocess.Popen(
        [sys.executable, "-m", "asset_sync.cli", "demo", "--assets", "3000"],
        env=child_env({**os.environ, **LOCAL_CREDENTIALS}, PYTHONUNBUFFERED="1"),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        cwd=REPO_ROOT,
        start_new_session=True,  # the demo leads its own group, as a shell's foreground job
    )
    servers: list[int] = []
    try:
        assert process.stdout is not None
        ready, _, _ = select.select([process.stdout], [], [], 60)  # bounded
        assert ready, "the demo printed nothing within 60 s"
        url = re.search(r"moto's server\): (http://\S+);", process.stdout.readline())
        assert url, "no moto URL in the first line"
        servers = [pid for pid in children(process.pid) if running(pid)]
        client = boto3.client("dynamodb", endpoint_url=url.group(1), region_name="us-east-1")

        def items() -> int:
            try:
                return int(client.scan(TableName="signal9_assets", Select="COUNT")["Count"])
            except client.exceptions.ResourceNotFoundException:
                return 0

        assert wait_until(lambda: items() >= 50 or process.poll() is not None, 60, 0.05)
        assert process.poll() is None, "the demo ended before the Ctrl-C"
        os.killpg(process.pid, signal.SIGINT)  # what the terminal does on Ctrl-C
        stdout, stderr = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
            process.communicate(timeout=10)
        time.sleep(0.2)
        left_running = [pid for pid in servers if running(pid)]
        for pid in left_running:
            os.kill(pid, signal.SIGKILL)

    assert process.returncode == 130, stderr
    assert "cannot reach DynamoDB" not in stderr
    assert "could not store the run record" not in stderr
    assert "demo stopped (SIGINT)" in stderr
    assert re.search(r"stopped \(SIGINT\) after writing [\d,]+ of [\d,]+ planned changes", stdout)
    assert not left_running, "moto's server was left running"
