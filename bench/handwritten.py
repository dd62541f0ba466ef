"""Hand-written blocks of docs/benchmarks.md, kept when `make bench` regenerates the file.

A block is everything between a begin and an end marker, each alone on its line:

    <!-- hand-written: artifact (kept as is by `make bench`; edit by hand) -->
    ## Lambda artifact and cold import
    ...
    <!-- /hand-written: artifact -->

The name (letters, digits, `-`) is unique in the file; anything after the name in the begin
marker is free text. A block goes back, byte for byte, at the end of the generated section it
followed: the last `## ` heading before it outside any block, looked up in the regenerated text.
A block whose section is gone, or that came before every heading, goes at the end, so no block is
ever dropped. Malformed markers (an end without a begin, a block never closed, a nested or
repeated name) raise `HandWrittenError` before anything is written: `bench.run` checks the file
when it starts, not after the hour-long run.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

BEGIN = re.compile(r"^<!-- hand-written: (?P<name>[A-Za-z0-9-]+)\b.*-->\s*$")
END = re.compile(r"^<!-- /hand-written: (?P<name>[A-Za-z0-9-]+) -->\s*$")
HEADING = re.compile(r"^## ")


class HandWrittenError(ValueError):
    """The hand-written markers of the document are malformed."""


@dataclass(frozen=True)
class Block:
    """One hand-written block: its lines (markers included) and the heading it followed."""

    name: str
    lines: tuple[str, ...]
    after: str | None  # the generated `## ` heading line it followed (None: before every one)


def blocks(text: str) -> list[Block]:
    """The hand-written blocks of `text`, in order (HandWrittenError if malformed)."""
    found: list[Block] = []
    names: set[str] = set()
    heading: str | None = None
    current: list[str] | None = None
    name = ""
    begun_at = 0
    for number, line in enumerate(text.splitlines(), start=1):
        begin, end = BEGIN.match(line), END.match(line)
        if begin:
            if current is not None:
                raise HandWrittenError(
                    f"line {number}: block {begin['name']!r} begins inside block {name!r} "
                    f"(line {begun_at})"
                )
            name, begun_at, current = begin["name"], number, [line]
            if name in names:
                raise HandWrittenError(f"line {number}: a second block named {name!r}")
            names.add(name)
        elif end:
            if current is None or end["name"] != name:
                raise HandWrittenError(
                    f"line {number}: end of block {end['name']!r} without its begin marker"
                )
            current.append(line)
            found.append(Block(name, tuple(current), heading))
            current = None
        elif current is not None:
            current.append(line)
        elif HEADING.match(line):
            heading = line.rstrip()
    if current is not None:
        raise HandWrittenError(f"line {begun_at}: block {name!r} is never closed")
    return found


def merge(generated: str, kept: list[Block]) -> str:
    """`generated` with every block of `kept` put back at the end of the section it followed."""
    if not kept:
        return generated
    lines = generated.splitlines()
    headings = {line.rstrip() for line in lines if HEADING.match(line)}
    pending: dict[str | None, list[Block]] = {}
    orphans: list[Block] = []
    for block in kept:
        if block.after is not None and block.after in headings:
            pending.setdefault(block.after, []).append(block)
        else:
            orphans.append(block)
    out: list[str] = []
    section: str | None = None

    def flush(blocks_here: list[Block]) -> None:
        while out and not out[-1].strip():
            out.pop()
        for block in blocks_here:
            out.extend(["", *block.lines])
        out.append("")

    for line in lines:
        if HEADING.match(line) and section in pending:
            flush(pending.pop(section))
        if HEADING.match(line):
            section = line.rstrip()
        out.append(line)
    flush([*pending.pop(section, []), *orphans])
    return "\n".join(out).strip("\n") + "\n"


def regenerate(generated: str, previous: str | None) -> str:
    """The new document: `generated`, plus the hand-written blocks of `previous` (if any)."""
    return merge(generated, blocks(previous)) if previous else generated
