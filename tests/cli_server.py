"""A warm start for the tests' command lines: each ``pinbench ...`` a test
runs is a process of its own, forked from this server, which has already
imported the harness (and matplotlib, pandas, scipy, pyperf).

Why: the suite runs about 190 commands through helpers.pinbench, and a
fresh ``python -m pinbench.bench.cli show MISSING`` takes 0.37 CPU-s, all
of it starting the interpreter and importing; forked, 0.014 CPU-s (a
child ends with os._exit once its threads are joined, its atexit handlers
run and its streams flushed: the interpreter's teardown of every module
the server imported cost 0.24 CPU-s more, in copy-on-write faults). A
forked child is still a process of its own (its exit status, its stdout
and stderr, its signals, its working folder and environment), so what
the tests check is what a user's command does; only the imports are shared.
What a fork cannot give, a test still gets from a real subprocess
(helpers.pinbench decides): an environment that changes how the
interpreter starts (PYTHON*, LANG, LC_*), and the console script itself
(test_cli and test_fresh_checkout start it).

Protocol, one request at a time on stdin, one JSON line each:
``{"args": [...], "cwd": ..., "env": {...}, "stdout": path, "stderr": path}``.
The server answers on stdout with the child's pid, then, once the child has
ended, its status as subprocess reports it (negative: killed by a signal)
and the CPU seconds it used (tools/test_cpu.py adds them to the test's).
It exits when stdin closes (its test worker has ended).
"""

from __future__ import annotations

import atexit
import gc
import importlib
import json
import os
import pkgutil
import signal
import sys
import threading


def preload() -> None:
    """Every module of the harness, as the commands would import them (not
    the ``__main__`` modules, which run a command when imported)."""
    import pinbench.bench
    import pinbench.model
    import pinbench.strategies

    for package in (pinbench.bench, pinbench.model, pinbench.strategies):
        for module in pkgutil.walk_packages(package.__path__, package.__name__ + "."):
            if not module.name.endswith(".__main__"):
                importlib.import_module(module.name)


def run_command(request: dict, sigint) -> None:
    """In the forked child: become ``python -m pinbench.bench.cli ARGS``
    run in ``cwd`` with ``env``, and exit as it would (never returns)."""
    from pinbench.bench import cli

    for fd, path, flags in ((0, os.devnull, os.O_RDONLY),
                            (1, request["stdout"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC),
                            (2, request["stderr"], os.O_WRONLY | os.O_CREAT | os.O_TRUNC)):
        opened = os.open(path, flags, 0o644)
        os.dup2(opened, fd)
        os.close(opened)
    signal.signal(signal.SIGINT, sigint)
    os.chdir(request["cwd"])
    sys.path[0] = os.getcwd()  # as `python -m` puts it (the server's own is this folder)
    os.environ.clear()
    os.environ.update(request["env"])
    sys.argv = [cli.__file__, *request["args"]]
    try:
        status = cli.main(request["args"])
    except SystemExit as stop:  # as the interpreter reads it
        status = stop.code
    except BaseException:
        sys.excepthook(*sys.exc_info())
        status = 1
    if status is not None and not isinstance(status, int):
        print(status, file=sys.stderr)
        status = 1
    # The interpreter's exit, but for tearing down every module the server
    # imported (0.24 CPU-s, mostly copy-on-write faults): threads joined,
    # atexit handlers run, the standard streams flushed.
    threading._shutdown()
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(status or 0)


def serve() -> None:
    preload()
    gc.freeze()  # what the server imported: no child's collection walks (and so copies) it
    # A Ctrl-C meant for pytest ends the server quietly when its stdin
    # closes; each command gets the SIGINT handling it would have started with.
    sigint = signal.signal(signal.SIGINT, signal.SIG_IGN)
    for line in iter(sys.stdin.buffer.readline, b""):
        request = json.loads(line)
        pid = os.fork()
        if pid == 0:
            run_command(request, sigint)  # fds 0 to 2 become the command's: the child keeps no end of these pipes
        os.write(1, b"%d\n" % pid)
        _, status, usage = os.wait4(pid, 0)
        cpu = usage.ru_utime + usage.ru_stime  # with the processes it waited for, as getrusage's children
        os.write(1, b"%d %.3f\n" % (os.waitstatus_to_exitcode(status), cpu))


if __name__ == "__main__":
    serve()
