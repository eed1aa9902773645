"""BENCHMARKS.md is written by several commands, each owning its sections.

`benchmarks.run` owns the top of the file (everything before the first appended section); every
other command owns `## ` sections it replaces by title, or appends: streaming runs and the large
corpus run take long and are rerun on their own.
"""
from __future__ import annotations

import pathlib
import re
import sys

APPENDED_TITLES = ("## Streaming", "## Large corpus")


def _sections(text: str) -> list[str]:
    return re.split(r"\n+(?=## )", text.rstrip("\n")) if text else []


def replace_section(path: pathlib.Path, section: str) -> None:
    """Put `section` in place of the file's section with the same title, or append it."""
    sections = _sections(path.read_text() if path.exists() else "")
    title = section.split("\n", 1)[0]
    replaced = [section.rstrip("\n") if s.split("\n", 1)[0] == title else s for s in sections]
    if replaced == sections:
        replaced.append(section.rstrip("\n"))
    path.write_text("\n\n".join(replaced) + "\n")


def replace_top(path: pathlib.Path, text: str) -> None:
    """Replace the file's content up to its first appended section with `text`."""
    sections = _sections(path.read_text() if path.exists() else "")
    first = next((i for i, s in enumerate(sections) if s.startswith(APPENDED_TITLES)), len(sections))
    path.write_text("\n\n".join([text.rstrip("\n")] + sections[first:]) + "\n")


def command_line(module: str, argv: list[str] | None) -> str:
    """How a benchmark was started, as its section records it."""
    return " ".join(["python -m", module, *(sys.argv[1:] if argv is None else argv)])


def publish(text: str, path: str | None, place=replace_section) -> int:
    """Print `text` and, given a `path`, put it there with `place`; the exit status of a benchmark's main."""
    if path:
        place(pathlib.Path(path), text)
    print(text)
    return 0
