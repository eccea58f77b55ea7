"""A generated block inside a hand-written markdown page, and the `--write`/`--check` command around it.

The page keeps its prose; only the part between the BEGIN/END markers comes from code (the Avro schemas,
the argparse parser), so the reference cannot drift from what the program does. A test runs the check.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True)
class GeneratedBlock:
    """One generated block: what it holds, the page it sits in and the module that regenerates it."""

    title: str
    page: str  # relative to the repository root, where the generators are run
    module: str

    @property
    def command(self) -> str:
        return f"python -m {self.module} --write {self.page}"

    @property
    def begin(self) -> str:
        return f"<!-- BEGIN GENERATED: {self.title} ({self.command}) -->"

    @property
    def end(self) -> str:
        return f"<!-- END GENERATED: {self.title} -->"

    def extract(self, text: str) -> str | None:
        """The generated part of a page (between the markers), or None when the page has no markers."""
        if self.begin not in text or self.end not in text:
            return None
        return text.split(self.begin, 1)[1].split(self.end, 1)[0].strip("\n") + "\n"

    def replace(self, text: str, content: str) -> str:
        """The page with its generated part replaced by `content`; everything around it is kept."""
        if self.begin not in text or self.end not in text:
            raise ValueError("markers not found: " + self.begin)
        head, rest = text.split(self.begin, 1)
        _, tail = rest.split(self.end, 1)
        return f"{head}{self.begin}\n{content}{self.end}{tail}"

    def main(self, argv: Sequence[str] | None, render: Callable[[], str], description: str) -> int:
        """`--write [PAGE]` replaces the block, `--check [PAGE]` exits 1 when it is stale, neither prints it."""
        prog = f"python -m {self.module}"
        ap = argparse.ArgumentParser(prog=prog, description=description)
        g = ap.add_mutually_exclusive_group()
        for flag, what in (("--write", "replace the block"), ("--check", "exit 1 when the block is stale")):
            g.add_argument(flag, type=Path, nargs="?", const=Path(self.page), metavar="FILE.md", help=what)
        args = ap.parse_args(argv)
        if args.write:
            text = args.write.read_text(encoding="utf-8")
            args.write.write_text(self.replace(text, render()), encoding="utf-8")
            return 0
        if args.check:
            if self.extract(args.check.read_text(encoding="utf-8")) != render():
                print(f"{args.check} is stale: run {prog} --write {args.check}", file=sys.stderr)
                return 1
            return 0
        sys.stdout.write(render())
        return 0
