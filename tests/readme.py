"""The README's commands, read from the README itself (standard library only: CI runs this with
the system Python, before the virtual environment exists).

``python3 tests/readme.py newcomer`` prints the commands of the newcomer's sections (set-up,
running toolkit, your own data) as a bash script, exactly as written; ``.ci/run`` runs it on a
clean clone. ``tests/test_readme.py`` runs every other command on small stand-in data.
"""

from __future__ import annotations

import re
import sys
from dataclasses import dataclass
from pathlib import Path

README = Path(__file__).resolve().parents[1] / "README.md"
#: the sections a newcomer follows in order, from a fresh clone
NEWCOMER_SECTIONS = ("Set up", "Running `toolkit`", "Your own data in three commands")


@dataclass(frozen=True)
class Command:
    """One command line of a code block (continuation lines joined), with its section."""

    section: str
    line: int
    text: str


def code_blocks(text: str) -> list[tuple[str, int, list[str]]]:
    """(section heading, first line number, lines) of every fenced or indented code block."""
    blocks: list[tuple[str, int, list[str]]] = []
    section = ""
    lines = text.splitlines()
    i = 0
    while i < len(lines):
        line = lines[i]
        if line.startswith("#"):
            section = line.lstrip("#").strip()
        if line.startswith("```"):
            j = i + 1
            while j < len(lines) and not lines[j].startswith("```"):
                j += 1
            blocks.append((section, i + 2, lines[i + 1 : j]))
            i = j + 1
            continue
        # an indented block starts after a blank line (not inside a list item)
        if line.startswith("    ") and (i == 0 or not lines[i - 1].strip()):
            j = i
            while j < len(lines) and (lines[j].startswith("    ") or not lines[j].strip()):
                j += 1
            body = [ln[4:] for ln in lines[i:j]]
            while body and not body[-1].strip():
                body.pop()
            blocks.append((section, i + 1, body))
            i = j
            continue
        i += 1
    return blocks


def commands(text: str | None = None) -> list[Command]:
    """Every command of every code block, in the README's order (comment lines left out)."""
    text = README.read_text(encoding="utf-8") if text is None else text
    out = []
    for section, first, body in code_blocks(text):
        shown = [ln for ln in body if ln.strip()]
        if shown and shown[0].split()[0].endswith("/"):
            continue  # a directory tree, not commands
        pending, start = "", 0
        for k, raw in enumerate(body):
            if not pending and (not raw.strip() or raw.lstrip().startswith(("#", "["))):
                continue  # blank, a comment, or the continuation of a usage line
            if not pending:
                start = first + k
            if raw.rstrip().endswith("\\"):
                pending += raw.rstrip()[:-1].strip() + " "
                continue
            out.append(Command(section, start, (pending + raw.strip()).strip()))
            pending = ""
    return out


def newcomer_script(text: str | None = None) -> str:
    """The newcomer's commands as one bash script that stops at the first failure."""
    lines = ["set -euxo pipefail"]
    lines += [c.text for c in commands(text) if c.section in NEWCOMER_SECTIONS]
    return "\n".join(lines) + "\n"


def is_synopsis(text: str) -> bool:
    """A usage line (``toolkit run DATA --out DIR [--cutoff D]``), not a command to run."""
    return "[" in text or bool(re.search(r"\b(DATA|DIR|FILE|FEATURES|MODEL_DIR)\b", text))


if __name__ == "__main__":
    if sys.argv[1:] != ["newcomer"]:
        sys.exit("usage: python3 tests/readme.py newcomer")
    sys.stdout.write(newcomer_script())
