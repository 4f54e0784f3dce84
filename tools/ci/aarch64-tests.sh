#!/usr/bin/env bash
# Cross-compiles mobilellm's unit tests for 64-bit ARM with Debian's cross toolchain and runs them
# under qemu-user on two emulated CPUs, so that every ARM kernel variant runs somewhere:
#   -cpu max         NEON + dotprod + i8mm: the neon, neondot and neoni8mm kernel tests all run, and
#                    the runtime (W8A8 session tests) runs once with each of the three variants;
#   -cpu cortex-a72  Armv8.0 NEON only: the neondot and neoni8mm kernel tests report "not supported"
#                    and skip, and the runtime falls back to the neon variant.
# The script checks that exactly those variants ran and were skipped (a broken CPU-feature check
# would otherwise skip everything and still pass), and prints a summary with the timings.
# Emulated kernels say nothing about speed: this checks correctness (exact int32 sums) only.
#
# Usage: tools/ci/aarch64-tests.sh [BUILD_DIR]        (default: build/aarch64)
#   MOBILELLM_AARCH64_FILTER   GoogleTest filter of the main runs (default: every unit test, about
#                              1.5 minutes per CPU under qemu)
# Needs only Debian packages, installed when missing (root or sudo): g++-aarch64-linux-gnu,
# qemu-user-static, googletest (sources) and the host's header-only libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/aarch64}
jobs=$(nproc)
filter=${MOBILELLM_AARCH64_FILTER:-'*'}
# The runtime's tests (W8A8 models among them), plus the test that prints the selected kernels.
runtime_filter='KernelSelection.DefaultFollowsTheEnvironment:Session*:Generation*:Layouts/SessionConsistency.*'
triple=aarch64-linux-gnu
sysroot=/usr/$triple

step() { printf '\n==== %s ====\n' "$*"; }

step "dependencies"
packages=(cmake make g++-$triple qemu-user-static googletest libfmt-dev nlohmann-json3-dev
          libxsimd-dev)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
  echo "installing ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" \
    >/dev/null
else
  echo "all ${#packages[@]} packages are installed"
fi

step "host header overlay"
# The target build must not search the host's /usr/include (x86 glibc headers). The header-only
# libraries are architecture independent, so an overlay prefix exposes just them to the toolchain
# file (MOBILELLM_HOST_HEADERS). nlohmann_json's package files locate the headers relative to their
# own directory, so they are copied into the overlay rather than used from /usr/share/cmake.
mkdir -p "$build"
overlay=$(cd "$build" && pwd)/host-headers
rm -rf "$overlay"
mkdir -p "$overlay/include" "$overlay/share/cmake"
for d in fmt nlohmann xsimd; do ln -s "/usr/include/$d" "$overlay/include/$d"; done
cp -r /usr/share/cmake/nlohmann_json "$overlay/share/cmake/"
echo "$overlay: include/{fmt,nlohmann,xsimd}, share/cmake/nlohmann_json"

step "configure and build for $triple (release, warnings as errors)"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$PWD/tools/toolchains/$triple.cmake" \
      -DMOBILELLM_HOST_HEADERS="$overlay" -DCMAKE_BUILD_TYPE=Release -DMOBILELLM_WERROR=ON \
      -DMOBILELLM_FMT_HEADER_ONLY=ON -DMOBILELLM_GTEST_SOURCE_DIR=/usr/src/googletest
cmake --build "$build" -j"$jobs" --target mobilellm_tests

summary=()
failed=0

# run NAME CPU FILTER [MOBILELLM_KERNELS value]: one run of the unit tests under qemu, logged to
# $build/NAME.log; adds a line to the summary.
run() {
  local name=$1 cpu=$2 run_filter=$3 kernels=${4:-} log="$build/$1.log" start=$SECONDS rc=0
  step "$name: qemu-aarch64 -cpu $cpu, filter $run_filter${kernels:+, MOBILELLM_KERNELS=$kernels}"
  env -u MOBILELLM_KERNELS ${kernels:+MOBILELLM_KERNELS=$kernels} \
    qemu-aarch64-static -L "$sysroot" -cpu "$cpu" "$build/tests/mobilellm_tests" \
    --gtest_filter="$run_filter" --gtest_color=no >"$log" 2>&1 || rc=$?
  grep -E '^\[ kernels  \] (CPU|  )' "$log" || true  # the registry: which variants run on this CPU
  grep -A 12 -E ': Failure$' "$log" | head -n 200 || true
  sed -n '/^\[==========\] .* ran\./,$p' "$log"
  local ran skipped selected
  ran=$(sed -n 's/^\[ *OK \] Kernels\/QgemmKernel\.[A-Za-z]*\/\(.*\) (.*/\1/p' "$log" | sort -u | xargs)
  skipped=$(sed -n 's/^\[ *SKIPPED \] Kernels\/QgemmKernel\.[A-Za-z]*\/\([a-z0-9]*\) (.*/\1/p' "$log" |
            sort -u | xargs)
  selected=$(sed -n 's/^\[ kernels  \] selected //p' "$log" | head -n 1)
  local line="$name: exit $rc, $((SECONDS - start)) s"
  [[ -n $ran || -n $skipped ]] && line+="; kernel tests passed: ${ran:-none}; skipped: ${skipped:-none}"
  [[ -n $selected ]] && line+="; runtime uses ${kernels:+(MOBILELLM_KERNELS=$kernels) }$selected"
  summary+=("$line")
  ((rc == 0)) || failed=1
  RAN=$ran SKIPPED=$skipped
}

# expect NAME RAN SKIPPED: the GEMM kernel tests of run NAME passed for exactly the ISAs in RAN and
# were skipped for exactly those in SKIPPED (checked only when the filter included them).
expect() {
  if [[ -z $RAN && -z $SKIPPED ]]; then return; fi
  if [[ $RAN != "$2" || $SKIPPED != "$3" ]]; then
    summary+=("$1: EXPECTED kernel tests passed: $2; skipped: ${3:-none}")
    failed=1
  fi
}

run max-all max "$filter"
expect max-all "neon neondot neoni8mm" ""
for isa in neondot neon; do
  run "max-runtime-$isa" max "$runtime_filter" "$isa"
done
run cortex-a72-all cortex-a72 "$filter"
expect cortex-a72-all "neon" "neondot neoni8mm"

step "summary"
printf '%s\n' "${summary[@]}"
if ((failed)); then
  echo "aarch64 tests FAILED (logs: $build/*.log)"
  exit 1
fi
echo "aarch64 tests passed on both CPUs"
