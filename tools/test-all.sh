#!/usr/bin/env bash
# Builds and runs mobilellm's whole test suite on a fresh Debian 12 machine:
#   1. installs the dependencies (tools/install-deps.sh);
#   2. release build, warnings as errors, every test (unit, Python reference checks, packaging);
#   3. AddressSanitizer + UndefinedBehaviorSanitizer build, running the tests that parse untrusted
#      input (the unit tests, including the hostile-input corpus) and the hostile-checkpoint tests;
#   4. ThreadSanitizer build running the tests where threads meet (pool, sessions, generation);
#   5. libFuzzer harnesses built with clang, each run briefly (MOBILELLM_FUZZ_SECONDS, default 20);
#   6. an aarch64 cross build whose unit tests run under qemu on a CPU with dotprod and i8mm and on
#      one without, so every ARM kernel variant executes.
# Build trees go to build/ (override with MOBILELLM_BUILD_ROOT).
set -euo pipefail
cd "$(dirname "$0")/.."
root=${MOBILELLM_BUILD_ROOT:-build}
jobs=$(nproc)
fuzz_seconds=${MOBILELLM_FUZZ_SECONDS:-20}

start=$SECONDS
# Each heading shows the wall time so far and the CPU time used by the stages so far (children's
# user + system seconds), which tells how long the run would take on an idle machine.
times_file=$(mktemp)
trap 'rm -f "$times_file"' EXIT
step() {
  times >"$times_file"  # in this shell: a subshell would report its own (empty) children
  local cpu
  cpu=$(awk 'NR == 2 { gsub(/[ms]/, " "); print int($1 * 60 + $2 + $3 * 60 + $4) }' "$times_file")
  printf '\n==== [%dm%02ds wall, %ss cpu] %s ====\n' $(((SECONDS - start) / 60)) \
    $(((SECONDS - start) % 60)) "$cpu" "$*"
}

step "dependencies"
tools/install-deps.sh

step "release build"
cmake -S . -B "$root/release" -DCMAKE_BUILD_TYPE=Release -DMOBILELLM_WERROR=ON
cmake --build "$root/release" -j"$jobs"
step "release tests"
ctest --test-dir "$root/release" --output-on-failure -j"$jobs"

# Warnings are errors in the release build above. The sanitizer builds do not use -Werror: GCC 12's
# flow-based warnings (-Wstringop-overflow, -Wrestrict) report false positives in instrumented code.
step "ASan + UBSan build"
cmake -S . -B "$root/sanitize" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOBILELLM_WERROR=OFF \
      -DMOBILELLM_SANITIZE=address,undefined
cmake --build "$root/sanitize" -j"$jobs"
step "ASan + UBSan tests"
ASAN_OPTIONS=detect_leaks=1:abort_on_error=1 UBSAN_OPTIONS=print_stacktrace=1:halt_on_error=1 \
  ctest --test-dir "$root/sanitize" --output-on-failure -j"$jobs" -L 'unit|sanitize'

step "TSan build"
cmake -S . -B "$root/tsan" -DCMAKE_BUILD_TYPE=RelWithDebInfo -DMOBILELLM_WERROR=OFF \
      -DMOBILELLM_SANITIZE=thread
cmake --build "$root/tsan" -j"$jobs" --target mobilellm_tests mobilellm_cli test_capi
step "TSan tests (where threads meet: thread pool, sessions, generation)"
TSAN_OPTIONS=halt_on_error=1 ctest --test-dir "$root/tsan" --output-on-failure -j"$jobs" \
  -R '^(Session|Generation|ThreadPool|capi|fixture|Energy|MappedFile)'

step "fuzz smoke runs (${fuzz_seconds}s each)"
CC=clang CXX=clang++ cmake -S . -B "$root/fuzz" -DCMAKE_BUILD_TYPE=RelWithDebInfo \
      -DMOBILELLM_BUILD_FUZZERS=ON -DMOBILELLM_BUILD_TESTS=OFF -DMOBILELLM_BUILD_TOOLS=OFF
cmake --build "$root/fuzz" -j"$jobs"
tools/ci/fuzz-smoke.sh "$root/fuzz" "$fuzz_seconds"

step "aarch64 cross build + kernel and runtime tests under qemu (-cpu max, -cpu cortex-a72)"
tools/ci/aarch64-tests.sh "$root/aarch64"

step "all test stages passed"
