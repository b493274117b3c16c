#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests (which start real
# `spoke` processes over real HTTP), then the conformance suite that drives the official
# HubSpot Python SDK against a running server. Installs what it needs (Python venv with the
# pinned SDK) by itself.
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build"
cargo build --workspace --bins
echo "== cargo test"
cargo test --workspace
echo "== conformance (official Python SDK)"
SPOKE_BIN="$PWD/target/debug/spoke" bash conformance/run.sh
