#!/usr/bin/env bash
# Spoke's benchmark: the one command is `bash bench/run.sh` (see bench/README.md).
#
# Builds release, starts `spoke` on a temporary store, seeds BENCH_RECORDS contacts through
# batch/create, then measures each phase with wrk, interleaved with a storage-free echo server
# built on the same HTTP stack (the baseline), ROUNDS times; restarts spoke with
# `--durability full` for the full-durability PATCH phase; walks the whole list; and writes
# bench/RESULTS.md with the commit measured. Every phase is bounded in time. Everything it
# starts is stopped on exit and its temporary directory removed.
#
# It does all that once per store, SQLite (embedded, the default) then PostgreSQL (a private
# cluster started by scripts/postgres.sh, or SPOKE_TEST_DATABASE_URL's server), and writes both
# reports into bench/RESULTS.md.
#
# Knobs (environment): BACKENDS ("sqlite postgres"), BENCH_RECORDS (1000000), PHASE_SECONDS (10), ROUNDS (3),
# CONNECTIONS (64), SEED_CONCURRENCY (8), UPSERT_NEW_PERCENT (10), LISTWALK_SECONDS (120),
# SEED_SECONDS (1800), PHASES (all phases, space-separated subset e.g. "get patch"),
# RESULTS (bench/RESULTS.md), SPOKE_BIN (measure this spoke binary instead of building one).
set -euo pipefail

BENCH_RECORDS=${BENCH_RECORDS:-1000000}
PHASE_SECONDS=${PHASE_SECONDS:-10}
ROUNDS=${ROUNDS:-3}
CONNECTIONS=${CONNECTIONS:-64}
SEED_CONCURRENCY=${SEED_CONCURRENCY:-8}
UPSERT_NEW_PERCENT=${UPSERT_NEW_PERCENT:-10}
LISTWALK_SECONDS=${LISTWALK_SECONDS:-120}
SEED_SECONDS=${SEED_SECONDS:-1800}
PHASES=${PHASES:-get patch search-eq batch-read batch-upsert search-range search-query search-under-writes patch-full}
export UPSERT_NEW_PERCENT

cd "$(dirname "${BASH_SOURCE[0]}")/.."
ROOT=$(pwd)
RESULTS=${RESULTS:-bench/RESULTS.md}

# --- one run per store, one results file -------------------------------------------------
if [ -z "${BENCH_BACKEND:-}" ]; then
    # Each store's raw measurements and report are kept in target/bench/ (REPORT_ONLY=1 rebuilds
    # RESULTS.md from them, e.g. after editing an analysis file).
    # (Beside the results file when it is not the default one, so a trial run never replaces
    # the parts of the last full run.)
    PARTS="${CARGO_TARGET_DIR:-$ROOT/target}/bench"
    if [ "$RESULTS" != bench/RESULTS.md ]; then PARTS="${RESULTS%.md}-parts"; fi
    mkdir -p "$PARTS"
    for backend in ${BACKENDS:-sqlite postgres}; do
        if [ -n "${REPORT_ONLY:-}" ]; then
            analysis="$ROOT/bench/ANALYSIS.md"
            if [ "$backend" = postgres ]; then analysis="$ROOT/bench/ANALYSIS-postgres.md"; fi
            "${CARGO_TARGET_DIR:-$ROOT/target}/release/bench-report" --raw "$PARTS/$backend.raw" \
                --out "$PARTS/$backend.md" --analysis "$analysis"
        else
            BENCH_BACKEND=$backend RESULTS="$PARTS/$backend.md" bash "$ROOT/bench/run.sh"
        fi
    done
    PREVIOUS=$(mktemp)
    if [ -f "$RESULTS" ]; then cp "$RESULTS" "$PREVIOUS"; fi
    {
        echo "# Spoke benchmark results"
        echo
        echo "Written by \`bash bench/run.sh\` (see [README.md](README.md)); do not edit by hand. One"
        echo "section per store: the same phases, seeded the same way, each with its own echo baseline"
        echo "measured in the same run."
        # Every store with a part, not only those measured now: a run of one store keeps the
        # other's last section.
        for backend in sqlite postgres; do
            [ -f "$PARTS/$backend.md" ] || continue
            case $backend in
            sqlite) title="SQLite store (embedded, the default)" ;;
            postgres) title="PostgreSQL store (\`--database-url\`)" ;;
            *) title=$backend ;;
            esac
            echo
            echo "## $title"
            # Each part's own title goes; its headings move one level down.
            tail -n +2 "$PARTS/$backend.md" | sed -e 's/^#/##/' -e '/^Written by `bash bench\/run.sh`/d'
        done
        # A store with no part here (a fresh clone, say) keeps its section of the last report.
        for backend in sqlite postgres; do
            [ -f "$PARTS/$backend.md" ] && continue
            case $backend in
            sqlite) title="SQLite store (embedded, the default)" ;;
            *) title="PostgreSQL store (\`--database-url\`)" ;;
            esac
            awk -v t="## $title" '$0 == t { keep = 1; print ""; print; next } keep && /^## / { keep = 0 } keep' "$PREVIOUS"
        done
    } >"$RESULTS.new"
    mv "$RESULTS.new" "$RESULTS"
    rm -f "$PREVIOUS"
    echo "[bench] wrote $RESULTS" >&2
    exit 0
fi
WRK_DIR="$ROOT/bench/wrk"

log() { printf '[bench %s] %s\n' "$(date +%H:%M:%S)" "$*" >&2; }
die() {
    log "error: $*"
    exit 1
}

WORK=$(mktemp -d "${TMPDIR:-/tmp}/spoke-bench.XXXXXX")
PIDS=()
cleanup() {
    local pid
    for pid in "${PIDS[@]+"${PIDS[@]}"}"; do
        if kill -0 "$pid" 2>/dev/null; then
            kill -TERM "$pid" 2>/dev/null || true
            wait "$pid" 2>/dev/null || true
        fi
    done
    if [ -n "${PG_STARTED:-}" ]; then SPOKE_PG_DIR="$WORK/pg" bash "$ROOT/scripts/postgres.sh" stop >&2 || true; fi
    rm -rf "$WORK"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# --- wrk ---------------------------------------------------------------------------------
if ! command -v wrk >/dev/null 2>&1; then
    log "installing wrk (Debian package)"
    SUDO=""
    if [ "$(id -u)" -ne 0 ]; then SUDO=sudo; fi
    $SUDO apt-get install -y wrk >/dev/null ||
        { $SUDO apt-get update >/dev/null && $SUDO apt-get install -y wrk >/dev/null; } ||
        die "cannot install wrk; install it (apt-get install wrk) and run again"
fi

# --- build -------------------------------------------------------------------------------
BIN="${CARGO_TARGET_DIR:-$ROOT/target}/release"
if [ -n "${SPOKE_BIN:-}" ]; then
    log "building release (spoke-bench); measuring the given SPOKE_BIN"
    cargo build --release -p spoke-bench >&2
else
    log "building release (spoke-server, spoke-bench)"
    cargo build --release -p spoke-server -p spoke-bench >&2
    SPOKE_BIN="$BIN/spoke"
fi
for b in "$SPOKE_BIN" "$BIN/echo-server" "$BIN/seed" "$BIN/listwalk" "$BIN/bench-report"; do
    [ -x "$b" ] || die "missing $b after the build"
done

TOKEN="pat-na1-bench-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')"
DATA_DIR="$WORK/data"

# --- the store ---------------------------------------------------------------------------
STORE_ARGS=(--data-dir "$DATA_DIR")
if [ "$BENCH_BACKEND" = postgres ]; then
    PG_STARTED=1
    PG_SERVER=$(SPOKE_PG_DIR="$WORK/pg" bash "$ROOT/scripts/postgres.sh" start) || die "cannot start PostgreSQL"
    PG_DB="spoke_bench_$(date +%s)_$$"
    psql "$PG_SERVER" -qc "CREATE DATABASE $PG_DB" >&2 || die "cannot create database $PG_DB"
    STORE_ARGS=(--database-url "${PG_SERVER%/*}/$PG_DB")
    log "store: PostgreSQL database $PG_DB"
fi
SEED_DATA="$WORK/seed-data.txt"
RAW="$WORK/raw.txt"
: >"$RAW"
CLK_TCK=$(getconf CLK_TCK)

now_ns() { date +%s%N; }

# wait_line FILE PATTERN PID: waits (≤ 30 s) until FILE has a line matching PATTERN.
wait_line() {
    local file=$1 pattern=$2 pid=$3 i
    for ((i = 0; i < 3000; i++)); do
        if grep -q "$pattern" "$file" 2>/dev/null; then return 0; fi
        kill -0 "$pid" 2>/dev/null || die "process $pid exited before listening: $(tail -5 "$file" "$file.err" 2>/dev/null)"
        sleep 0.01
    done
    die "no '$pattern' from process $pid within 30 s"
}

# start_spoke DURABILITY: sets SPOKE_PID, SPOKE_URL, STARTUP_MS.
start_spoke() {
    local out="$WORK/spoke-$1.out" t0
    t0=$(now_ns)
    RUST_LOG=warn "$SPOKE_BIN" serve --listen 127.0.0.1:0 "${STORE_ARGS[@]}" \
        --token "$TOKEN" --durability "$1" >"$out" 2>"$out.err" &
    SPOKE_PID=$!
    PIDS+=("$SPOKE_PID")
    wait_line "$out" '^spoke listening on http://' "$SPOKE_PID"
    STARTUP_MS=$((($(now_ns) - t0) / 1000000))
    SPOKE_URL=$(sed -n 's/^spoke listening on \(http:[^ ]*\).*/\1/p' "$out")
    log "spoke ($1) listening on $SPOKE_URL after $STARTUP_MS ms (pid $SPOKE_PID)"
}

# stop_pid PID: SIGTERM (graceful shutdown), wait, and forget it.
stop_pid() {
    local keep=() p
    kill -TERM "$1" 2>/dev/null || true
    wait "$1" 2>/dev/null || true
    for p in "${PIDS[@]+"${PIDS[@]}"}"; do [ "$p" = "$1" ] || keep+=("$p"); done
    PIDS=("${keep[@]+"${keep[@]}"}")
}

start_echo() {
    local out="$WORK/echo.out"
    "$BIN/echo-server" --listen 127.0.0.1:0 >"$out" 2>"$out.err" &
    ECHO_PID=$!
    PIDS+=("$ECHO_PID")
    wait_line "$out" '^echo listening on http://' "$ECHO_PID"
    ECHO_URL=$(sed -n 's/^echo listening on \(http:[^ ]*\).*/\1/p' "$out")
    log "echo baseline listening on $ECHO_URL (pid $ECHO_PID)"
}

rss_kib() { awk -v k="${2:-VmRSS}:" '$1 == k { print $2 }' "/proc/$1/status"; }
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$1/stat"; }
metric() { echo "METRIC name=$1 value=$2" >>"$RAW"; }
field() { sed -n "s/.*[[:space:]]$2=\([^[:space:]]*\).*/\1/p" <<<" $1"; }

wrk_run() { # SCRIPT URL CONNECTIONS SECONDS [env...]
    local script=$1 url=$2 conns=$3 secs=$4
    shift 4
    env "$@" wrk -t1 -c"$conns" -d"${secs}s" --timeout 10s -s "$WRK_DIR/$script" "$url" \
        -- "$TOKEN" "$SEED_DATA" 2>&1
}

declare -A NOT_IMPLEMENTED=()
declare -A PROBED=()

# probe PHASE SCRIPT URL: one short single-connection run that counts statuses; a phase whose
# responses are all 501 is reported as not implemented and skipped.
probe() {
    local phase=$1 script=$2 url=$3 out line statuses
    [ -n "${PROBED[$phase]:-}" ] && return 0
    PROBED[$phase]=1
    out=$(wrk_run "$script" "$url" 1 1 BENCH_PROBE=1) || true
    line=$(grep '^BENCH_PROBE ' <<<"$out" || true)
    [ -n "$line" ] || die "probe of $phase failed: $out"
    statuses=$(field "$line" statuses)
    echo "PROBE phase=$phase ${line#BENCH_PROBE }" >>"$RAW"
    if [ -n "$statuses" ] && [ -z "$(tr ',' '\n' <<<"$statuses" | grep -v '^501:' || true)" ]; then
        NOT_IMPLEMENTED[$phase]=1
        echo "NI phase=$phase" >>"$RAW"
        log "$phase: not implemented (501)"
    elif tr ',' '\n' <<<"$statuses" | grep -qv '^2'; then
        log "$phase: WARNING non-2xx in the probe (statuses $statuses): ${line#*first_error=}"
    fi
}

# machine_busy_ticks: CPU time the whole machine has spent busy (user, system, interrupts).
machine_busy_ticks() { awk '$1 == "cpu" { print $2 + $3 + $4 + $7 + $8 + $9 }' /proc/stat; }

# wait_idle: waits (≤ 60 s) until the machine used under 10 % of one core for half a second.
# When wrk stops, the server still works through the requests it had accepted (64 searches of
# a slow phase are seconds of CPU), SQLite's checkpointer copies back what a write phase left
# and PostgreSQL runs its background work; a phase started at once would pay for all that.
wait_idle() {
    local i b0 b1
    for ((i = 0; i < 120; i++)); do
        b0=$(machine_busy_ticks)
        sleep 0.5
        b1=$(machine_busy_ticks)
        if (((b1 - b0) * 100 < 10 * CLK_TCK / 2)); then return 0; fi
    done
    log "WARNING: the machine is still busy 60 s after the phase"
}

# mixed_phase NAME SCRIPT LOAD URL ROUND: SCRIPT on one connection while LOAD runs on
# CONNECTIONS: searches while PATCHes stream in, which is what read-your-writes costs a search
# that SQLite answers (it waits for the writes acknowledged before it). Informative; no server
# CPU per request (the load's requests are in it).
mixed_phase() {
    local name=$1 script=$2 load=$3 url=$4 round=$5 out line loadpid
    probe "$name" "$script" "$url"
    [ -n "${NOT_IMPLEMENTED[$name]:-}" ] && return 0
    wrk_run "$load" "$url" "$CONNECTIONS" $((PHASE_SECONDS + 2)) >"$WORK/wrk-$name-load-$round.log" 2>&1 &
    loadpid=$!
    sleep 1
    out=$(wrk_run "$script" "$url" 1 "$PHASE_SECONDS") || true
    wait "$loadpid" || true
    line=$(grep '^BENCH_RESULT ' <<<"$out" || true)
    [ -n "$line" ] || die "wrk failed in phase $name: $out"
    echo "$out" >"$WORK/wrk-$name-$round.log"
    echo "PHASE phase=$name round=$round ${line#BENCH_RESULT }" >>"$RAW"
    awk -v n="$name" -v r="$round" -v rps="$(field "$line" rps)" -v p50="$(field "$line" p50_us)" \
        -v p99="$(field "$line" p99_us)" -v bad="$(field "$line" non2xx)" \
        'BEGIN { printf "[bench] round %s  %-14s %9.1f req/s  p50 %7.2f ms  p99 %7.2f ms  (under %s)%s\n",
                 r, n, rps, p50 / 1000, p99 / 1000, "PATCH load", (bad > 0 ? "  FLAGGED: " bad " non-2xx" : "") }' >&2
    wait_idle
}

# phase NAME SCRIPT URL PID ROUND: one measured wrk run.
phase() {
    local name=$1 script=$2 url=$3 pid=$4 round=$5 c0 c1 out line req cpu
    probe "$name" "$script" "$url"
    [ -n "${NOT_IMPLEMENTED[$name]:-}" ] && return 0
    c0=$(cpu_ticks "$pid")
    out=$(wrk_run "$script" "$url" "$CONNECTIONS" "$PHASE_SECONDS") || true
    c1=$(cpu_ticks "$pid")
    line=$(grep '^BENCH_RESULT ' <<<"$out" || true)
    [ -n "$line" ] || die "wrk failed in phase $name: $out"
    echo "$out" >"$WORK/wrk-$name-$round.log"
    req=$(field "$line" requests)
    cpu=$(awk -v t=$((c1 - c0)) -v hz="$CLK_TCK" -v r="$req" 'BEGIN { if (r > 0) printf "%.1f", t * 1e6 / hz / r; else print 0 }')
    echo "PHASE phase=$name round=$round ${line#BENCH_RESULT } cpu_us_per_req=$cpu" >>"$RAW"
    awk -v n="$name" -v r="$round" -v rps="$(field "$line" rps)" -v p50="$(field "$line" p50_us)" \
        -v p99="$(field "$line" p99_us)" -v bad="$(field "$line" non2xx)" -v cpu="$cpu" \
        'BEGIN { printf "[bench] round %s  %-14s %9.0f req/s  p50 %7.2f ms  p99 %7.2f ms  cpu %6s us/req%s\n",
                 r, n, rps, p50 / 1000, p99 / 1000, cpu, (bad > 0 ? "  FLAGGED: " bad " non-2xx" : "") }' >&2
    wait_idle
}

# store_size WHEN: the SQLite store's files on disk, and its WAL on its own (PostgreSQL: none).
store_size() {
    [ -f "$DATA_DIR/spoke.sqlite3" ] || return 0
    metric "store_${1}_kib" "$(du -sk "$DATA_DIR" | cut -f1)"
    metric "wal_${1}_kib" "$(($(stat -c %s "$DATA_DIR/spoke.sqlite3-wal" 2>/dev/null || echo 0) / 1024))"
}

wants() { [[ " $PHASES " == *" $1 "* ]]; }

# --- metadata ----------------------------------------------------------------------------
COMMIT=$(git rev-parse --short HEAD 2>/dev/null || echo unknown)
# (The results file itself does not count: neither this store's part nor the combined report.)
if [ -n "$(git status --porcelain -- . ":!$RESULTS" ":!bench/RESULTS.md" 2>/dev/null)" ]; then COMMIT="$COMMIT (dirty)"; fi
if [ "$SPOKE_BIN" != "$BIN/spoke" ]; then COMMIT="a given SPOKE_BIN; harness at $COMMIT"; fi
{
    echo "META commit=$COMMIT"
    echo "META date=$(date -u '+%Y-%m-%d %H:%M UTC')"
    echo "META cpus=$(nproc)"
    echo "META cpu_model=$(sed -n 's/^model name[[:space:]]*: //p' /proc/cpuinfo | head -1)"
    echo "META mem=$(awk '/^MemTotal/ { printf "%.0f GiB", $2 / 1048576 }' /proc/meminfo)"
    echo "META kernel=$(uname -r)"
    echo "META wrk=$(wrk -v 2>&1 | head -1 | awk '{ print $1, $2 }')"
    echo "META rustc=$(rustc --version 2>/dev/null || echo rustc)"
    echo "META store=$BENCH_BACKEND"
    if [ "$BENCH_BACKEND" = postgres ]; then echo "META postgres=$(psql "$PG_SERVER" -Atc 'show server_version'), server on the same 2 cores; its CPU is not in the server CPU column"; fi
    echo "META records=$BENCH_RECORDS"
    echo "META rounds=$ROUNDS"
    echo "META phase_seconds=$PHASE_SECONDS"
    echo "META connections=$CONNECTIONS"
    echo "META upsert_new_percent=$UPSERT_NEW_PERCENT"
    cmd="bash bench/run.sh"
    for v in BENCH_RECORDS PHASE_SECONDS ROUNDS CONNECTIONS PHASES; do
        if printenv "$v" >/dev/null; then cmd="$v=\"${!v}\" $cmd"; fi
    done
    echo "META command=$cmd"
} >>"$RAW"

# --- start, seed -------------------------------------------------------------------------
start_echo
start_spoke process
metric startup_empty_ms "$STARTUP_MS"

log "seeding $BENCH_RECORDS contacts ($SEED_CONCURRENCY connections, at most $SEED_SECONDS s)"
seed_out=$(timeout "$SEED_SECONDS" "$BIN/seed" --base-url "$SPOKE_URL" --token "$TOKEN" \
    --records "$BENCH_RECORDS" --concurrency "$SEED_CONCURRENCY" --out "$SEED_DATA") ||
    die "seeding failed or exceeded $SEED_SECONDS s"
grep '^SEED ' <<<"$seed_out" >>"$RAW"
log "$(grep '^SEED ' <<<"$seed_out")"
metric rss_after_seed_kib "$(rss_kib "$SPOKE_PID")"
store_size after_seed

# --- phases, interleaved with the baseline ----------------------------------------------
for ((round = 1; round <= ROUNDS; round++)); do
    log "round $round of $ROUNDS"
    if wants get; then
        phase echo-get get.lua "$ECHO_URL" "$ECHO_PID" "$round"
        phase get get.lua "$SPOKE_URL" "$SPOKE_PID" "$round"
    fi
    if wants patch; then
        phase echo-patch patch.lua "$ECHO_URL" "$ECHO_PID" "$round"
        phase patch patch.lua "$SPOKE_URL" "$SPOKE_PID" "$round"
    fi
    if wants search-eq || wants batch-read || wants batch-upsert || wants search-range || wants search-query; then
        phase echo-search search_eq.lua "$ECHO_URL" "$ECHO_PID" "$round"
    fi
    if wants search-eq; then phase search-eq search_eq.lua "$SPOKE_URL" "$SPOKE_PID" "$round"; fi
    if wants batch-read; then phase batch-read batch_read.lua "$SPOKE_URL" "$SPOKE_PID" "$round"; fi
    if wants batch-upsert; then phase batch-upsert batch_upsert.lua "$SPOKE_URL" "$SPOKE_PID" "$round"; fi
    if wants search-range; then phase search-range search_range.lua "$SPOKE_URL" "$SPOKE_PID" "$round"; fi
    if wants search-query; then phase search-query search_query.lua "$SPOKE_URL" "$SPOKE_PID" "$round"; fi
    if wants search-under-writes; then
        mixed_phase search-under-writes search_range.lua patch.lua "$SPOKE_URL" "$round"
    fi
done
metric rss_after_phases_kib "$(rss_kib "$SPOKE_PID")"
metric hwm_after_phases_kib "$(rss_kib "$SPOKE_PID" VmHWM)"
store_size after_phases

# --- full durability: same store, restarted ----------------------------------------------
stop_pid "$SPOKE_PID"
start_spoke full
metric startup_populated_ms "$STARTUP_MS"
if wants patch-full; then
    for ((round = 1; round <= ROUNDS; round++)); do
        log "full durability, round $round of $ROUNDS"
        phase echo-patch-f patch.lua "$ECHO_URL" "$ECHO_PID" "$round"
        phase patch-full patch.lua "$SPOKE_URL" "$SPOKE_PID" "$round"
    done
fi

# --- list walk ---------------------------------------------------------------------------
log "list walk (at most $LISTWALK_SECONDS s)"
walk_out=$("$BIN/listwalk" --base-url "$SPOKE_URL" --token "$TOKEN" --max-seconds "$LISTWALK_SECONDS") ||
    walk_out="LISTWALK status=error"
grep '^LISTWALK ' <<<"$walk_out" >>"$RAW" || true
log "$walk_out"
metric rss_end_kib "$(rss_kib "$SPOKE_PID")"

stop_pid "$SPOKE_PID"
stop_pid "$ECHO_PID"

# --- report ------------------------------------------------------------------------------
ANALYSIS="$ROOT/bench/ANALYSIS.md"
if [ "$BENCH_BACKEND" = postgres ]; then ANALYSIS="$ROOT/bench/ANALYSIS-postgres.md"; fi
cp "$RAW" "${RESULTS%.md}.raw"
"$BIN/bench-report" --raw "$RAW" --out "$RESULTS" --analysis "$ANALYSIS"
log "wrote $RESULTS"
