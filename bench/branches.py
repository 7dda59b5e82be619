"""How ``pinbench compare-branches REF_A REF_B`` builds two git refs, runs
them interleaved in one job and merges each arm's rounds (the command itself
is ``commands/compare_branches.py``).

1. Each ref is resolved to a commit (a bad ref: one line, exit 2).
2. Each commit gets its own environment, a venv cached under
   ``$PINBENCH_CACHE/envs/<commit>`` (default ``~/.cache/pinbench``), reused
   while the commit is the same and the venv still works. It is built from a
   temporary ``git worktree add --detach`` of the commit, removed (``git
   worktree remove --force`` + ``prune``) as soon as the build ends, on error
   and on Ctrl-C too. The user's working tree, index and HEAD are never
   touched: no checkout, stash or reset happens in them. A commit whose
   core sources (cython_core/, setup.py) were built before copies that
   compiled core instead of compiling it again (``ReusedCore``).
3. By default the venv sees the installed packages of the pinbench that runs
   this command (a ``.pth`` file): numpy, pandas, pyperf... are not
   downloaded again, the build needs no network, and both arms run on the
   same dependency versions, so a difference between them is the code's.
   ``--isolated-env`` installs each arm with all its dependencies instead.
4. For each benchmark of the suite, arm A then arm B run it, ``--rounds``
   times (A B A B ...), each through the arm's own ``pinbench run`` filtered
   to that single benchmark: drift of the machine during the job hits both
   arms alike. ``--interleave round`` runs each arm's whole suite per round
   instead (fewer process start-ups; drift within a round is not shared).
5. Each arm's rounds are merged into ``OUTDIR/a`` and ``OUTDIR/b`` (the
   pyperf runs of all rounds in one pyperf benchmark; deterministic metrics
   must be identical in every round, anything else is a bug), then compared
   as ``pinbench compare OUTDIR/a OUTDIR/b`` would, and the comparison is
   saved as ``OUTDIR/b/comparison.json``.
"""

from __future__ import annotations

import contextlib
import fcntl
import hashlib
import importlib.util
import json
import os
import re
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from importlib.machinery import EXTENSION_SUFFIXES
from pathlib import Path

from ..model.errors import UsageError
from . import shard
from .cache import ENVS, cache_root
from .compare import benchmark_key
from .records import BenchmarkRecord
from .formatting import param_text
from .metrics import ACROSS_ROUNDS, COMPARED, OPTIONAL
from .results import PYPERF_FILE, RunDocument, write_pyperf, writing
from .signals import held
from .timing import timing_metrics

ENV_MARKER = "pinbench-env.json"
BUILD_LOG = "build.log"
DEFAULT_ROUNDS = {"quick": 2, "default": 3, "rigorous": 3}
ARMS = ("a", "b")
_GIT_ENV_DROP = ("GIT_DIR", "GIT_WORK_TREE", "GIT_INDEX_FILE", "GIT_OBJECT_DIRECTORY", "GIT_PREFIX")
_CHILD_ENV_DROP = ("PYTHONPATH", "PYTHONHOME", "PYTHONSTARTUP", "PYTHONUSERBASE", "__PYVENV_LAUNCHER__")


class BugError(Exception):
    """Something only a bug explains (rounds of one arm disagree on exact counts)."""


def say(message: str) -> None:
    print(f"pinbench: {message}", file=sys.stderr, flush=True)


def _last_line(text: str) -> str:
    lines = [line.strip() for line in (text or "").splitlines() if line.strip()]
    return lines[-1] if lines else ""


# -- git -------------------------------------------------------------------------------


class Repo:
    """The git repository the refs belong to (any clone; found from ``path``)."""

    def __init__(self, path="."):
        path = Path(path)
        if not path.is_dir():
            raise UsageError(f"--repo {path} is not a folder")
        done = self._run(["rev-parse", "--show-toplevel"], cwd=path)
        if done.returncode != 0:
            raise UsageError(
                f"{path.resolve()} is not inside a git repository; run compare-branches in a clone "
                "of the project (or give --repo DIR)"
            )
        self.top = Path(done.stdout.strip())

    @staticmethod
    def _env() -> dict:
        env = {k: v for k, v in os.environ.items() if k not in _GIT_ENV_DROP}
        env.update(GIT_OPTIONAL_LOCKS="0", LC_ALL="C", GIT_TERMINAL_PROMPT="0")
        return env

    @staticmethod
    def _command(args) -> list:
        # No hooks: a post-checkout hook must not run in our worktrees.
        return ["git", "-c", "core.hooksPath=/dev/null", *args]

    @classmethod
    def _run(cls, args, cwd, new_session=False):
        try:
            return subprocess.run(
                cls._command(args), cwd=cwd, env=cls._env(),
                stdin=subprocess.DEVNULL, capture_output=True, text=True, start_new_session=new_session,
            )
        except FileNotFoundError:
            raise UsageError("git is not installed (compare-branches needs it)") from None

    def git(self, *args, new_session=False):
        return self._run(list(args), cwd=self.top, new_session=new_session)

    def resolve(self, ref: str) -> str:
        """The full commit id ``ref`` names; a one-line UsageError if none."""
        if not ref or ref.startswith("-"):
            raise UsageError(f"'{ref}' is not a git ref; give a branch, tag or commit")
        done = self.git("rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
        if done.returncode != 0 or not done.stdout.strip():
            raise UsageError(
                f"unknown git ref '{ref}' in {self.top} (not a branch, tag or commit here; "
                "a shallow clone may need `git fetch` of it)"
            )
        return done.stdout.strip()

    def worktree_paths(self) -> list:
        done = self.git("worktree", "list", "--porcelain")
        return [line[len("worktree "):] for line in done.stdout.splitlines() if line.startswith("worktree ")]

    @contextlib.contextmanager
    def worktree(self, commit: str):
        """A detached worktree of ``commit`` in a temporary folder; always removed.

        ``git worktree add`` runs in its own session (a terminal's Ctrl-C
        reaches this process only) and is stopped by us on an interrupt; a
        worktree it leaves half made is "locked initializing", which takes
        ``remove --force --force`` (a lone --force and prune keep it).
        """
        parent = Path(tempfile.mkdtemp(prefix="pinbench-worktree-"))
        tree = parent / "tree"
        try:
            code, err = self._interruptible(["worktree", "add", "--detach", str(tree), commit])
            if code != 0:
                raise UsageError(f"git worktree add of {commit[:12]} failed: {_last_line(err)}")
            yield tree
        finally:
            with held():
                self.git("worktree", "remove", "--force", "--force", str(tree), new_session=True)
                shutil.rmtree(parent, ignore_errors=True)
                for path in self.worktree_paths():  # registered, but its folder never got its .git file
                    if Path(path).parent == parent:
                        self.git("worktree", "unlock", path, new_session=True)
                self.git("worktree", "prune", new_session=True)

    def _interruptible(self, args) -> tuple:
        """``(returncode, stderr)`` of a git command in its own session; on
        Ctrl-C or SIGTERM, git and whatever it started (filters) are stopped
        before the interrupt goes on."""
        proc = subprocess.Popen(self._command(args), cwd=self.top, env=self._env(),
                                stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                                text=True, start_new_session=True)
        try:
            _, err = proc.communicate()
        except BaseException:
            _stop_group(proc, grace=2.0)
            raise
        return proc.returncode, err or ""


# -- per-commit environments ---------------------------------------------------------------


def parent_site_paths() -> list:
    """The site-packages folders of the running pinbench (shared with the arms)."""
    out = []
    for path in sys.path:
        if path and Path(path).name in ("site-packages", "dist-packages") and Path(path).is_dir():
            if path not in out:
                out.append(path)
    return out


def _have(*modules) -> bool:
    return all(importlib.util.find_spec(name) is not None for name in modules)


def _can_build_here() -> bool:
    """Whether this environment has what building pinbench needs (Cython,
    numpy, and a setuptools that builds wheels: 70.1 and later alone,
    older ones with the wheel package); otherwise pip fetches them."""
    if not _have("Cython", "setuptools", "numpy"):
        return False
    try:
        version = tuple(int(part) for part in metadata.version("setuptools").split(".")[:2])
    except (metadata.PackageNotFoundError, ValueError):
        return False
    return version >= (70, 1) or _have("wheel")


class ArmEnv:
    """A built environment: its folder and the pinbench it runs."""

    def __init__(self, path: Path):
        self.path = path
        self.bin = path / ("Scripts" if os.name == "nt" else "bin")
        self.python = self.bin / "python"
        self.pinbench = self.bin / "pinbench"


def _env_ok(env: ArmEnv, wanted: dict) -> bool:
    try:
        marker = json.loads((env.path / ENV_MARKER).read_text())
    except (OSError, ValueError):
        return False
    if marker != wanted or not env.pinbench.exists():
        return False
    try:
        code, _, _ = _run_child([str(env.pinbench), "--version"])
    except OSError:
        return False
    return code == 0


def ensure_env(repo: Repo, commit: str, ref: str, isolated: bool = False) -> ArmEnv:
    """The environment of ``commit``: reused when cached and working, else
    built from a temporary worktree (which is removed right after)."""
    root = cache_root(ENVS)
    try:
        root.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        raise UsageError(f"cannot create the environment cache {root}: {error.strerror} (set PINBENCH_CACHE)") from None
    name = commit + ("-isolated" if isolated else "")
    env = ArmEnv(root / name)
    wanted = {
        "commit": commit,
        "python": sys.version,
        "base_python": getattr(sys, "_base_executable", sys.executable),
        "isolated": isolated,
        "shared_site_packages": [] if isolated else parent_site_paths(),
    }
    with open(root / f"{name}.lock", "w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)  # two jobs building one commit take turns
        if _env_ok(env, wanted):
            say(f"{ref} ({commit[:12]}): reusing the environment in {env.path}")
            if not isolated and (core := reused_core(repo, commit)):
                core.keep(env)  # an environment built before cores were kept
            return env
        shutil.rmtree(env.path, ignore_errors=True)
        say(f"{ref} ({commit[:12]}): building its environment in {env.path}")
        started = time.perf_counter()
        core = None if isolated else reused_core(repo, commit)
        if core and core.built():
            say(f"{ref} ({commit[:12]}): its core sources were built before: copying that core, not compiling it")
        with repo.worktree(commit) as tree:
            _build(env, tree, wanted, isolated, ref, commit, core)
        (env.path / ENV_MARKER).write_text(json.dumps(wanted, indent=2) + "\n")
        if not _env_ok(env, wanted):
            raise UsageError(
                f"the pinbench built from {ref} ({commit[:12]}) does not start; see {env.path / BUILD_LOG}"
            )
        if core:
            core.keep(env)
        say(f"{ref} ({commit[:12]}): built in {time.perf_counter() - started:.0f} s")
    return env


class ReusedCore:
    """Where the compiled core of one set of core sources is kept: a commit
    whose cython_core/ and setup.py are those of a core built before (a
    change to the Python harness alone) copies it instead of compiling it
    again (setup.py's PINBENCH_PREBUILT_CORE). The key also holds what the
    build ran with: Python, Cython and numpy, the compiler and its flags."""

    def __init__(self, folder: Path):
        self.folder = folder

    @staticmethod
    def _cores(folder: Path) -> list:
        """The compiled core in ``folder`` (its sources sit beside it in an environment)."""
        return sorted(p for p in folder.glob("_executor.*") if p.name[len("_executor"):] in EXTENSION_SUFFIXES)

    def built(self) -> Path | None:
        found = self._cores(self.folder)
        return found[0] if found else None

    def keep(self, env: ArmEnv) -> None:
        """After a build that works: keep its core (atomically) for the next commits."""
        found = [core for folder in env.path.glob("lib*/python*/site-packages/pinbench/cython_core")
                 for core in self._cores(folder)]
        if not found or self.built():
            return
        with contextlib.suppress(OSError):
            self.folder.mkdir(parents=True, exist_ok=True)
            partial = self.folder / f".{found[0].name}.{os.getpid()}"
            shutil.copyfile(found[0], partial)
            os.replace(partial, self.folder / found[0].name)


def reused_core(repo: Repo, commit: str) -> ReusedCore | None:
    """The core kept for ``commit``'s core sources (None: they cannot be named)."""
    done = repo.git("rev-parse", f"{commit}:cython_core", f"{commit}:setup.py")
    if done.returncode != 0:
        return None
    versions = []
    for package in ("Cython", "numpy", "setuptools"):
        try:
            versions.append(metadata.version(package))
        except metadata.PackageNotFoundError:
            versions.append("")
    key = json.dumps([done.stdout.split(), sys.version, versions,
                      [os.environ.get(name, "") for name in ("CC", "CFLAGS", "LDSHARED", "LDFLAGS")]])
    return ReusedCore(cache_root(ENVS) / "cores" / hashlib.sha256(key.encode()).hexdigest()[:24])


def _build(env: ArmEnv, tree: Path, wanted: dict, isolated: bool, ref: str, commit: str,
           core: ReusedCore | None = None) -> None:
    log_path = env.path / BUILD_LOG
    shared = not isolated
    with_pip = isolated or not _have("pip")
    venv_cmd = [sys.executable, "-m", "venv", str(env.path)] + ([] if with_pip else ["--without-pip"])
    steps = [(venv_cmd, None)]
    pip = [str(env.python), "-m", "pip", "install", "--no-input", "--disable-pip-version-check"]
    if shared and _can_build_here():
        pip.append("--no-build-isolation")  # build with the shared Cython/numpy: no download
    prebuilt = core.built() if core else None
    # pip's build of the tree copies the prebuilt core (setup.py) rather than compiling it.
    steps.append((pip + [str(tree)], {"PINBENCH_PREBUILT_CORE": str(prebuilt)} if prebuilt else None))
    log = [f"# the core copied from {prebuilt} (the same core sources were built before)"] if prebuilt else []
    for i, (cmd, extra_env) in enumerate(steps):
        code, out, err = _run_child(cmd, env=extra_env)
        log.append(f"$ {' '.join(cmd)}\n{out}{err}")
        if i == 0 and code == 0 and shared:
            # The venv sees the running pinbench's packages after its own.
            purelib = _run_child(
                [str(env.python), "-c", "import sysconfig; print(sysconfig.get_paths()['purelib'])"]
            )[1].strip()
            Path(purelib).mkdir(parents=True, exist_ok=True)
            Path(purelib, "_pinbench_shared.pth").write_text("\n".join(wanted["shared_site_packages"]) + "\n")
        if code != 0:
            with contextlib.suppress(OSError):
                log_path.write_text("\n".join(log))
            what = "creating the venv" if i == 0 else "pip install"
            raise UsageError(
                f"building {ref} ({commit[:12]}) failed in {what}: {_build_error(err or out)} "
                f"(full log: {log_path})"
            )
    log_path.write_text("\n".join(log))


def _stop_group(proc, grace: float = 10.0) -> None:
    """End a child started in its own session and everything it started
    (pip's compilers, pyperf's workers): SIGTERM, then SIGKILL."""
    for sig, wait in ((signal.SIGTERM, grace), (signal.SIGKILL, None)):
        with contextlib.suppress(OSError):
            os.killpg(proc.pid, sig)
        try:
            proc.wait(timeout=wait)
            return
        except subprocess.TimeoutExpired:
            continue


def _run_child(cmd, cwd=None, stdout=subprocess.PIPE, env: dict | None = None) -> tuple:
    """``(returncode, stdout, stderr)`` of ``cmd`` in its own session (``env``
    added to its environment); on Ctrl-C or SIGTERM the child's whole
    process group is stopped first."""
    proc = subprocess.Popen(cmd, cwd=cwd, env={**_child_env(), **(env or {})}, stdin=subprocess.DEVNULL, stdout=stdout,
                            stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        out, err = proc.communicate()
    except BaseException:
        _stop_group(proc)
        raise
    return proc.returncode, out or "", err or ""


def _build_error(text: str) -> str:
    """The line of a failed build that says what went wrong (pip ends with
    generic advice; the compiler's or Python's error comes before it)."""
    lines = [line.strip().lstrip("│║ ").strip() for line in (text or "").splitlines() if line.strip()]
    generic = ("subprocess-exited-with-error", "metadata-generation-failed", "failed-wheel-build",
               "legacy-install-failure", "note:", "hint:", "╰─>", "See above")
    for pattern in (r"\b\w+(Error|Exception):", r"\berror:", r"\bERROR\b"):
        for line in lines:
            if re.search(pattern, line) and not any(g in line for g in generic):
                return line
    return lines[-1] if lines else "no output"


def _child_env() -> dict:
    env = {k: v for k, v in os.environ.items() if k not in _CHILD_ENV_DROP}
    env["PIP_NO_INPUT"] = "1"
    env.setdefault("COLUMNS", "100")
    return env


# -- running the arms ---------------------------------------------------------------------


def mode_flags(mode: str, counts_only: bool) -> list:
    flags = {"quick": ["--quick"], "rigorous": ["--rigorous"]}.get(mode, [])
    return flags + (["--counts-only"] if counts_only else [])


def case_filters(benches: list, engine: str | None = None) -> list:
    """The `pinbench run` flags that select exactly ``benches``: benchmarks
    of one case (a workload and its parameters, a workload file by its
    absolute path: the arms run elsewhere) under their strategies and
    allocators, and the engine."""
    first = benches[0]
    workload = first.workload
    if workload.endswith(".toml"):
        workload = str(Path(workload).resolve())
    args = ["--workload", workload]
    for flag, values in (("--strategy", (b.strategy for b in benches)), ("--allocator", (b.allocator for b in benches))):
        for value in dict.fromkeys(values):
            args += [flag, value]
    for name, value in first.params.items():
        args += ["--param", f"{name}={param_text(value)}"]
    if engine:
        args += ["--engine", engine]
    return args


def run_filters(sweep, engine: str | None = None) -> list:
    """The `pinbench run` flags that select ``sweep``'s benchmarks (a
    workload file by its absolute path: the arms run elsewhere), and the engine."""
    out = []
    for flag, values in (("--workload", sweep.workload), ("--strategy", sweep.strategy),
                         ("--allocator", sweep.allocator), ("--param", sweep.param)):
        for value in values or []:
            if flag == "--workload":
                value = ",".join(str(Path(v).resolve()) if v.endswith(".toml") else v for v in value.split(","))
            out += [flag, value]
    if engine:
        out += ["--engine", engine]
    return out


class Invocation:
    """One run of an arm's ``pinbench run`` into its own folder."""

    def __init__(self, arm: str, round_no: int, folder: Path, filters: list, what: str):
        self.arm, self.round_no, self.folder, self.filters, self.what = arm, round_no, folder, filters, what
        self.status = None
        self.error = ""
        self.seconds = 0.0


def run_invocation(env: ArmEnv, inv: Invocation, mode_flags: list, workdir: Path) -> None:
    cmd = [str(env.pinbench), "run", *mode_flags, *inv.filters, "--output", str(inv.folder), "--force"]
    started = time.perf_counter()
    code, _, err = _run_child(cmd, cwd=workdir, stdout=subprocess.DEVNULL)
    inv.seconds = time.perf_counter() - started
    inv.status = code
    inv.error = _last_line(err)
    if code in (128 + signal.SIGINT, 128 + signal.SIGTERM, -signal.SIGINT, -signal.SIGTERM):
        raise KeyboardInterrupt


def plan_invocations(suite: list, rounds: int, interleave: str, rounds_dir: Path, run_filters: list,
                     engine: str | None = None) -> list:
    """The order of the job: per benchmark A B A B ... (or per round A B)."""
    plan = []
    if interleave == "round":
        for r in range(1, rounds + 1):
            for arm in ARMS:
                plan.append(Invocation(arm, r, rounds_dir / f"round{r}-{arm}", run_filters, f"round {r}"))
        return plan
    for i, bench in enumerate(suite):
        for r in range(1, rounds + 1):
            for arm in ARMS:
                plan.append(Invocation(arm, r, rounds_dir / f"{i:04d}-r{r}-{arm}", case_filters([bench], engine),
                                       bench.label))
    return plan


def count_invocations(suite: list, sharded: bool, rounds_dir: Path, run_filters: list,
                      engine: str | None = None) -> list:
    """Each arm's instruction count under valgrind: one run of the whole
    suite, or in a shard one run per case of the shard (the sweep's own
    filters would count every shard's cases)."""
    if not sharded:
        return [Invocation(arm, 0, rounds_dir / f"instructions-{arm}", run_filters, "instructions") for arm in ARMS]
    return [Invocation(arm, 0, rounds_dir / f"instructions-{arm}-{i:04d}", case_filters(case, engine),
                       f"instructions of {case[0].label.rsplit('/', 2)[0]}")
            for arm in ARMS for i, (_, case) in enumerate(shard.cases(suite))]


# -- merging an arm's rounds -------------------------------------------------------------------


def _exact(metrics: dict) -> dict:
    """What must agree between an arm's rounds: the deterministic metrics
    every round has (optional ones, the instruction counts, come from one
    round of their own)."""
    out = {name: metrics.get(name) for name in COMPARED if name not in OPTIONAL}
    out["frame_bytes"] = metrics.get("frame_bytes")
    return out


def merge_rounds(folders: list, arm_label: str) -> tuple:
    """Merge results folders of one arm (any number of benchmarks each) into
    ``(doc, pyperf_benchmarks)``: one entry per benchmark, in order of first
    appearance; pyperf's runs of every round in one benchmark, and the
    timing summary recomputed from them. Raises BugError when rounds
    disagree on a deterministic metric."""
    import pyperf  # deferred: loaded only when rounds are merged

    template = None
    entries = {}  # key -> [entries]
    timed = {}  # key -> pyperf.Benchmark (merged)
    docs = []
    for folder in folders:
        doc = RunDocument.read(folder)
        docs.append(doc)
        if template is None:
            template = doc
        suite = None
        if (Path(folder) / PYPERF_FILE).exists():
            suite = {b.get_name(): b for b in pyperf.BenchmarkSuite.load(str(Path(folder) / PYPERF_FILE))}
        for entry in doc.benchmarks:
            key = benchmark_key(entry)
            entries.setdefault(key, []).append(entry)
            bench = (suite or {}).get(BenchmarkRecord.of(entry).label)
            if bench is None:
                continue
            if key in timed:
                timed[key].add_runs(bench)
            else:
                timed[key] = bench
    if template is None:
        raise UsageError(f"{arm_label} has no results to merge")
    merged = []
    for key, rounds in entries.items():
        first = rounds[0]
        reference = _exact(first["metrics"])
        for n, other in enumerate(rounds[1:], start=2):
            got = _exact(other["metrics"])
            if got != reference:
                diff = [m for m in reference if reference[m] != got[m]]
                raise BugError(
                    f"{arm_label}: round {n} of {BenchmarkRecord.of(first).label} gave different deterministic "
                    f"metrics than round 1 ({', '.join(f'{m} {reference[m]} vs {got[m]}' for m in diff[:3])}); "
                    "exact counts must not change between runs of the same code: this is a bug"
                )
        entry = json.loads(json.dumps(first))
        metrics = entry["metrics"]
        for name in OPTIONAL:  # from the round that counted them (--instructions)
            counted = [r["metrics"][name] for r in rounds if r["metrics"].get(name) is not None]
            if counted:
                metrics[name] = counted[0]
        if key in timed:
            metrics.update(timing_metrics(timed[key]))
        for name, how in ACROSS_ROUNDS.items():  # declared in metrics.py
            if how == "median":
                values = [r["metrics"][name] for r in rounds if isinstance(r["metrics"].get(name), (int, float))]
                if values:
                    metrics[name] = statistics.median(values)
            elif any(name in r["metrics"] for r in rounds):
                metrics[name] = sum(int(r["metrics"].get(name) or 0) for r in rounds)
        merged.append(entry)
    doc = RunDocument.from_dict(json.loads(json.dumps(template.to_dict())))
    doc.benchmarks = merged
    doc.instructions = next((d.instructions for d in docs if d.instructions), None)
    pyperf_benchmarks = [timed[k] for k in entries if k in timed]
    return doc, pyperf_benchmarks


def write_arm(folder: Path, doc: RunDocument, pyperf_benchmarks: list) -> None:
    with writing(folder):
        folder.mkdir(parents=True, exist_ok=True)
    if pyperf_benchmarks:
        write_pyperf(folder, pyperf_benchmarks)
    doc.write(folder)


def holds_files(folder: Path) -> bool:
    try:
        return any(folder.iterdir())
    except OSError:
        return False
