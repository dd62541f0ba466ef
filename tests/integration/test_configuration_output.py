"""Terminal output, through the real CLI: catalog text is escaped, colour obeys NO_COLOR, progress
never goes backwards.

Control, formatting and line-separator characters (`ESC [2J`, BEL, a C1 CSI, a bidi override, a
line separator) may come from Alpaca in symbols, names, classes and error messages; none of them
may reach stdout or stderr raw, in the human output or with `--json` (JSON escapes them itself).
"""

from __future__ import annotations

import io
import json
import os
import pty
import re
import subprocess
import sys
import threading
import unicodedata

import pytest
from tests.support import Env, run_cli
from tests.support import asset_record as asset
from tests.support.reliability import run_fast_cli

from asset_sync import terminal
from asset_sync.local.stand_in import Fault

HOSTILE = "\x1b[2J\x07\x9b31m\u202e\u2028"
RAW = set(HOSTILE)


def raw_controls(text: str) -> list[str]:
    """Control, formatting and separator characters in `text`, other than line feeds."""
    return [
        char
        for char in text
        if char != "\n" and unicodedata.category(char) in {"Cc", "Cf", "Zl", "Zp"}
    ]


def assert_safe(*texts: str) -> None:
    for text in texts:
        assert raw_controls(text) == [], text


def output_args(as_json: bool) -> list[str]:
    return ["--json"] if as_json else []


# -- catalog text --------------------------------------------------------------------------------


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_an_invalid_records_symbol_is_escaped(env: Env, as_json: bool) -> None:
    symbol = f"EVIL{HOSTILE}"
    env.serve([asset("A"), asset(symbol)])

    result = run_cli("sync", *output_args(as_json), env=env.cli_env())

    assert result.code == 0, result.stderr
    assert_safe(result.stdout, result.stderr)
    if as_json:
        invalid = result.json()["invalid_records"]
        assert [record["symbol"] for record in invalid] == [symbol]  # JSON keeps the value
    else:
        assert "invalid record #1 (EVIL\\x1b[2J\\x07\\x9b31m\\u202e\\u2028)" in result.stdout


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_name_and_a_class_shown_in_changes_are_escaped(env: Env, as_json: bool) -> None:
    env.serve([asset("A", name="Plain Inc.")])
    assert run_cli("sync", env=env.cli_env()).code == 0
    name = "Evil\u202e.cni\u2028Corp\u200f"  # formatting characters pass validation
    env.serve([asset("A", name=name, attributes=["x\u202ey"])])

    result = run_cli("sync", *output_args(as_json), env=env.cli_env())

    assert result.code == 0, result.stderr
    assert_safe(result.stdout, result.stderr)
    if as_json:
        fields = result.json()["changes"]["A"]["fields"]
        assert fields["name"] == {"old": "Plain Inc.", "new": name}
    else:
        assert "Evil\\u202e.cni\\u2028Corp\\u200f" in result.stdout
    stored = env.item("A")
    assert stored is not None and stored["name"] == name  # stored verbatim, only shown escaped


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
def test_a_class_held_by_the_table_is_escaped_in_the_scope_error(env: Env, as_json: bool) -> None:
    odd_class = "odd\u202eclass"
    env.stand_in.set_assets([asset("ODD", **{"class": odd_class})])
    cli_env = {**env.cli_env(), "ASSET_CLASSES": ""}
    first = run_cli("sync", "--asset-class", odd_class, env=cli_env)
    assert first.code == 0, first.stderr
    assert_safe(first.stdout, first.stderr)
    assert "scope odd\\u202eclass;" in first.stdout

    result = run_cli("sync", *output_args(as_json), "--asset-class", "bogus_class", env=cli_env)

    assert result.code == 2, result.stderr
    assert_safe(result.stdout, result.stderr)
    assert "known classes: crypto, odd\\u202eclass, us_equity, us_option" in result.stderr
    if as_json:
        assert f"known classes: crypto, {odd_class}, us_equity" in result.json()["message"]


@pytest.mark.parametrize("as_json", [False, True], ids=["human", "json"])
@pytest.mark.parametrize(("status", "code"), [(503, 1), (401, 2)])
def test_a_failure_message_from_alpaca_is_escaped(
    env: Env, as_json: bool, status: int, code: int
) -> None:
    env.serve([asset("A")])
    body = json.dumps({"code": 1, "message": f"boom {HOSTILE} boom"}).encode()
    env.stand_in.script(*[Fault.status(status, body=body)] * 8)

    result = run_fast_cli("sync", *output_args(as_json), env=env.cli_env())
    shown = run_cli("status", env=env.cli_env())  # the recorded message, shown again

    assert result.code == code, result.stderr
    assert_safe(result.stdout, result.stderr, shown.stdout, shown.stderr)
    assert "boom \\x1b[2J\\x07\\x9b31m\\u202e\\u2028 boom" in result.stderr
    assert "boom \\x1b[2J" in shown.stdout
    if as_json:
        assert f"boom {HOSTILE} boom" in result.json()["message"]


# -- colour --------------------------------------------------------------------------------------


def run_with_tty_stderr(*args: str, env: dict[str, str], timeout: float = 120) -> tuple[int, str]:
    """Run the CLI with stderr on a pseudo-terminal (as in a shell); return (code, stderr)."""
    master, slave = pty.openpty()
    chunks: list[bytes] = []

    def drain() -> None:
        while True:
            try:
                data = os.read(master, 65536)
            except OSError:  # EIO: every writer of the terminal has gone
                return
            if not data:
                return
            chunks.append(data)

    reader = threading.Thread(target=drain, daemon=True)
    reader.start()
    with subprocess.Popen(
        [sys.executable, "-m", "asset_sync.cli", *args],
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=subprocess.PIPE,
        stderr=slave,
    ) as process:
        os.close(slave)
        process.communicate(timeout=timeout)
    reader.join(timeout=10)
    os.close(master)
    return process.returncode, b"".join(chunks).decode("utf-8", "replace")


@pytest.mark.parametrize(("no_color", "coloured"), [(None, True), ("", True), ("1", False)])
def test_no_color_turns_the_error_colour_off(
    env: Env, no_color: str | None, coloured: bool
) -> None:
    cli_env = {k: v for k, v in env.cli_env().items() if k != "NO_COLOR"}
    if no_color is not None:
        cli_env["NO_COLOR"] = no_color

    code, stderr = run_with_tty_stderr("sync", env={**cli_env, "MAX_DELIST_FRACTION": "lots"})

    assert code == 2
    assert "MAX_DELIST_FRACTION" in stderr
    assert ("\x1b[31m" in stderr) is coloured
    if not coloured:
        assert "\x1b" not in stderr


# -- progress ------------------------------------------------------------------------------------

PERCENT = re.compile(r"(\d+)%")


def test_the_progress_bar_ignores_counts_that_arrive_out_of_order(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    master, slave = pty.openpty()
    tty = io.TextIOWrapper(os.fdopen(slave, "wb", buffering=0), encoding="utf-8")
    monkeypatch.setattr(sys, "stderr", tty)
    progress = terminal.TerminalProgress().progress

    progress.start_writes(100)
    for done in (3, 1, 2, 5, 4, 48, 47, 47, 60, 99, 100, 98):  # as threads report them
        progress.advance(done)
    tty.flush()
    tty.close()
    shown = read_all(master)

    percents = [int(p) for p in PERCENT.findall(shown)]
    assert percents, shown
    assert percents == sorted(percents), shown
    assert percents[-1] == 100


def read_all(master: int) -> str:
    chunks: list[bytes] = []
    while True:
        try:
            data = os.read(master, 65536)
        except OSError:
            break
        if not data:
            break
        chunks.append(data)
    os.close(master)
    return b"".join(chunks).decode("utf-8", "replace")


def test_a_sync_on_a_terminal_shows_stages_and_a_bar_that_only_moves_forward(env: Env) -> None:
    env.serve([asset(f"S{i:03d}") for i in range(300)])

    code, stderr = run_with_tty_stderr("sync", env={**env.cli_env(), "WRITE_CONCURRENCY": "16"})

    assert code == 0, stderr
    assert "... fetching the Alpaca catalog (us_equity)" in stderr
    assert "... writing 300 changes" in stderr
    percents = [int(p) for p in PERCENT.findall(stderr)]
    assert percents == sorted(percents), stderr
    assert percents[-1] == 100


def test_json_output_has_no_progress_even_on_a_terminal(env: Env) -> None:
    env.serve([asset("A")])
    code, stderr = run_with_tty_stderr("sync", "--json", env=env.cli_env())
    assert code == 0
    assert stderr == ""
