#!/usr/bin/env bash
# The precision report: runs every fixture (all builds, all front ends) and
# prints, per rule, the expected reports found and the false reports. The
# fixture suite fails unless it reads 100% found and 0 false.
set -euo pipefail
cd "$(dirname "$0")/.."
cargo build --release --workspace --quiet
cargo test --release -p lockcheck-tests --test fixtures --quiet 2>&1 | sed -n '/^precision over/,$p;/^failures:/,/^test result/p'
