"""Which benchmarks a run contains.

A suite is the matrix workload x parameter values x strategy x allocator.
Three are declared (:data:`SUITES`), each with the timing mode it runs in:

* ``default`` (plain `pinbench run`): every built-in workload at its
  default parameters (its ``first_run`` ones where those cost too much),
  every strategy (plug-ins included), the system allocator: the mission's
  question answered in minutes;
* ``quick`` (``--quick``, CI): the same matrix at each workload's small
  ``quick`` parameters, short timing;
* ``full``: every workload at its default parameters under every strategy
  and every allocator, the exhaustive cross product.

Filters narrow the matrix (``-a`` replaces the suite's allocators) and
``--param NAME=V1,V2`` flags sweep parameters::

    build_suite(workloads=["chain"], params={"depth": ["1", "3"]}, suite="quick")

Everything the user can get wrong is a one-line :class:`UsageError`, raised
before anything runs.
"""

from __future__ import annotations

import argparse
import itertools
from dataclasses import dataclass

from .. import strategies as strategy_registry
from ..model.errors import UsageError
from .formatting import param_text
from .runner import ALLOCATORS, Benchmark, check_allocator
from .workloads import WORKLOADS, get_workload

ALL = "all"
QUICK_ALLOCATOR = "system"


@dataclass(frozen=True)
class Suite:
    """A named suite: which parameters each workload runs at, which
    allocators are timed (unless ``-a`` names others), and the timing mode
    (bench/timing.py MODES; ``--rigorous`` overrides it)."""

    name: str
    summary: str  # one line, for --help
    params: dict  # {workload: {parameter: value}}: what differs from its defaults
    allocators: tuple  # allocator names, or (ALL,)
    mode: str
    # The modes in which its selection line (selection_text) names no suite:
    # those whose runs meant this suite before suites had names, so their
    # history series go on.
    unnamed_in: tuple = ()


# Small parameters per workload for `pinbench run --quick` (CI): each
# workload's `quick` parameters, the same shapes at a fraction of the tasks.
# Parameters not named keep their defaults.
QUICK_PARAMS = {name: dict(workload.quick) for name, workload in WORKLOADS.items() if workload.quick}
# The default suite's: each workload's defaults, but for its `first_run` ones.
FIRST_RUN_PARAMS = {name: dict(workload.first_run) for name, workload in WORKLOADS.items() if workload.first_run}

# Counts do not depend on the allocator (tests assert it), so the default and
# quick suites time only the baseline one; `full` times every one.
SUITES = {
    "default": Suite("default", "every workload and strategy under the system allocator (a first run of minutes)",
                     FIRST_RUN_PARAMS, (QUICK_ALLOCATOR,), "default"),
    "quick": Suite("quick", "the default suite at small parameters and short timing (CI)",
                   QUICK_PARAMS, (QUICK_ALLOCATOR,), "quick", unnamed_in=("quick",)),
    "full": Suite("full", "every workload, strategy and allocator at the default parameters (the exhaustive "
                  "cross product)", {}, (ALL,), "default", unnamed_in=("default", "rigorous")),
}
DEFAULT_SUITE = "default"

# What one timed benchmark takes, in seconds of wall time, by timing mode,
# on an idle 2-core machine: the median `seconds` of the benchmarks that
# took no extra values in a cold `pinbench run` of the default suite (2.14
# at afb3241) and of `--quick` (0.31); README "Suites". Benchmarks whose
# interval stays wide take extra values, at most half as much again
# (bench/timing.py, MORE_SHARE): the forecast says both. Rigorous:
# `pinbench run --rigorous -w chain,spawn_many -s pinbox`, 22 s for its 2.
# `pinbench run` multiplies it out before it starts, unless an earlier
# run's durations are given (--balance).
SECONDS_PER_BENCHMARK = {"quick": 0.3, "default": 2.1, "rigorous": 11.0}


def get_suite(name: str | None) -> Suite:
    """The suite called ``name`` (None: the default); else a one-line UsageError."""
    try:
        return SUITES[name or DEFAULT_SUITE]
    except KeyError:
        raise UsageError(f"unknown suite '{name}'; choose one of: {', '.join(SUITES)}") from None


def suite_argument(text: str) -> str:
    """argparse type of ``--suite``: an unknown name is one line naming the suites."""
    try:
        return get_suite(text).name
    except UsageError as error:
        raise argparse.ArgumentTypeError(str(error)) from None


def suite_of(args) -> Suite:
    """The suite of a command's flags: ``--suite NAME``, or ``--quick``
    (the quick suite), else the default. ``--quick`` with another
    ``--suite`` is a one-line UsageError."""
    name = getattr(args, "suite", None)
    if getattr(args, "quick", False):
        if name not in (None, "quick"):
            raise UsageError(f"--quick runs the quick suite, not '{name}'; drop --quick or --suite {name}")
        name = "quick"
    return get_suite(name)


def split_names(values) -> list:
    """Names from repeatable flags that also take comma lists, in order,
    without repeats: ``["a,b", "c", "a"]`` -> ``["a", "b", "c"]``. ``None`` or
    an empty list means every one (``["all"]``)."""
    names = []
    for value in values or [ALL]:
        for name in value.split(","):
            name = name.strip()
            if name and name not in names:
                names.append(name)
    if not names:
        raise UsageError("an empty list of names; give at least one name or 'all'")
    return names


def _expand(names: list, every: list) -> list:
    """``names`` with "all" replaced by ``every`` (in place), without repeats."""
    out = []
    for name in names:
        for item in every if name == ALL else [name]:
            if item not in out:
                out.append(item)
    return out


def select_workloads(values=None) -> list:
    """``[(argument, Workload)]`` for the workload flags: built-in names,
    "all", or paths of .toml workload files (read and checked now)."""
    selected = []
    seen = set()
    for name in _expand(split_names(values), list(WORKLOADS)):
        if name in seen:
            continue
        seen.add(name)
        selected.append((name, get_workload(name)))
    return selected


def select_strategies(values=None) -> list:
    """Strategy names (plug-ins included) for the strategy flags, each as
    its strategy spells it: options in their declared order and values in
    decimal, defaults left out (``fiber:stack=0x40000`` is
    ``fiber:stack=262144``, ``fiber:stack=131072`` is ``fiber``), so one
    benchmark has one name in every results folder and comparison."""
    names = []
    for name in _expand(split_names(values), list(strategy_registry.available())):
        canonical = strategy_registry.get(name).name  # unknown -> UsageError listing the valid ones
        if canonical not in names:
            names.append(canonical)
    return names


def select_allocators(values=None) -> list:
    """Allocator names for the allocator flags."""
    return [check_allocator(name) for name in _expand(split_names(values), list(ALLOCATORS))]


def parse_param_flags(flags) -> dict:
    """``{"depth": ["1", "3"]}`` from ``["depth=1,3"]``, in flag order.
    The values stay strings: each workload parses them itself."""
    sweeps = {}
    for flag in flags or []:
        name, sep, values = flag.partition("=")
        name = name.strip()
        if not sep or not name:
            raise UsageError(f"--param '{flag}' is not NAME=V1,V2,...; e.g. --param depth=1,4,16")
        if name in sweeps:
            raise UsageError(
                f"--param {name} is given twice; list all its values in one flag: "
                f"--param {name}=V1,V2,..."
            )
        items = []
        for value in values.split(","):
            value = value.strip()
            if value and value not in items:
                items.append(value)
        if not items:
            raise UsageError(f"--param {name} has no values; e.g. --param {name}=V1,V2")
        sweeps[name] = items
    return sweeps


def check_sweeps_apply(sweeps: dict, workloads: list):
    """Every swept parameter must belong to at least one of ``workloads``."""
    for name in sweeps:
        if any(name in {p.name for p in wl.params} for wl in workloads):
            continue
        described = "; ".join(
            f"{wl.name}: {', '.join(p.name for p in wl.params) or 'none'}" for wl in workloads
        )
        raise UsageError(
            f"no selected workload has a parameter '{name}'; their parameters are {described}"
        )


def combinations(workload, base: dict, sweeps: dict) -> list:
    """Typed, complete parameter dicts for one workload: its base values
    with every combination of the sweeps that apply to it."""
    own = {p.name for p in workload.params}
    names = [name for name in sweeps if name in own]
    combos = []
    for values in itertools.product(*(sweeps[name] for name in names)):
        raw = {k: param_text(v) for k, v in base.items() if k in own}
        raw.update(zip(names, values))
        params = workload.parse_params(raw)  # one-line UsageError on a bad value
        if params not in combos:  # "1" and "01" are the same run
            combos.append(params)
    return combos


def build_suite(
    workloads=None, strategies=None, allocators=None, params=None, suite: str | None = None
) -> list:
    """The benchmarks of a run of ``suite`` (a name of :data:`SUITES`;
    None: the default), in a stable order: workloads as selected ("all":
    registry order), then parameter combinations (flag order, value
    order), then strategies, then allocators.

    ``workloads``, ``strategies`` and ``allocators`` are lists of names (or
    comma lists; ``None`` or "all" for every one; no allocators: the
    suite's); ``params`` is a list of ``NAME=V1,V2`` strings or a
    ``{name: [values]}`` dict.
    """
    chosen = get_suite(suite)
    selected = select_workloads(workloads)
    strategy_names = select_strategies(strategies)
    allocator_names = select_allocators(allocators or list(chosen.allocators))
    sweeps = params if isinstance(params, dict) else parse_param_flags(params)
    check_sweeps_apply(sweeps, [workload for _, workload in selected])

    suite = []
    for argument, workload in selected:
        base = chosen.params.get(argument, {})
        for combo in combinations(workload, base, sweeps):
            for strategy in strategy_names:
                for allocator in allocator_names:
                    suite.append(Benchmark(argument, strategy, allocator, dict(combo)))
    return suite


def selection_text(workloads=None, strategies=None, allocators=None, params=None, suite: str | None = None,
                   mode: str | None = None) -> str:
    """The suite flags as one canonical line (``--suite default -w chain -s
    all -a all``), the same however they were spelled: the history keys its
    series by it with the run's ``mode`` (default: the suite's), so runs of
    one selection stay one series as the registry grows. The line names no
    suite in a mode the suite is :attr:`Suite.unnamed_in`."""
    chosen = get_suite(suite)
    parts = [] if (mode or chosen.mode) in chosen.unnamed_in else [f"--suite {chosen.name}"]
    parts += [f"-w {','.join(split_names(workloads))}", f"-s {','.join(split_names(strategies))}",
             f"-a {','.join(split_names(allocators))}"]
    sweeps = params if isinstance(params, dict) else parse_param_flags(params)
    parts += [f"-p {name}={','.join(values)}" for name, values in sweeps.items()]
    return " ".join(parts)
