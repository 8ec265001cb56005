#!/usr/bin/env bash
# The full test suite. Installs what the tests need (moto's AWS server and cfn-lint, from PyPI,
# into .venv), then runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if ! "$venv/bin/python" -c 'import moto, cfnlint' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'cfn-lint==1.58.0'
fi
export MOTO_SERVER="$PWD/$venv/bin/moto_server"
export CFN_LINT="$PWD/$venv/bin/cfn-lint"

cargo test --workspace --locked
# The criterion benchmarks, run once each in test mode so they cannot rot.
cargo test --locked -p kms-alerts-core -p kms-alerts-handlers --benches
