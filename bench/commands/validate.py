"""`pinbench validate`: the model against real Rust, C++ (g++ and clang), Go, Java and Boost programs.

Also ``python -m pinbench.bench.validate ARGS`` (:func:`main`).
"""

from __future__ import annotations

import argparse
import sys

from ...model.errors import UsageError
from .. import session
from ..formatting import parse_float
from ..validate import (
    EXIT_DISAGREE,
    EXIT_OK,
    EXIT_USAGE,
    LANGUAGES,
    MAX_REPEAT,
    RUNS_PER_ROUND,
    WARM_NS_PER_ROUND,
    disagreements,
    fidelity_line,
    format_results,
    held_agreement,
    save_results,
)
from .common import add_command, add_suite_arguments

NAME = "validate"

DESCRIPTION = """\
Generate Rust, C++20, Go, Java and Boost.Context counterparts of the
workloads, compile them with the compilers on this machine (rustc -O:
pinbox, anchor_box and rc; g++ -O2 -std=c++20: always_heap; clang 22 -O2
-std=c++20, the ziglang package's or $CLANG: halo, halo:elide_late=1 and
always_heap:clang=1; go build: go_stack; javac --release 17 run on a JDK
21+: loom; g++ with Boost.Context: fiber), run them and print their figures
beside the model's: with counting allocators (Rust, C++), allocations and
bytes per task, the root future's size_of against the model's frame size,
ns per task, the checksum, and how far the model's time ratios between
strategies carry over; held memory (Go), the stack each parked goroutine
holds, as a size class; (Java) the stack chunks and objects each parked
virtual thread holds; (Boost) each parked fiber's mappings and bytes.
Builds are cached under native/ in pinbench's cache (--cache-dir,
$PINBENCH_CACHE, $XDG_CACHE_HOME/pinbench or ~/.cache/pinbench). A missing compiler skips its language."""
EPILOG = """\
examples:
  pinbench validate                    the default cases (chain x5, fanout x2,
                                       spawn_many, yield_many, spawn_size, skynet,
                                       generator x2, select_loop, server)
  pinbench validate --quick            the same shapes at small sizes
  pinbench validate -w chain -p depth=0,3,5 -p borrow=all,none,10
  pinbench validate -w skynet -p levels=4 --repeat 5 --format markdown
  pinbench validate --language go -w chain -p depth=0,2,4,8,16,32 -p locals=0,64,1024
                                       go_stack against Go: the stack each
                                       parked goroutine holds
  pinbench validate --language java,boost -w chain -p depth=0,2,8,32 -p locals=0,64,256
                                       loom against JDK 25, fiber against
                                       Boost.Context: what a parked task holds

exit status: 0 every allocation count and checksum agrees, 1 one disagrees,
2 bad usage or a generated program that does not compile or run."""


def add_parser(subparsers):
    """Add the `validate` subcommand to an argparse subparsers object."""
    p = add_command(subparsers, NAME, "compare the model with real Rust, C++ and Go programs", DESCRIPTION, EPILOG,
                    lambda args, argv=None: run(args))
    add_suite_arguments(p, {
        "workload": "a workload, 'all' or a .toml workload file; repeatable or a comma list "
        "(default: the default cases)",
        "strategy": "a strategy to validate, with the option settings it asks validated too (always_heap: "
        "always_heap:clang=1); repeatable or a comma list (default: every one with a native counterpart)",
        "param": "sweep a parameter of every selected workload that has it; repeatable",
    })
    p.add_argument("--quick", action="store_true", help="small sizes for every workload")
    p.add_argument(
        "--repeat", type=_repeat, default=3, metavar="N",
        help=f"rounds (each runs every case {RUNS_PER_ROUND} times or more in the model and natively, a short "
        f"case until its warm runs add up to {WARM_NS_PER_ROUND / 1e6:g} ms); times are the minimum over all "
        "runs (default 3)",
    )
    p.add_argument(
        "--language", action="append", metavar="L",
        help=f"{' or '.join(LANGUAGES)}; repeatable or a comma list (default: every one whose compiler is here)",
    )
    p.add_argument("--cache-dir", metavar="DIR", help="pinbench's cache folder for these builds (default: $PINBENCH_CACHE, "
                   "$XDG_CACHE_HOME/pinbench or ~/.cache/pinbench)")
    p.add_argument("--timeout", type=_timeout, default=600.0, metavar="S",
                   help="seconds a native program may run (default 600)")
    p.add_argument("--format", choices=("text", "markdown"), default="text", help="table format (default text)")
    p.add_argument(
        "--engine", action="append", metavar="E",
        help="the model's engine(s) to time: compiled or interpreted; repeatable or a comma "
        "list (default: each of them where a C compiler works)",
    )
    p.add_argument(
        "--save", metavar="DIR",
        help="also write validation.json into DIR (a results folder), where `pinbench report DIR` "
        "draws the timing-fidelity figure",
    )
    return p


def _repeat(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a whole number of rounds, e.g. 3") from None
    if not 1 <= value <= MAX_REPEAT:
        raise argparse.ArgumentTypeError(f"'{text}' is out of range; give 1 to {MAX_REPEAT} rounds")
    return value


def _timeout(text: str) -> float:
    try:
        value = parse_float(text)  # not 'nan' or 'inf'
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of seconds, e.g. 600") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"'{text}' is out of range; give a number of seconds above 0")
    return value


def run(args, argv=None) -> int:
    """Run `pinbench validate` from parsed arguments; 0 all agree, 1 a
    count or checksum disagrees, 2 bad usage (printed as one line)."""
    settings = session.ValidateSettings(workload=args.workload, param=args.param, quick=args.quick,
                                        repeat=args.repeat, language=args.language, cache_dir=args.cache_dir,
                                        timeout=args.timeout, engine=args.engine, strategy=args.strategy)
    try:
        results = session.validate(settings, log=lambda message: print(f"pinbench validate: {message}",
                                                                        file=sys.stderr, flush=True))
    except UsageError as error:  # one line, as the CLI prints every usage error
        print(f"pinbench: error: {' '.join(str(error).split())}", file=sys.stderr)
        return EXIT_USAGE
    print(format_results(results, markdown=args.format == "markdown"))
    if args.save:
        try:
            path = save_results(results, args.save)
        except OSError as error:
            print(f"pinbench: error: cannot write {args.save}/validation.json: {error.strerror or error}", file=sys.stderr)
            return EXIT_USAGE
        print(f"saved {path} (pinbench report {args.save} draws it)")
    for note in results.attrs["notes"]:
        print(f"note: {note}")
    problems = disagreements(results)
    counted = int(results["allocs_agree"].notna().sum())  # rows with counting-allocator figures
    held = held_agreement(results)
    if problems:
        print(f"\n{len(problems)} disagreement{'s' if len(problems) != 1 else ''} with the model:")
        for line in problems:
            print(f"  {line}")
        return EXIT_DISAGREE
    if counted:
        print(f"\nall {counted} native runs agree with the model on allocation counts and checksums")
        print(fidelity_line(results))
    for figure, (agree, compared) in held.items():
        print(f"held memory ({figure} per parked task): {agree} of {compared} agree with the model")
    if not counted and not held:
        print("\nno native program was run (no compiler found, or no case its program expresses: see the notes)")
    return EXIT_OK


def main(argv=None) -> int:
    """`python -m pinbench.bench.validate`: the subcommand on its own."""
    parser = argparse.ArgumentParser(prog="pinbench")
    add_parser(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["validate", *(sys.argv[1:] if argv is None else argv)])
    return run(args)
