#!/usr/bin/env bash
# Conformance suite: drives the official HubSpot Python SDK (hubspot-api-client, pinned in
# requirements.txt) against a freshly started `spoke serve`.
#
# Usage: bash conformance/run.sh [pytest args...]
#   SPOKE_BIN=/path/to/spoke   use this binary (default: <repo>/target/debug/spoke, built if missing)
#   PYTHON=python3.x           interpreter used to create the venv (default: python3)
#   SPOKE_TEST_DATABASE_URL=postgres://…/postgres
#                              run the server on PostgreSQL: a fresh database on that server,
#                              dropped afterwards (default: the embedded SQLite store)
# Exit code: pytest's.
set -euo pipefail

HERE="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)"
REPO="$(cd "$HERE/.." && pwd)"
VENV="$HERE/.venv"
REQ="$HERE/requirements.txt"
STAMP="$VENV/.requirements.sha256"
PYTHON="${PYTHON:-python3}"

log() { echo "conformance: $*" >&2; }
die() { log "$*"; exit 2; }

# --- Python environment ----------------------------------------------------------------------
req_hash="$(sha256sum "$REQ" | cut -d' ' -f1)"
if [[ ! -x "$VENV/bin/python" ]]; then
    log "creating venv at $VENV"
    "$PYTHON" -m venv "$VENV" || die "could not create a venv with $PYTHON"
fi
if [[ ! -f "$STAMP" || "$(cat "$STAMP")" != "$req_hash" ]]; then
    log "installing $REQ"
    "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check -r "$REQ"
    echo "$req_hash" >"$STAMP"
fi

# --- spoke binary ----------------------------------------------------------------------------
SPOKE_BIN="${SPOKE_BIN:-$REPO/target/debug/spoke}"
if [[ ! -x "$SPOKE_BIN" ]]; then
    log "building spoke ($SPOKE_BIN missing)"
    (cd "$REPO" && cargo build -p spoke-server) || die "cargo build failed"
    [[ -x "$SPOKE_BIN" ]] || die "no executable at $SPOKE_BIN after the build"
fi
SPOKE_BIN="$(cd "$(dirname "$SPOKE_BIN")" && pwd)/$(basename "$SPOKE_BIN")"   # absolute, for the tests

# --- server ----------------------------------------------------------------------------------
TMP="$(mktemp -d "${TMPDIR:-/tmp}/spoke-conformance.XXXXXX")"
SERVER_PID=""
cleanup() {
    if [[ -n "$SERVER_PID" ]] && kill -0 "$SERVER_PID" 2>/dev/null; then
        kill "$SERVER_PID" 2>/dev/null || true
        for _ in $(seq 50); do kill -0 "$SERVER_PID" 2>/dev/null || break; sleep 0.1; done
        kill -9 "$SERVER_PID" 2>/dev/null || true
        wait "$SERVER_PID" 2>/dev/null || true
    fi
    if [[ -n "${DB_NAME:-}" ]]; then
        psql "$SPOKE_TEST_DATABASE_URL" -qc "DROP DATABASE IF EXISTS $DB_NAME" >/dev/null 2>&1 || true
    fi
    rm -rf "$TMP"
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

TOKEN="pat-na1-$("$VENV/bin/python" -c 'import uuid; print(uuid.uuid4())')"
mkdir -p "$TMP/data"

# The store: SQLite in $TMP/data, or a fresh PostgreSQL database. SPOKE_DATABASE_URL reaches the
# server and every admin command the tests run (spoke owners …), and wins over --data-dir.
DB_NAME=""
export SPOKE_DATABASE_URL=""
if [[ -n "${SPOKE_TEST_DATABASE_URL:-}" ]]; then
    DB_NAME="spoke_conformance_$(date +%s)_$$"
    psql "$SPOKE_TEST_DATABASE_URL" -qc "CREATE DATABASE $DB_NAME" >/dev/null \
        || die "cannot create database $DB_NAME on $SPOKE_TEST_DATABASE_URL"
    SPOKE_DATABASE_URL="${SPOKE_TEST_DATABASE_URL%/*}/$DB_NAME"
    log "store: PostgreSQL database $DB_NAME"
else
    log "store: SQLite in $TMP/data"
fi
"$SPOKE_BIN" serve --listen 127.0.0.1:0 --data-dir "$TMP/data" --token "$TOKEN" \
    >"$TMP/server.out" 2>"$TMP/server.err" &
SERVER_PID=$!

URL=""
for _ in $(seq 200); do   # 200 x 0.1 s = 20 s
    line="$(grep -m1 -o 'listening on http://[^ ]*' "$TMP/server.out" 2>/dev/null || true)"
    if [[ -n "$line" ]]; then URL="${line#listening on }"; break; fi
    kill -0 "$SERVER_PID" 2>/dev/null || break
    sleep 0.1
done
if [[ -z "$URL" ]]; then
    if kill -0 "$SERVER_PID" 2>/dev/null; then
        log "spoke did not report 'listening' within 20 s"
    else
        wait "$SERVER_PID" && srv_rc=0 || srv_rc=$?
        log "spoke exited (code $srv_rc) before reporting 'listening'"
    fi
    log "--- stdout ---"; cat "$TMP/server.out" >&2 || true
    log "--- stderr ---"; tail -n 50 "$TMP/server.err" >&2 || true
    exit 2
fi
log "spoke at $URL (pid $SERVER_PID)"

acct_out="$("$SPOKE_BIN" accounts create --data-dir "$TMP/data")" || die "spoke accounts create failed"
TOKEN2="$(awk '$1 == "token" {print $2; exit}' <<<"$acct_out")"
[[ -n "$TOKEN2" ]] || die "no 'token' line in the output of 'spoke accounts create': $acct_out"
ACCOUNT_ID_2="$(awk '$1 == "account" {print $2; exit}' <<<"$acct_out")"

# account of SPOKE_TOKEN, from "spoke listening on http://… (account N)"
ACCOUNT_ID="$(grep -m1 -o '(account [0-9]*)' "$TMP/server.out" | tr -dc '0-9' || true)"
[[ -n "$ACCOUNT_ID" ]] || ACCOUNT_ID="$("$SPOKE_BIN" accounts list --data-dir "$TMP/data" | head -n1 | tr -dc '0-9')"
[[ -n "$ACCOUNT_ID" ]] || die "could not find the account id of the server's first account"

# SPOKE_DATA_DIR / SPOKE_BIN / SPOKE_ACCOUNT_ID let tests run admin commands (spoke owners …)
export SPOKE_URL="$URL" SPOKE_TOKEN="$TOKEN" SPOKE_TOKEN_2="$TOKEN2"
export SPOKE_DATA_DIR="$TMP/data" SPOKE_BIN SPOKE_ACCOUNT_ID="$ACCOUNT_ID" SPOKE_ACCOUNT_ID_2="$ACCOUNT_ID_2"

# --- tests -----------------------------------------------------------------------------------
set +e
(cd "$REPO" && "$VENV/bin/python" -m pytest -q -p no:cacheprovider "$HERE" "$@")
rc=$?
set -e
if [[ $rc -ne 0 ]] && grep -qiE 'error|warn|panic' "$TMP/server.err" 2>/dev/null; then
    log "server warnings/errors (last 30):"
    grep -iE 'error|warn|panic' "$TMP/server.err" | tail -n 30 >&2 || true
fi
exit $rc
