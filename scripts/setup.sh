#!/usr/bin/env bash
# Installs what lockcheck needs when it is missing (LLVM 22, clang-22, the
# mingw-w64 DDK headers; cmake and make for the build-integration examples;
# csmith for the robustness tests),
# then builds everything. Safe to run again: it only
# installs what is absent and cargo only rebuilds what changed.
set -euo pipefail
cd "$(dirname "$0")/.."

packages=(llvm-22-dev clang-22 mingw-w64-x86-64-dev mingw-w64-i686-dev cmake make csmith)
# shellcheck source=/dev/null
source scripts/lib/packages.sh
install_packages setup "${packages[@]}"

if ! command -v cargo >/dev/null 2>&1; then
    echo "setup: cargo not found: install Rust 1.95 (https://rustup.rs)" >&2
    exit 1
fi

# The workspace: the lockcheck CLI and liblockcheck.so (the opt/clang plugin).
cargo build --release --workspace --quiet
echo "setup: built target/release/lockcheck and target/release/liblockcheck.so"
