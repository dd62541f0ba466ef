"""``python -m asset_sync.local.stand_in``: serve a generated catalog until Ctrl-C / SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import signal
import sys
import threading
from collections.abc import Sequence
from types import FrameType

from asset_sync.local.catalog import generate_catalog
from asset_sync.local.stand_in.service import AlpacaStandIn


def main(argv: Sequence[str] | None = None) -> int:
    """Serve a generated catalog until interrupted; the base URL is stdout's first line."""
    parser = argparse.ArgumentParser(
        prog="python -m asset_sync.local.stand_in",
        description="Local stand-in for Alpaca's Trading API assets endpoints, over real HTTP "
        "on loopback.",
    )
    parser.add_argument("--assets", type=int, default=35_000, help="catalog size (default 35000)")
    parser.add_argument("--seed", type=int, default=0, help="catalog seed (default 0)")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=0, help="0 picks a free port (default)")
    parser.add_argument("--key-id", default="local-key")
    parser.add_argument("--secret-key", default="local-secret")
    args = parser.parse_args(argv)

    done = threading.Event()

    def _on_term(signum: int, frame: FrameType | None) -> None:
        done.set()

    signal.signal(signal.SIGTERM, _on_term)
    stand_in = AlpacaStandIn(
        generate_catalog(args.assets, args.seed),
        key_id=args.key_id, secret_key=args.secret_key, host=args.host, port=args.port,
    )  # fmt: skip
    with stand_in:
        sys.stdout.write(stand_in.base_url + "\n")
        sys.stdout.flush()
        sys.stderr.write(
            f"serving {args.assets} assets (seed {args.seed}); APCA-API-KEY-ID={args.key_id}; "
            "Ctrl-C to stop\n"
        )
        with contextlib.suppress(KeyboardInterrupt):
            done.wait()
    return 0
