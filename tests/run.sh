#!/usr/bin/env bash
# The full test suite: installs what the tests need, then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

cargo test --workspace --locked
# The criterion benchmarks, run once each in test mode so they cannot rot.
cargo test --locked -p kms-alerts-core --benches
