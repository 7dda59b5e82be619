"""`pinbench compare-branches REF_A REF_B`: build two git refs, run them
interleaved, compare them as `pinbench compare` does."""

from __future__ import annotations

import argparse
import contextlib
import datetime
import os
import shutil
import signal
import time
from pathlib import Path

from ...model.errors import UsageError
from .. import compare as cmp
from .. import engine as engines
from .. import environment, instructions, shard
from ..branches import (
    ARMS,
    DEFAULT_ROUNDS,
    BugError,
    Invocation,
    Repo,
    ensure_env,
    holds_files,
    merge_rounds,
    mode_flags,
    plan_invocations,
    run_filters,
    run_invocation,
    say,
    write_arm,
)
from ..compare_report import emit
from ..console import now
from ..formatting import parse_int
from ..results import RESULTS_FILE, results_document
from ..suite import build_suite, selection_text, suite_of
from .common import (
    AS_IN_RUN,
    add_command,
    add_gate_arguments,
    add_mode_arguments,
    add_suite_choice,
    add_shard_arguments,
    add_suite_arguments,
    folder_argument,
    mode_of,
)

NAME = "compare-branches"

DESCRIPTION = """\
Build two git refs and compare them: each ref is built in its own git
worktree and environment (cached per commit under ~/.cache/pinbench/envs, or
$PINBENCH_CACHE/envs), then both arms run every benchmark of the suite in
this one job, interleaved A B A B ... so that drift of the machine hits both
alike; each arm's rounds are merged into OUTDIR/a and OUTDIR/b and compared
as `pinbench compare OUTDIR/a OUTDIR/b` does (comparison.json is saved in
OUTDIR/b). Works from any clone; your working tree, index and HEAD are never
touched, and the temporary worktrees are always removed."""
EPILOG = """\
examples:
  pinbench compare-branches main HEAD --quick
  pinbench compare-branches origin/main my-branch -w chain,skynet -s pinbox,rc
  pinbench compare-branches v0.1.0 HEAD --counts-only --strict
  pinbench compare-branches "$BASE_SHA" "$HEAD_SHA" --quick --format markdown >> "$GITHUB_STEP_SUMMARY"
  pinbench compare-branches main HEAD --quick --shard 1/4 -o cmp-1   # then: pinbench merge cmp-* -o cmp

Every invocation is the arm's own `pinbench run` with filters for one
benchmark, so the refs must have this command line (older commits do).

exit status: 0 no regression, 1 a regression (see `pinbench compare --help`),
a crash of an arm or a bug (rounds that disagree on exact counts), 2 bad usage,
a bad ref, a build that fails or nothing that runs, 130/143 interrupted."""


def _rounds(text: str) -> int:
    try:
        value = parse_int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"'{text}' is not a number of rounds") from None
    if not 1 <= value <= 100:
        raise argparse.ArgumentTypeError(f"{value} rounds is out of range; give 1 to 100")
    return value


def add_parser(subparsers):
    p = add_command(subparsers, NAME, "build two git refs, run them interleaved, compare (exit 1 on a regression)",
                    DESCRIPTION, EPILOG, run)
    p.add_argument("ref_a", metavar="REF_A", help="the base: a branch, tag or commit")
    p.add_argument("ref_b", metavar="REF_B", help="the head being judged")
    add_mode_arguments(
        p,
        quick="the quick suite and pyperf settings (CI)",
        rigorous="more pyperf processes and values per round",
        counts_only="compare the exact counts only (no timing)",
    )
    add_suite_choice(p)
    add_suite_arguments(p, AS_IN_RUN)
    add_shard_arguments(p)
    p.add_argument(
        "--engine", type=engines.engine_argument, default=None, metavar="E",
        help="the engine both arms run with, compiled or interpreted (default: each arm's own default)",
    )
    p.add_argument(
        "--instructions", action="store_true",
        help="also count each arm's instructions per task under valgrind (once per arm, after the timed "
        "rounds: the counts are deterministic) and fail on an increase beyond --instructions-threshold",
    )
    p.add_argument(
        "--rounds", type=_rounds, metavar="N",
        help="times each arm runs each benchmark (default 2 with --quick, 1 with --counts-only, else 3)",
    )
    p.add_argument(
        "--interleave", choices=("benchmark", "round"), default="benchmark",
        help="benchmark (default): A B A B per benchmark; round: each arm's whole suite per round "
        "(fewer process start-ups, drift shared only between rounds)",
    )
    p.add_argument("-o", "--output", metavar="OUTDIR", type=folder_argument,
                   help="where the arms' results go (default: results/branches-<YYYYmmdd-HHMMSS>/)")
    p.add_argument("--force", action="store_true", help="overwrite OUTDIR if it already holds arms")
    p.add_argument("--repo", metavar="DIR", default=".", help="the git clone the refs belong to (default: here)")
    p.add_argument("--isolated-env", action="store_true",
                   help="install each arm with its own dependencies (downloads them) instead of sharing this "
                   "pinbench's installed packages")
    add_gate_arguments(p)
    return p


def _prepare_output(args) -> Path:
    if args.output:
        out = Path(args.output)
    else:
        out = Path("results") / ("branches-" + datetime.datetime.now().strftime("%Y%m%d-%H%M%S"))
    out = Path(os.path.abspath(out))  # the arms run in out/rounds: a relative path would move with them
    if out.exists() and not out.is_dir():
        raise UsageError(f"{out} exists and is not a folder; choose another --output")
    held = [out / arm / RESULTS_FILE for arm in ARMS if (out / arm / RESULTS_FILE).exists()]
    if held and not args.force:
        raise UsageError(f"{out} already holds a comparison ({held[0]}); choose another --output or pass --force")
    if not held and out.is_dir() and any(out.iterdir()) and not args.force:
        raise UsageError(
            f"{out} is not empty and holds no comparison; choose another --output, or pass --force to write "
            "into it (its a/, b/ and rounds/ are replaced)"
        )
    try:
        for name in (*ARMS, "rounds"):
            shutil.rmtree(out / name, ignore_errors=True)
        (out / "rounds").mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create {out}: {error.strerror}") from None
    return out


def run(args, argv) -> int:
    # Everything the user can get wrong is checked before anything is built.
    chosen_suite = suite_of(args)
    whole = build_suite(args.workload, args.strategy, args.allocator, args.param, suite=chosen_suite.name)
    chosen, shard_record = shard.apply(whole, args.shard, args.balance)
    suite = [bench for _, bench in chosen]
    if shard_record and args.interleave == "round":
        raise UsageError("--interleave round runs each arm's whole suite per round, not one shard of it; "
                         "drop it (--shard runs benchmark by benchmark)")
    # What the arms' results record of the sweep, for merge (as `run --shard` does).
    sweep = {"suite": {"name": chosen_suite.name,
                       "selection": selection_text(args.workload, args.strategy, args.allocator, args.param,
                                                   chosen_suite.name, mode_of(args)),
                       "digest": shard.suite_digest(whole), "benchmarks": len(whole)}}
    if shard_record:
        sweep["shard"] = {**shard_record, "options": {
            "counts_only": args.counts_only, "instructions": args.instructions, "rounds": args.rounds,
            "interleave": args.interleave, "engine": args.engine}}
    cases = {shard.case_key(bench.workload, bench.params): position for position, bench in chosen}
    if args.instructions:
        instructions.check_available()
    mode = mode_of(args)
    rounds = args.rounds or (1 if args.counts_only else DEFAULT_ROUNDS[mode])
    repo = Repo(args.repo)
    refs = {"a": args.ref_a, "b": args.ref_b}
    commits = {arm: repo.resolve(ref) for arm, ref in refs.items()}
    out = _prepare_output(args)
    if not suite:  # more shards than cases: an empty shard, which merge must still see
        return _empty_shard(out, args, argv, refs, commits, sweep)

    status = {"signal": None}

    def on_term(signum, frame):
        status["signal"] = signum
        raise KeyboardInterrupt

    saved = None
    with contextlib.suppress(ValueError):
        saved = signal.signal(signal.SIGTERM, on_term)
    started = now()
    t0 = time.perf_counter()
    try:
        envs = {}
        for arm in ARMS:
            commit = commits[arm]
            built = next((envs[a] for a in envs if commits[a] == commit), None)
            envs[arm] = built or ensure_env(repo, commit, refs[arm], isolated=args.isolated_env)
        plan = plan_invocations(suite, rounds, args.interleave, out / "rounds", run_filters(args))
        flags = mode_flags(mode, args.counts_only)
        say(f"running {len(suite)} benchmark(s) x {rounds} round(s) x 2 arms ({len(plan)} runs, "
             f"interleaved per {args.interleave}) into {out}")
        crashes, bugs, reported, failed = [], [], [], {}
        for n, inv in enumerate(plan, start=1):
            if (inv.arm, tuple(inv.filters)) in failed:
                continue  # that arm cannot run this benchmark: no more rounds of it
            run_invocation(envs[inv.arm], inv, flags, out / "rounds")
            arm_name = f"{inv.arm.upper()} ({refs[inv.arm]})"
            note = "" if inv.status == 0 else f" exit {inv.status}: {inv.error}"
            say(f"[{n}/{len(plan)}] {inv.what} round {inv.round_no} {arm_name} ({inv.seconds:.1f} s){note}")
            if inv.status == 1:  # a leak or differing checksums: the comparison judges it
                reported.append(f"{arm_name} reported a bug in {inv.what}: {inv.error}")
            elif inv.status == 2:
                failed[(inv.arm, tuple(inv.filters))] = inv.error
            elif inv.status != 0:
                crashes.append(f"{arm_name} crashed on {inv.what} (exit {inv.status}): {inv.error}")
                failed[(inv.arm, tuple(inv.filters))] = inv.error
        if args.instructions:
            # Deterministic: one count per arm, after the timing, never interleaved with it.
            counting = [Invocation(arm, 0, out / "rounds" / f"instructions-{arm}", run_filters(args), "instructions")
                        for arm in ARMS]
            for inv in counting:
                arm_name = f"{inv.arm.upper()} ({refs[inv.arm]})"
                say(f"counting instructions of {arm_name} under valgrind")
                run_invocation(envs[inv.arm], inv, mode_flags(mode, True) + ["--instructions"], out / "rounds")
                if inv.status != 0:
                    raise UsageError(f"{arm_name} could not count instructions (exit {inv.status}): {inv.error}")
                say(f"{arm_name}: instructions counted ({inv.seconds:.1f} s)")
            plan += counting
        merged = {}
        for arm in ARMS:
            folders = [inv.folder for inv in plan
                       if inv.arm == arm and inv.status in (0, 1) and (inv.folder / "results.json").exists()]
            label = f"arm {arm.upper()} ({refs[arm]}, {commits[arm][:12]})"
            if not folders:
                reason = next((e for (a, _), e in failed.items() if a == arm), "no results")
                raise UsageError(f"{label} ran no benchmark: {reason}")
            try:
                doc, timed = merge_rounds(folders, label)
            except BugError as error:
                bugs.append(str(error))
                continue
            env = doc.setdefault("environment", {})
            env["git_commit"], env["git_dirty"] = commits[arm], False
            for entry in doc["benchmarks"]:
                entry["case"] = cases.get(shard.case_key(entry.get("workload_file") or entry["workload"],
                                                         entry["params"])) if shard_record else None
            doc.update(
                **sweep,
                command=["pinbench", *argv], complete=len(doc["benchmarks"]) == len(suite),
                started=started, finished=now(), benchmarks_planned=len(suite),
                branch_run={"arm": arm, "ref": refs[arm], "commit": commits[arm], "rounds": rounds,
                            "interleave": args.interleave, "other_ref": refs["b" if arm == "a" else "a"]},
            )
            write_arm(out / arm, doc, timed)
            merged[arm] = doc
        if len(merged) < 2:
            for line in bugs:
                say(f"BUG: {line}")
            return 1
        shutil.rmtree(out / "rounds", ignore_errors=True)
        comparison = cmp.compare_runs(
            cmp.load_run(out / "a"), cmp.load_run(out / "b"), threshold=args.threshold, alpha=args.alpha,
            instructions_threshold=args.instructions_threshold,
            strict=args.strict, fail_on_change=args.fail_on_change,
        )
        # What went wrong in the arms: warnings here, and kept apart so that
        # merging shards (pinbench merge) keeps them and their failure.
        notes = [f"arm {a.upper()} ({refs[a]}) could not run {' '.join(filters)}: {error}"
                 for arm in ARMS for (a, filters), error in failed.items() if a == arm]
        notes += reported + [f"BUG: {line}" for line in bugs] + crashes
        comparison["warnings"] += notes
        comparison["branches"] = {"refs": refs, "commits": commits, "rounds": rounds,
                                  "interleave": args.interleave, "seconds": round(time.perf_counter() - t0, 1),
                                  "notes": notes, "failed": bool(bugs or crashes)}
        cmp.save_comparison(comparison, out / "b")
        emit(comparison, args.format)
        say(f"{len(plan)} runs in {time.perf_counter() - t0:.0f} s; arms in {out / 'a'} and {out / 'b'}")
        if bugs or crashes:
            for line in bugs:
                say(f"BUG: {line}")
            for line in crashes:
                say(line)
            return 1
        return cmp.exit_status(comparison)
    except KeyboardInterrupt:
        signum = status["signal"] or signal.SIGINT
        kept = f", finished runs are in {out / 'rounds'}" if holds_files(out / "rounds") else ""
        say(f"interrupted; the worktrees are removed{kept}")
        return 128 + signum
    finally:
        if saved is not None:
            signal.signal(signal.SIGTERM, saved)
        if not holds_files(out / "rounds"):  # nothing ran (a failed build): leave no empty folders
            with contextlib.suppress(OSError):
                (out / "rounds").rmdir()
                out.rmdir()


def _empty_shard(out: Path, args, argv, refs: dict, commits: dict, sweep: dict) -> int:
    """Arms with no benchmark and their (empty) comparison: nothing to build or run."""
    stamp = now()
    for arm in ARMS:
        env = dict(environment.collect(), git_commit=commits[arm], git_dirty=False)
        doc = results_document({
            "complete": True, "command": ["pinbench", *argv], "mode": mode_of(args), "timing": not args.counts_only,
            "started": stamp, "finished": stamp, "benchmarks_planned": 0, "environment": env, **sweep,
        })
        write_arm(out / arm, doc, [])
    shutil.rmtree(out / "rounds", ignore_errors=True)
    comparison = cmp.compare_runs(cmp.load_run(out / "a"), cmp.load_run(out / "b"), threshold=args.threshold,
                                  alpha=args.alpha, instructions_threshold=args.instructions_threshold,
                                  strict=args.strict, fail_on_change=args.fail_on_change)
    comparison["branches"] = {"refs": refs, "commits": commits, "seconds": 0.0, "notes": [], "failed": False}
    cmp.save_comparison(comparison, out / "b")
    say(f"shard {args.shard[0]}/{args.shard[1]} holds none of the suite's {sweep['shard']['suite_cases']} "
        f"cases; wrote an empty shard to {out}")
    return 0
