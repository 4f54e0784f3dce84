#!/usr/bin/env bash
# mobilellm and llama.cpp side by side: same random weights (the 125M, LS-125M and 350M shapes by
# default), same threads (1 and 2) and lengths (pp512, tg128, tg128 at depth 512), one run,
# alternating the runtimes, medians of several rounds, with the machine's memory bandwidth and
# int8 peak measured in the same run. See benchmarks/README.md, "Side by side with llama.cpp".
#
#   benchmarks/compare_llama_cpp.sh [options]
#
# options:
#   --build-dir DIR    where mobilellm and bench_kernels are built (default build-compare)
#   --work DIR         cached model files and the results (default benchmarks/.llama-cpp/work)
#   --llama-dir DIR    node-llama-cpp install folder (default benchmarks/.llama-cpp)
#   --shapes LIST      default 125M,LS-125M,350M (also 600M, 1B, 1.5B, LS-...)
#   --threads LIST     default 1,2
#   --reps N           alternating rounds (default 3)
#   --depth N          depth of the extra tg test (default 512; 0 = none)
#   --ours-type T      our weight type (`mobilellm convert --type`, default w8a8)
#   --max-seconds S    stop a llama.cpp tg repetition after S seconds (default 60; 0 = never)
#   --json FILE        results file (default WORK/compare-<date>.json)
#   --install-deps     apt-get the Debian packages that are missing (root or sudo)
#   --install-only     install node-llama-cpp (and check the rest), then stop
#
# Needs Debian 12's cmake, g++, libfmt-dev, nlohmann-json3-dev, libxsimd-dev, libbenchmark-dev,
# python3-numpy, nodejs and npm (--install-deps installs them), and the npm registry, from which
# node-llama-cpp (prebuilt llama.cpp for linux-x64 and linux-arm64) is installed into
# benchmarks/.llama-cpp (git-ignored; reused when present), with Node.js 20 from the npm registry
# too if the machine's is older.
set -euo pipefail

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
root="$(dirname "$here")"
build_dir="$root/build-compare"
llama_dir="${MOBILELLM_LLAMA_CPP_DIR:-$here/.llama-cpp}"
work=""
json=""
install_deps=0
install_only=0
compare_args=()

usage() { sed -n '2,/^set -euo/p' "$0" | sed -e '/^set -euo/d' -e 's/^# \{0,1\}//'; }
while (($#)); do
  case "$1" in
    --build-dir) build_dir="$2"; shift 2 ;;
    --work) work="$2"; shift 2 ;;
    --llama-dir) llama_dir="$2"; shift 2 ;;
    --json) json="$2"; shift 2 ;;
    --shapes | --threads | --reps | --depth | --ours-type | --max-seconds)
      compare_args+=("$1" "$2"); shift 2 ;;
    --install-deps) install_deps=1; shift ;;
    --install-only) install_only=1; shift ;;
    -h | --help) usage; exit 0 ;;
    *) echo "compare_llama_cpp: unknown option $1 (see --help)" >&2; exit 2 ;;
  esac
done
work="${work:-$llama_dir/work}"

# -- Debian packages ----------------------------------------------------------------------------
packages=(cmake make g++ pkg-config libfmt-dev nlohmann-json3-dev libxsimd-dev libbenchmark-dev
          python3 python3-numpy nodejs npm)
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
# A Node.js installed outside Debian's packages (e.g. a newer one) also serves.
if command -v node > /dev/null && command -v npm > /dev/null; then
  kept=()
  for p in "${missing[@]}"; do [[ "$p" == nodejs || "$p" == npm ]] || kept+=("$p"); done
  missing=(${kept[@]+"${kept[@]}"})
fi
if ((${#missing[@]})); then
  if ((install_deps)); then
    "$root/tools/install-deps.sh" --runtime-only
    sudo=""; [[ $(id -u) -ne 0 ]] && sudo="sudo"
    echo "compare_llama_cpp: installing ${missing[*]}"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends \
      "${missing[@]}" > /dev/null
  else
    echo "compare_llama_cpp: missing Debian packages: ${missing[*]}" >&2
    echo "  install them with: apt-get install ${missing[*]}   (or rerun with --install-deps)" >&2
    exit 1
  fi
fi
python=/usr/bin/python3
if ! "$python" -c 'import numpy' 2> /dev/null; then
  echo "compare_llama_cpp: $python has no numpy (apt-get install python3-numpy)" >&2
  exit 1
fi

# -- llama.cpp (node-llama-cpp from the npm registry) -----------------------------------------
"$here/llama/install_llama_cpp.sh" "$llama_dir"
if ((install_only)); then exit 0; fi

# -- mobilellm and bench_kernels ------------------------------------------------------------------
echo "compare_llama_cpp: building mobilellm and bench_kernels in $build_dir"
cmake -S "$root" -B "$build_dir" -DCMAKE_BUILD_TYPE=Release -DMOBILELLM_BUILD_TESTS=OFF \
  -DMOBILELLM_BUILD_BENCHMARKS=ON > /dev/null
cmake --build "$build_dir" -j"$(nproc)" --target mobilellm_cli bench_kernels > /dev/null

mkdir -p "$work"
json="${json:-$work/compare-$(date -u +%Y%m%dT%H%M%SZ).json}"
exec "$python" "$here/llama/compare.py" --cli "$build_dir/mobilellm" \
  --bench-kernels "$build_dir/benchmarks/bench_kernels" --node "$llama_dir/bin/node" \
  --llama-dir "$llama_dir" --work "$work" --json "$json" ${compare_args[@]+"${compare_args[@]}"}
