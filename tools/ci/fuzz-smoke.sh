#!/usr/bin/env bash
# Runs every libFuzzer harness built in BUILD_DIR for SECONDS each, starting from the seed corpus
# the harness writes (tests/fuzz/README.md). Fails if any harness finds a crash.
set -euo pipefail
build=${1:?usage: fuzz-smoke.sh BUILD_DIR SECONDS}
seconds=${2:-20}
shopt -s nullglob
harnesses=("$build"/tests/fuzz/fuzz_*)
if ((${#harnesses[@]} == 0)); then
  echo "fuzz-smoke: no harnesses in $build/tests/fuzz" >&2
  exit 1
fi
for h in "${harnesses[@]}"; do
  [[ -x "$h" && -f "$h" ]] || continue
  name=$(basename "$h")
  corpus="$build/fuzz-corpus/$name"
  mkdir -p "$corpus"
  "$h" --write-seeds="$corpus" >/dev/null
  echo "fuzz-smoke: $name for ${seconds}s ($(ls "$corpus" | wc -l) seeds)"
  "$h" -max_total_time="$seconds" -print_final_stats=0 -rss_limit_mb=2048 -timeout=10 \
       -artifact_prefix="$build/fuzz-artifacts-$name-" "$corpus" 2>"$build/$name.log" ||
    { tail -50 "$build/$name.log"; echo "fuzz-smoke: $name FAILED"; exit 1; }
  grep -E "^#[0-9]+.*DONE|Done [0-9]+ runs" "$build/$name.log" | tail -1 || true
done
echo "fuzz-smoke: all ${#harnesses[@]} harnesses ran clean"
