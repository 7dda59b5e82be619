"""CPU seconds per test, for tests/conftest.py's COST (the order the tests start in).

A pytest plugin: around each test (its setup, call and teardown) it adds up
getrusage(RUSAGE_SELF) and getrusage(RUSAGE_CHILDREN) (the compilers and
CLI processes the test waited for) and the CPU of the commands
tests/helpers.py had its server fork, and appends ``nodeid<TAB>seconds`` to
$TEST_CPU_OUT (default test-cpu.tsv). CPU seconds, unlike wall-clock
durations, hardly depend on what else the machine runs.

    PYTHONPATH=tools python -m pytest -q -n auto -p test_cpu tests
    python tools/test_cpu.py test-cpu.tsv 40     # per file, then the 40 costliest tests
    python tools/test_cpu.py test-cpu.tsv cost   # the entries of tests/conftest.py's COST
"""

from __future__ import annotations

import collections
import os
import resource
import sys

import pytest

_OUT = os.environ.get("TEST_CPU_OUT", "test-cpu.tsv")


def _cpu() -> float:
    own, children = resource.getrusage(resource.RUSAGE_SELF), resource.getrusage(resource.RUSAGE_CHILDREN)
    helpers = sys.modules.get("tests.helpers")  # commands forked by its server are that server's children
    forked = helpers._WARM_CLI.cpu_seconds if helpers else 0.0
    return own.ru_utime + own.ru_stime + children.ru_utime + children.ru_stime + forked


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_protocol(item, nextitem):
    start = _cpu()
    yield
    with open(_OUT, "a") as out:
        out.write(f"{item.nodeid}\t{_cpu() - start:.2f}\n")


def _read(path: str):
    """(node id, CPU seconds) of every line the plugin appended."""
    with open(path) as lines:
        for line in lines:
            node, seconds = line.rstrip("\n").rsplit("\t", 1)
            yield node, float(seconds)


def main(path: str, top: int = 40) -> None:
    per_file, count, tests = collections.Counter(), collections.Counter(), []
    for node, seconds in _read(path):
        per_file[node.split("::")[0]] += seconds
        count[node.split("::")[0]] += 1
        tests.append((seconds, node))
    for name, seconds in per_file.most_common():
        print(f"{seconds:8.1f} {count[name]:5d} {name}")
    print(f"{sum(per_file.values()):8.1f} {sum(count.values()):5d} total")
    for seconds, node in sorted(tests, reverse=True)[:top]:
        print(f"{seconds:8.1f} {node}")


def cost_entries(path: str, least: float = 1.0) -> None:
    """COST's lines: per test (a parametrized one: its mean per case, so its
    cases add up to what they cost), the costliest first, from ``least``
    CPU seconds."""
    total, cases = collections.Counter(), collections.Counter()
    for node, seconds in _read(path):
        file, _, name = node.partition("::")
        key = f"{file.rsplit('/', 1)[-1]}::{name.split('[')[0]}"
        total[key] += seconds
        cases[key] += 1
    for key, seconds in sorted(((k, total[k] / cases[k]) for k in total), key=lambda kv: -kv[1]):
        if seconds >= least:
            print(f'    "{key}": {seconds:.0f},')


if __name__ == "__main__":
    if sys.argv[2:3] == ["cost"]:
        cost_entries(sys.argv[1])
    else:
        main(sys.argv[1], *(int(a) for a in sys.argv[2:3]))
