#!/usr/bin/env bash
# Runs every test: formatting and lints, the Rust unit and integration tests (which start real
# `spoke` processes over real HTTP), then the conformance suite that drives the official
# HubSpot Python SDK against a running server, on both stores: the embedded SQLite store, then
# PostgreSQL. Installs what it needs by itself: the Python venv with the pinned SDK, and (through
# scripts/postgres.sh) a private PostgreSQL on loopback from Debian's packages, which it stops
# and removes at the end. With SPOKE_TEST_DATABASE_URL set to a reachable PostgreSQL server,
# that server is used instead (the tests create and use their own databases on it).
set -euo pipefail
cd "$(dirname "$0")/.."

echo "== cargo fmt --check"
cargo fmt --all -- --check
echo "== cargo clippy"
cargo clippy --workspace --all-targets -- -D warnings
echo "== cargo build"
cargo build --workspace --bins

echo "== cargo test (SQLite)"
SPOKE_TEST_DATABASE_URL="" cargo test --workspace
echo "== conformance, official Python SDK (SQLite)"
SPOKE_TEST_DATABASE_URL="" SPOKE_BIN="$PWD/target/debug/spoke" bash conformance/run.sh

echo "== PostgreSQL"
PG_URL="$(bash scripts/postgres.sh start)"
trap 'bash scripts/postgres.sh stop' EXIT
export SPOKE_TEST_DATABASE_URL="$PG_URL"
echo "== cargo test (PostgreSQL)"
cargo test --workspace
echo "== conformance, official Python SDK (PostgreSQL)"
SPOKE_BIN="$PWD/target/debug/spoke" bash conformance/run.sh
