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
# GNU time measures the CLI's peak RSS in the memory-bound tests.
if [ ! -x /usr/bin/time ]; then
  sudo=""; [ "$(id -u)" = 0 ] || sudo=sudo
  $sudo apt-get update -qq && $sudo apt-get install -y -qq time >/dev/null
fi
export MOTO_SERVER="$PWD/$venv/bin/moto_server"
export CFN_LINT="$PWD/$venv/bin/cfn-lint"

# Dependencies against the RustSec advisory database (github.com/rustsec/advisory-db), with
# cargo-audit (pinned, installed into .tools when missing). The database is fetched from GitHub
# on every run; where GitHub cannot be reached the check is skipped with a warning, and
# KMS_ALERTS_REQUIRE_AUDIT=1 makes that a failure instead.
if timeout 20 git ls-remote --exit-code https://github.com/rustsec/advisory-db HEAD >/dev/null 2>&1; then
  if ! .tools/bin/cargo-audit --version >/dev/null 2>&1; then
    cargo install cargo-audit --version 0.22.2 --locked --root .tools
  fi
  .tools/bin/cargo-audit audit --deny yanked
elif [ "${KMS_ALERTS_REQUIRE_AUDIT:-0}" = 1 ]; then
  echo "RustSec advisory database unreachable and KMS_ALERTS_REQUIRE_AUDIT=1" >&2
  exit 1
else
  echo "WARNING: RustSec advisory database unreachable (no access to github.com): dependency audit SKIPPED" >&2
fi

# Style and lints stay clean: formatting checked, every clippy warning an error.
cargo fmt --all -- --check
cargo clippy --workspace --all-targets --locked -- -D warnings
cargo test --workspace --locked
# Memory bounds under hostile input, measured on the binaries that ship: the release build
# (README's first command builds the same CLI), with the full-size inputs.
cargo build --release --locked --bin kms-alerts --bin kms-secret-lifecycle --bin kms-trail-objects
export KMS_ALERTS_TEST_BIN_DIR="$PWD/target/release"
cargo test --locked -p kms-alerts-cli --test bounds
cargo test --locked -p kms-alerts-handlers --test hostile --test trail_objects
unset KMS_ALERTS_TEST_BIN_DIR
# The criterion benchmarks, run once each in test mode so they cannot rot.
cargo test --locked -p kms-alerts-core -p kms-alerts-handlers --benches
