#!/usr/bin/env bash
# Build the Cython core with AddressSanitizer + UndefinedBehaviorSanitizer and
# run the core's tests against that build: the executor's tests, the exact
# allocation rules of every built-in workload, the deep inputs and the
# fuzzer's random programs (every step kind, every strategy and allocator).
#
#   tools/sanitize.sh            # from an environment where pinbench's test extra is installed
#   tools/sanitize.sh -k chain   # extra arguments go to pytest
#
# The sanitized build is installed into a temporary folder put first on
# PYTHONPATH; the script checks that this build is the one the tests import.
# Python itself is not sanitized, so the ASan runtime is preloaded, together
# with libstdc++ (else matplotlib's font library aborts under ASan). Leak
# detection is off: the interpreter keeps memory until exit by design; the
# executor's own leaks are what the tests count (zero live blocks per run).
# Any sanitizer report fails the run (halt_on_error, and the log is checked).
set -euo pipefail
cd "$(dirname "$0")/.."
python="${PYTHON:-python}"
work="$(mktemp -d "${TMPDIR:-/tmp}/pinbench-sanitize-XXXXXX")"
trap 'rm -rf "$work"' EXIT

flags="-fsanitize=address,undefined -fno-sanitize-recover=undefined -fno-omit-frame-pointer -g"
echo "sanitize: building the core with $flags"
if ! CFLAGS="$flags" LDFLAGS="-fsanitize=address,undefined" "$python" -m pip install --quiet --no-deps \
        --no-cache-dir --target "$work/site" . >"$work/build.log" 2>&1; then
    cat "$work/build.log" >&2
    echo "sanitize: the sanitized build failed (log above)" >&2
    exit 1
fi

asan="$(gcc -print-file-name=libasan.so)"
stdcxx="$(gcc -print-file-name=libstdc++.so)"
for lib in "$asan" "$stdcxx"; do
    [ -e "$lib" ] || { echo "sanitize: $lib not found; install gcc's libasan and libstdc++" >&2; exit 1; }
done
export PYTHONPATH="$work/site${PYTHONPATH:+:$PYTHONPATH}"
export ASAN_OPTIONS="detect_leaks=0:halt_on_error=1:abort_on_error=0:exitcode=99"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1:exitcode=98"
preload="$asan $stdcxx"

LD_PRELOAD="$preload" "$python" - "$work/site" <<'PY'
import sys
from pinbench.cython_core import _executor
assert _executor.__file__.startswith(sys.argv[1]), f"the tests would import {_executor.__file__}, not the sanitized build"
data = open(_executor.__file__, "rb").read()
assert b"__asan_report" in data and b"__ubsan_handle" in data, "the build is not instrumented (CFLAGS ignored?)"
print(f"sanitize: the tests import {_executor.__file__}")
PY

status=0
LD_PRELOAD="$preload" "$python" -m pytest -q -p no:cacheprovider \
    tests/test_executor.py tests/test_allocation_rules.py tests/test_deep_inputs.py \
    "tests/test_fuzz.py::test_random_programs_run_leak_free_with_the_oracles_checksum" \
    "$@" 2>&1 | tee "$work/tests.log" || status=$?
if grep -qE "ERROR: AddressSanitizer|runtime error:|ERROR: LeakSanitizer" "$work/tests.log"; then
    echo "sanitize: a sanitizer reported an error (above)" >&2
    exit 1
fi
if [ "$status" -ne 0 ]; then
    echo "sanitize: the tests failed under the sanitizers (exit $status)" >&2
    exit "$status"
fi
echo "sanitize: clean"
