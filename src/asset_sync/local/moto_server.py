"""moto's server as a local DynamoDB (and Secrets Manager) over real HTTP on loopback.

It runs in a child process, so the sync under test talks to it exactly as to AWS: HTTP requests
signed by boto3, with no in-process mocking. The child has a session of its own: the Ctrl-C a
terminal sends to its foreground process group reaches the process that started it, which stops
cleanly (recording what it wrote, on this server) and then stops the server.
"""

from __future__ import annotations

import os
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request

from asset_sync.contract import Env
from asset_sync.local.loopback import LocalService

LOCAL_CREDENTIALS = {
    "AWS_ACCESS_KEY_ID": "local",
    "AWS_SECRET_ACCESS_KEY": "local",
    Env.AWS_DEFAULT_REGION: "us-east-1",
}


class MotoServerError(RuntimeError):
    """moto's server could not be started."""


def free_port(host: str = "127.0.0.1") -> int:
    """An unused TCP port on loopback."""
    with socket.socket() as sock:
        sock.bind((host, 0))
        return int(sock.getsockname()[1])


class MotoServer(LocalService):
    """Start and stop `python -m moto.server` on loopback."""

    def __init__(self, host: str = "127.0.0.1", port: int | None = None) -> None:
        self.host = host
        self.port = port or free_port(host)
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        """The endpoint URL to give boto3."""
        return f"http://{self.host}:{self.port}"

    def start(self, timeout: float = 30.0) -> str:
        """Start the server and wait until it answers; return its URL."""
        try:
            import moto.server  # noqa: F401, PLC0415 - only to give a clear error if missing
        except ImportError as error:
            raise MotoServerError(
                "moto's server is not installed: pip install 'signal9-asset-sync[local]'"
            ) from error
        env = {**os.environ, **LOCAL_CREDENTIALS, "MOTO_CALL_RESET_API": "false"}
        self.process = subprocess.Popen(  # noqa: S603 - fixed argv, our own interpreter
            [sys.executable, "-m", "moto.server", "-H", self.host, "-p", str(self.port)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
            env=env,
            start_new_session=True,  # not killed by the terminal's Ctrl-C under its user
        )
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if self.process.poll() is not None:
                raise MotoServerError(f"moto's server exited with code {self.process.returncode}")
            try:
                with urllib.request.urlopen(f"{self.url}/moto-api/", timeout=1):  # noqa: S310
                    return self.url
            except (urllib.error.URLError, OSError):
                time.sleep(0.1)
        self.stop()
        raise MotoServerError(f"moto's server did not answer on {self.url} within {timeout} s")

    def stop(self) -> None:
        """Stop the server."""
        if self.process is not None and self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        self.process = None
