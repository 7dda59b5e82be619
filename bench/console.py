"""The terminal side of every command: the program's name, its exit
statuses, one-line usage errors and the rich consoles. Imports nothing from
the commands."""

from __future__ import annotations

import argparse
import datetime
import os
import sys

from rich.console import Console
from rich.markup import escape

PROG = "pinbench"
EXIT_OK, EXIT_BUG, EXIT_USAGE = 0, 1, 2
# Every command's help keeps its own line breaks (descriptions, examples).
FORMATTER = argparse.RawDescriptionHelpFormatter


def one_line(message) -> str:
    return " ".join(str(message).split())


class ArgumentParser(argparse.ArgumentParser):
    """argparse whose usage errors are one line: message and where to look."""

    def error(self, message):
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)} (see {self.prog} --help)\n")


class _Console(Console):
    def on_broken_pipe(self) -> None:
        # rich would exit 1 here; `pinbench show DIR | head` is no error:
        # the command's own handler (cli.main) ends it quietly, exit 0.
        self.quiet = True
        raise BrokenPipeError


def stdout_console():
    # A pipe or a file gets 100 columns (rich would choose 80) unless
    # COLUMNS says otherwise; a terminal gets its own width.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100
    return _Console(width=width, highlight=False)


def stderr_console():
    return Console(stderr=True, highlight=False)


def esc(text) -> str:
    """``text`` safe inside rich markup (a '[' in a name is not a style)."""
    return escape(str(text))


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
