#!/usr/bin/env bash
# Installs llama.cpp for the side-by-side comparison: the npm package node-llama-cpp at a pinned
# version, with only the prebuilt CPU binaries of this machine's architecture (linux-x64 or
# linux-arm64), into a local folder (default benchmarks/.llama-cpp, git-ignored). Reuses the
# folder when it already holds that version. Needs npm and the npm registry, nothing else:
# when the machine's Node.js is older than 20 (Debian 12's is 18), Node.js 20 itself is installed
# from the npm registry's node-linux-<arch> package into the same folder.
#
#   benchmarks/llama/install_llama_cpp.sh [DIR]
#
# Afterwards DIR/bin/node is the Node.js to run the scripts with, and DIR/node_modules holds
# node-llama-cpp. Installs into a temporary folder first and renames it, so an interrupted
# install never leaves a half-filled DIR.
set -euo pipefail

# node-llama-cpp ships llama.cpp's prebuilt binaries (its llama/llama.cpp.info.json names the tag)
NODE_LLAMA_CPP_VERSION=3.22.1
NODE_VERSION=20.20.2            # only used when the machine's node is missing or older than 20

here="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
dir="${1:-${MOBILELLM_LLAMA_CPP_DIR:-$here/../.llama-cpp}}"
mkdir -p "$(dirname "$dir")"
dir="$(cd "$(dirname "$dir")" && pwd)/$(basename "$dir")"

case "$(uname -m)" in
  x86_64) arch=x64 ;;
  aarch64 | arm64) arch=arm64 ;;
  *) echo "install_llama_cpp: no prebuilt llama.cpp for $(uname -m)" >&2; exit 1 ;;
esac
if [[ "$(uname -s)" != Linux ]]; then
  echo "install_llama_cpp: this script installs the Linux binaries only" >&2
  exit 1
fi

installed_version() {
  local pkg="$1/node_modules/node-llama-cpp/package.json"
  [[ -f "$pkg" && -x "$1/bin/node" ]] || return 0
  "$1/bin/node" -e 'console.log(require(process.argv[1]).version)' "$pkg" 2>/dev/null || true
}

if [[ "$(installed_version "$dir")" == "$NODE_LLAMA_CPP_VERSION" &&
      -d "$dir/node_modules/@node-llama-cpp/linux-$arch" ]]; then
  echo "install_llama_cpp: node-llama-cpp $NODE_LLAMA_CPP_VERSION already in $dir"
  exit 0
fi

if ! command -v npm > /dev/null; then
  echo "install_llama_cpp: npm is missing (Debian: apt-get install nodejs npm)" >&2
  exit 1
fi

tmp="$(mktemp -d "$dir.tmp.XXXXXX")"
chmod 755 "$tmp"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/bin"
npm_install() {
  npm install --prefix "$1" --no-audit --no-fund --no-save --ignore-scripts --omit=optional \
    --loglevel=error "${@:2}"
}

system_node="$(command -v node || true)"
if [[ -n "$system_node" ]] &&
   "$system_node" -e 'process.exit(Number(process.versions.node.split(".")[0]) >= 20 ? 0 : 1)'; then
  ln -s "$system_node" "$tmp/bin/node"
else
  echo "install_llama_cpp: no Node.js 20 or newer${system_node:+ ($("$system_node" --version))};" \
    "installing Node.js $NODE_VERSION from the npm registry"
  npm_install "$tmp/node" "node-linux-$arch@$NODE_VERSION"
  ln -s "../node/node_modules/node-linux-$arch/bin/node" "$tmp/bin/node"
fi

echo "install_llama_cpp: installing node-llama-cpp $NODE_LLAMA_CPP_VERSION" \
  "(linux-$arch binaries) into $dir"
npm_install "$tmp" "node-llama-cpp@$NODE_LLAMA_CPP_VERSION" \
  "@node-llama-cpp/linux-$arch@$NODE_LLAMA_CPP_VERSION"
"$tmp/bin/node" --version > /dev/null

rm -rf "$dir"
mv "$tmp" "$dir"
trap - EXIT
echo "install_llama_cpp: done (Node.js $("$dir/bin/node" --version)," \
  "node-llama-cpp $(installed_version "$dir"))"
