#!/usr/bin/env bash
# The full test suite. Installs what the tests need (moto's AWS server and cfn-lint, from PyPI,
# into .venv; rustfmt and clippy through rustup when missing), checks formatting and lints, then
# runs every test in the workspace.
set -euo pipefail
cd "$(dirname "$0")/.."

venv=.venv
if ! "$venv/bin/python" -c 'import moto, cfnlint' 2>/dev/null; then
  python3 -m venv "$venv"
  "$venv/bin/pip" install --quiet --disable-pip-version-check 'moto[server]==5.2.5' 'cfn-lint==1.58.0'
fi
for component in rustfmt clippy; do
  if ! cargo "${component/rustfmt/fmt}" --version >/dev/null 2>&1; then
    rustup component add "$component"
  fi
done
export MOTO_SERVER="$PWD/$venv/bin/moto_server"
export CFN_LINT="$PWD/$venv/bin/cfn-lint"

# Style and lints stay clean: formatting checked, every clippy warning an error.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# The criterion benchmarks, run once each in test mode so they cannot rot.
cargo test --locked -p kms-alerts-core -p kms-alerts-handlers --benches
