#!/usr/bin/env bash
# Installs everything mobilellm needs to build and test on Debian 12, from Debian's packages only.
# Usage: tools/install-deps.sh [--runtime-only]   (root, or a user with sudo)
set -euo pipefail

packages=(cmake make g++ pkg-config libfmt-dev nlohmann-json3-dev libxsimd-dev)
if [[ "${1:-}" != "--runtime-only" ]]; then
  packages+=(
    libgtest-dev libgmock-dev                 # unit tests
    clang libclang-rt-14-dev                  # libFuzzer harnesses
    python3-numpy python3-torch python3-sentencepiece libopenblas0-pthread  # reference checks
  )
fi

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]} == 0)); then
  echo "install-deps: all ${#packages[@]} packages are installed"
  exit 0
fi

sudo=""
if [[ $(id -u) -ne 0 ]]; then sudo="sudo"; fi
echo "install-deps: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
echo "install-deps: done"
