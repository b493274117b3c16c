#!/usr/bin/env bash
# Instructions a request costs the server, counted by valgrind's callgrind: repeatable to ~0.1%
# for read phases on this noisy 2-core machine, where req/s and CPU time move by 5-10% from one
# run to the next. Use it to compare builds:
#
#   bash bench/instructions.sh                          # get.lua on this checkout's release build
#   PHASES="get.lua search_eq.lua" bash bench/instructions.sh
#   SPOKE_BIN=/tmp/spoke-before bash bench/instructions.sh   # another build, same store and load
#
# It builds release, seeds RECORDS contacts (default 20,000: callgrind runs ~50x slower) into a
# temporary store with the real server, restarts the server under callgrind with instrumentation
# off, lets its start-up and warm-up pass, drives each phase with wrk for WARM seconds, then
# counts COUNTED seconds more and prints the server's instructions (all threads) per request. Write
# phases (patch.lua, batch_upsert.lua) vary by a few percent: whether the applier's run falls
# inside the window decides how much of its work is counted. Needs valgrind and wrk.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RECORDS=${RECORDS:-20000}
PHASES=${PHASES:-get.lua}
WARM=${WARM:-5}
COUNTED=${COUNTED:-10}
PORT=${PORT:-18095}

command -v valgrind >/dev/null || { echo "valgrind is needed (apt-get install valgrind)" >&2; exit 1; }
command -v wrk >/dev/null || { echo "wrk is needed (apt-get install wrk)" >&2; exit 1; }
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
if [ -z "${SPOKE_BIN:-}" ]; then
    cargo build --release -p spoke-server -p spoke-bench >&2
    SPOKE_BIN="$BIN/spoke"
else
    cargo build --release -p spoke-bench >&2
fi

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spoke-instr.XXXXXX")
SERVER=""
cleanup() {
    if [ -n "$SERVER" ] && kill -0 "$SERVER" 2>/dev/null; then
        kill -TERM "$SERVER" 2>/dev/null || true
        wait "$SERVER" 2>/dev/null || true
    fi
    rm -rf "$WORK"
}
trap cleanup EXIT
URL="http://127.0.0.1:$PORT"
TOKEN=bench-token

wait_listening() {
    for _ in $(seq 1 300); do
        grep -q "listening" "$1" && return 0
        sleep 0.5
    done
    echo "the server did not start (see $1)" >&2
    exit 1
}

# The store, seeded by the server itself (not under valgrind).
RUST_LOG=warn "$SPOKE_BIN" serve --listen "127.0.0.1:$PORT" --data-dir "$WORK/data" \
    --token "$TOKEN" >"$WORK/seed-server.log" 2>&1 &
SERVER=$!
wait_listening "$WORK/seed-server.log"
"$BIN/seed" --base-url "$URL" --token "$TOKEN" --records "$RECORDS" --concurrency 4 \
    --out "$WORK/seed-data.txt" | grep '^SEED ' >&2
kill -TERM "$SERVER"
wait "$SERVER" || true

for phase in $PHASES; do
    cp -r "$WORK/data" "$WORK/run"
    RUST_LOG=warn valgrind --tool=callgrind --instr-atstart=no \
        --callgrind-out-file="$WORK/callgrind.out" "$SPOKE_BIN" serve \
        --listen "127.0.0.1:$PORT" --data-dir "$WORK/run" --token "$TOKEN" \
        >"$WORK/server.log" 2>&1 &
    SERVER=$!
    wait_listening "$WORK/server.log"
    # The record cache's warm-up runs uninstrumented (fast) before the count starts.
    sleep 5
    wrk -t1 -c4 -d"${WARM}s" -s "bench/wrk/$phase" "$URL" -- "$TOKEN" "$WORK/seed-data.txt" \
        >/dev/null 2>&1
    callgrind_control -i on "$SERVER" >/dev/null 2>&1
    result=$(wrk -t1 -c4 -d"${COUNTED}s" -s "bench/wrk/$phase" "$URL" -- "$TOKEN" \
        "$WORK/seed-data.txt" 2>&1 | grep BENCH_RESULT)
    callgrind_control -i off "$SERVER" >/dev/null 2>&1
    callgrind_control -d "$SERVER" >/dev/null 2>&1
    kill -TERM "$SERVER"
    wait "$SERVER" || true
    SERVER=""
    requests=$(sed 's/.*requests=\([0-9]*\).*/\1/' <<<"$result")
    dump=$(ls -S "$WORK"/callgrind.out* | head -1)
    total=$(callgrind_annotate "$dump" 2>/dev/null |
        awk '/PROGRAM TOTALS/ && !found { gsub(",", "", $1); print $1; found = 1 }')
    echo "INSTRUCTIONS phase=$phase requests=$requests instructions=$total per_request=$((total / requests))"
    rm -rf "$WORK/run" "$WORK"/callgrind.out*
done
