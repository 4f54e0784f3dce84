#!/usr/bin/env bash
# Cross-compiles mobilellm's unit tests for 64-bit ARM with Debian's cross toolchain and runs them
# under qemu-user on two emulated CPUs, so every ARM kernel variant runs somewhere:
#   -cpu max         NEON + dotprod + i8mm: the neon, neondot and neoni8mm variants all run;
#   -cpu cortex-a72  Armv8.0 NEON only: neondot and neoni8mm report "not supported" and skip, and the
#                    runtime falls back to the neon variant.
# Kernel speed means nothing under qemu; this checks correctness (exact int32 sums) only.
#
# Usage: tools/ci/aarch64-tests.sh [BUILD_DIR]        (default: build/aarch64)
#   MOBILELLM_AARCH64_FILTER   GoogleTest filter for both runs (default: the kernel, runtime and
#                              session tests, each run a few minutes at most under emulation)
# Needs only Debian packages (installed when missing; root or sudo): g++-aarch64-linux-gnu,
# qemu-user-static, and the host's googletest sources and header-only libraries.
set -euo pipefail
cd "$(dirname "$0")/../.."
build=${1:-build/aarch64}
jobs=$(nproc)
filter=${MOBILELLM_AARCH64_FILTER:-'Kernel*:*Qgemm*:*Quantize*:Session*:Transformer*:Generate*'}
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
fi

step "host header overlay"
# The target build must not search the host's /usr/include (x86 glibc headers). The header-only
# libraries are architecture independent, so an overlay prefix exposes just them to the toolchain
# file (MOBILELLM_HOST_HEADERS). nlohmann_json's package files locate the headers relative to their
# own directory, so they are copied into the overlay rather than referenced in /usr/share/cmake.
mkdir -p "$build"
overlay=$(cd "$build" && pwd)/host-headers
rm -rf "$overlay"
mkdir -p "$overlay/include" "$overlay/share/cmake"
for d in fmt nlohmann xsimd; do ln -s "/usr/include/$d" "$overlay/include/$d"; done
cp -r /usr/share/cmake/nlohmann_json "$overlay/share/cmake/"

step "configure and build (aarch64, release, warnings as errors)"
cmake -S . -B "$build" -DCMAKE_TOOLCHAIN_FILE="$PWD/tools/toolchains/$triple.cmake" \
      -DMOBILELLM_HOST_HEADERS="$overlay" -DCMAKE_BUILD_TYPE=Release -DMOBILELLM_WERROR=ON \
      -DMOBILELLM_FMT_HEADER_ONLY=ON -DMOBILELLM_GTEST_SOURCE_DIR=/usr/src/googletest
cmake --build "$build" -j"$jobs" --target mobilellm_tests

run_on() {  # CPU: runs the unit tests on one emulated CPU, reports which kernel variants ran
  local cpu=$1 log="$build/tests-$1.log" start=$SECONDS
  step "unit tests under qemu-aarch64 -cpu $cpu (filter $filter)"
  qemu-aarch64-static -L "$sysroot" -cpu "$cpu" "$build/tests/mobilellm_tests" \
      --gtest_filter="$filter" --gtest_color=no 2>&1 | tee "$log"
  local rc=${PIPESTATUS[0]}
  echo "-- -cpu $cpu: exit $rc after $((SECONDS - start)) s"
  return "$rc"
}
run_on max
run_on cortex-a72
step "aarch64 tests passed on both CPUs"
