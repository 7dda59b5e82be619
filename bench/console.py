"""The terminal side of every command: the program's name, its exit
statuses, one-line usage errors and the rich consoles. Imports nothing from
the commands."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import sys

from rich.console import Console
from rich.markup import escape

from ..model.errors import UsageError

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


class _Output:
    """``sys.stdout`` or ``sys.stderr`` while a command runs (:func:`guarded_output`).

    - A reader that left (``pinbench compare A B | head -1``) ends the
      output quietly: the rest goes to /dev/null and the command carries
      on, so its exit status is still the real one (1 for a regression)
      and a run still writes its results.
    - A device that cannot take the standard output (a full disk,
      /dev/full) is one line on stderr and exit status 2, once.
    - A character the stream's encoding lacks (``PYTHONIOENCODING=ascii``)
      is written as '?'.
    """

    def __init__(self, stream, name: str):
        self._stream = stream
        self._name = name
        self._gone = False

    def __getattr__(self, name):  # isatty, fileno, encoding...: the stream's own
        return getattr(self._stream, name)

    def write(self, text):
        if self._gone:
            return len(text)
        try:
            return self._guard(self._stream.write, text)
        except UnicodeEncodeError:
            encoding = self._stream.encoding or "ascii"
            return self._guard(self._stream.write, text.encode(encoding, "replace").decode(encoding))

    def flush(self):
        if not self._gone:
            self._guard(self._stream.flush)

    def _guard(self, call, *args):
        try:
            return call(*args)
        except OSError as error:
            self._gone = True
            # Whatever is still buffered, now or at exit, goes nowhere.
            try:
                devnull = os.open(os.devnull, os.O_WRONLY)
                os.dup2(devnull, self._stream.fileno())
                os.close(devnull)
            except (OSError, ValueError, AttributeError):
                pass
            if isinstance(error, BrokenPipeError) or self._name == "stderr":  # nowhere to say it
                return len(args[0]) if args else None
            raise UsageError(f"cannot write to standard output: {error.strerror or error}; free space on "
                             "that device or send the output elsewhere") from None


@contextlib.contextmanager
def guarded_output():
    """Run a command with :class:`_Output` in front of stdout and stderr."""
    saved = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = _Output(sys.stdout, "stdout"), _Output(sys.stderr, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = saved


def stdout_console():
    # A pipe or a file gets 100 columns (rich would choose 80) unless
    # COLUMNS says otherwise; a terminal gets its own width.
    width = None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 100
    return Console(width=width, highlight=False)


def stderr_console():
    return Console(stderr=True, highlight=False)


def esc(text) -> str:
    """``text`` safe inside rich markup (a '[' in a name is not a style)."""
    return escape(str(text))


def now() -> str:
    return datetime.datetime.now().astimezone().isoformat(timespec="seconds")
