#!/usr/bin/env bash
# Installs what lockcheck needs when it is missing (LLVM 22, clang-22, the
# mingw-w64 DDK headers; cmake and make for the build-integration examples;
# csmith for the robustness tests),
# then builds everything. Safe to run again: it only
# installs what is absent and cargo only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(llvm-22-dev clang-22 mingw-w64-x86-64-dev mingw-w64-i686-dev cmake make csmith)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if ((${#missing[@]})); then
    echo "setup: installing ${missing[*]}"
    sudo=""
    [ "$(id -u)" -eq 0 ] || sudo="sudo"
    $sudo apt-get update -qq
    DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found: install Rust 1.95 (https://rustup.rs)" >&2
    exit 1
fi

# The workspace: the lockcheck CLI and liblockcheck.so (the opt/clang plugin).
cargo build --release --workspace --quiet
echo "setup: built target/release/lockcheck and target/release/liblockcheck.so"
