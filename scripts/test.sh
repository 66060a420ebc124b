#!/usr/bin/env bash
# Sets up (scripts/setup.sh), builds the whole workspace (the plugin cdylib
# too: `cargo test` alone does not build it) and runs every test: unit tests,
# the fixture suite through library, opt plugin and CLI, CLI and plugin tests,
# then the Linux corpus slice (real 6.12 drivers and injected defects).
set -euo pipefail
cd "$(dirname "$0")/.."

./scripts/setup.sh
cargo build --release --workspace --quiet
cargo test --release --workspace --quiet
./scripts/corpus/linux-slice.sh
