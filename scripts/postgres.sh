#!/usr/bin/env bash
# Private, throwaway PostgreSQL for the test suite, listening on loopback only.
#
# Usage:
#   bash scripts/postgres.sh start   # print a connection URL on stdout (creating a cluster if needed)
#   bash scripts/postgres.sh stop    # stop and delete the cluster this script created (if any)
#   bash scripts/postgres.sh url     # print the URL of the running cluster; exit 1 if there is none
#
# Only the URL ever goes to stdout; every log line goes to stderr, so callers can write
#   SPOKE_TEST_DATABASE_URL="$(bash scripts/postgres.sh start)"
#
# `start`:
#   1. If SPOKE_TEST_DATABASE_URL is set and answers `select 1`, print it and create nothing.
#   2. Find initdb/pg_ctl/postgres (Debian's /usr/lib/postgresql/<ver>/bin, newest first, then
#      PATH); if absent, install Debian's `postgresql` packages with apt-get. Debian's package
#      may create and start a system cluster ("main", port 5432): this script never touches it.
#   3. Reuse a cluster already running in the state directory, or remove a stale one.
#   4. initdb a fresh cluster (superuser "spoke", trust auth, UTF8, C collation (byte order) and a C.UTF-8 ctype (Unicode lower() and regex classes) so that string
#      ordering is byte order) and start it on a free port of 127.0.0.1.
#      PostgreSQL refuses to run as root, so as root the server runs as the `postgres` system
#      user (created if missing).
#
# State directory: ${SPOKE_PG_DIR:-<repo>/target/postgres}. Files kept there:
#   url                 connection URL of the running cluster
#   port                its TCP port
#   datadir             path of the cluster's data directory (normally <statedir>/data; under
#                       /tmp when the state directory is not reachable by the `postgres` user)
#   rundir              only in the /tmp fallback: the mktemp directory holding data dir and log
#   runas               user the server runs as
#   bindir              directory of the server binaries used
#   owns-statedir       present when this script created the state directory itself
#   postgres.log        server log (a symlink to the real log in the /tmp fallback)
#   installed-packages  informational: this script apt-installed PostgreSQL (kept by `stop`,
#                       since the packages stay installed)
set -euo pipefail

SCRIPT_DIR="$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd -P)"
REPO_DIR="$(cd "$SCRIPT_DIR/.." && pwd -P)"
STATE_DIR="${SPOKE_PG_DIR:-$REPO_DIR/target/postgres}"

DB_USER=spoke              # superuser created by initdb; also the user in the URL
DB_NAME=postgres           # database named in the URL
FIRST_PORT=55432           # start of the port scan used when python3 is unavailable
READY_TIMEOUT=30           # seconds to wait for the server to accept connections

log() { printf 'postgres.sh: %s\n' "$*" >&2; }
die() { log "error: $*"; exit 1; }

# Make STATE_DIR absolute (SPOKE_PG_DIR may be relative) without creating it.
case "$STATE_DIR" in
    /*) ;;
    *) STATE_DIR="$PWD/$STATE_DIR" ;;
esac
STATE_DIR="${STATE_DIR%/}"
[[ -n "$STATE_DIR" ]] || die "refusing to use / as the state directory"

# Globals filled in by the functions below.
BIN_DIR=""     # directory holding initdb, pg_ctl and postgres
RUN_AS=""      # user that owns the cluster and runs the server
DATA_DIR=""    # cluster data directory
RUN_DIR=""     # /tmp fallback directory (empty when the state directory is used directly)
LOG_FILE=""    # server log file

# ---------------------------------------------------------------------------------------------
# Helpers
# ---------------------------------------------------------------------------------------------

# Read a one-line state file; prints nothing if it does not exist.
state_get() {
    local f="$STATE_DIR/$1"
    if [[ -f "$f" ]]; then
        head -n 1 "$f"
    fi
}

state_put() { printf '%s\n' "$2" >"$STATE_DIR/$1"; }

# Run a command as $RUN_AS, from / (the postgres user may not be allowed into the current
# directory). File descriptor 9 (the state-directory lock, see take_lock) is closed so that a
# server started by pg_ctl does not inherit it and keep the lock for its whole lifetime.
run_pg() {
    if [[ "$RUN_AS" == "$(id -un)" ]]; then
        (cd / && "$@") 9>&-
    elif command -v runuser >/dev/null 2>&1; then
        (cd / && runuser -u "$RUN_AS" -- "$@") 9>&-
    else
        (cd / && su -s /bin/bash "$RUN_AS" -c "$(printf '%q ' "$@")") 9>&-
    fi
}

# A PostgreSQL client program (psql, pg_isready): from BIN_DIR when known, else from PATH.
client() {
    local name="$1"
    if [[ -n "$BIN_DIR" && -x "$BIN_DIR/$name" ]]; then
        printf '%s\n' "$BIN_DIR/$name"
    elif command -v "$name" >/dev/null 2>&1; then
        command -v "$name"
    else
        local d
        for d in $(server_bin_candidates); do
            if [[ -x "$d/$name" ]]; then
                printf '%s\n' "$d/$name"
                return 0
            fi
        done
        return 1
    fi
}

# `select 1` through the given URL, quietly; succeeds if the server answers.
url_works() {
    local psql
    psql="$(client psql)" || return 1
    [[ "$(PGCONNECT_TIMEOUT=5 "$psql" "$1" -Atc 'select 1' 2>/dev/null)" == 1 ]]
}

# Serialise concurrent invocations on the same state directory (flock on the directory
# itself, so no extra lock file is left behind). Skipped if flock(1) is unavailable.
take_lock() {
    if command -v flock >/dev/null 2>&1 && [[ -d "$STATE_DIR" ]]; then
        exec 9<"$STATE_DIR"
        if ! flock -w 120 9; then
            die "timed out waiting for the lock on $STATE_DIR"
        fi
    fi
}

# ---------------------------------------------------------------------------------------------
# Locating (or installing) the server binaries
# ---------------------------------------------------------------------------------------------

# Debian-style versioned directories, newest version first.
server_bin_candidates() {
    local d
    for d in /usr/lib/postgresql/*/bin; do
        [[ -d "$d" ]] && printf '%s\n' "$d"
    done | sort -t/ -k5,5 -V -r
}

has_server_bins() { [[ -x "$1/initdb" && -x "$1/pg_ctl" && -x "$1/postgres" ]]; }

find_server_bins() {
    local d p
    for d in $(server_bin_candidates); do
        if has_server_bins "$d"; then
            BIN_DIR="$d"
            return 0
        fi
    done
    # Other distributions put the server binaries on PATH; pg_ctl expects postgres beside it.
    if p="$(command -v pg_ctl 2>/dev/null)"; then
        d="$(dirname "$(readlink -f "$p")")"
        if has_server_bins "$d"; then
            BIN_DIR="$d"
            return 0
        fi
    fi
    return 1
}

install_postgres() {
    local sudo=()
    if [[ "$(id -u)" != 0 ]]; then
        command -v sudo >/dev/null 2>&1 ||
            die "PostgreSQL server binaries not found, and not root and no sudo to install them"
        sudo=(sudo)
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "PostgreSQL server binaries not found and apt-get is unavailable; install PostgreSQL"
    log "PostgreSQL server binaries not found; installing Debian's postgresql packages"
    ${sudo[@]+"${sudo[@]}"} apt-get update >&2
    ${sudo[@]+"${sudo[@]}"} env DEBIAN_FRONTEND=noninteractive \
        apt-get install -y --no-install-recommends postgresql postgresql-contrib >&2
    mkdir -p "$STATE_DIR"
    printf '%s: installed postgresql postgresql-contrib with apt-get (not removed by stop)\n' \
        "$(date -u +%Y-%m-%dT%H:%M:%SZ)" >>"$STATE_DIR/installed-packages"
    # Debian's postinst usually creates (and may start) a system cluster "main" on port 5432.
    # It is not ours: leave it exactly as it is, just mention it.
    if command -v pg_lsclusters >/dev/null 2>&1; then
        log "system clusters after installation (not used or modified by this script):"
        pg_lsclusters >&2 || true
    fi
}

# ---------------------------------------------------------------------------------------------
# Cluster lifecycle
# ---------------------------------------------------------------------------------------------

# Load what a previous `start` recorded. Returns 1 if the state directory holds no cluster.
load_state() {
    DATA_DIR="$(state_get datadir)"
    [[ -n "$DATA_DIR" ]] || return 1
    RUN_DIR="$(state_get rundir)"
    RUN_AS="$(state_get runas)"
    [[ -n "$RUN_AS" ]] || RUN_AS="$(id -un)"
    BIN_DIR="$(state_get bindir)"
    if [[ -z "$BIN_DIR" ]] || ! has_server_bins "$BIN_DIR"; then
        BIN_DIR=""
        find_server_bins || true
    fi
    return 0
}

# Is the postmaster recorded in postmaster.pid alive? A killed postmaster can linger as a
# zombie when nobody reaps it (e.g. a container whose PID 1 does not), and pg_ctl counts a
# zombie as running: `pg_ctl stop` would then wait for its full timeout. So look at /proc.
postmaster_alive() {
    local pid state
    pid="$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)"
    [[ "$pid" =~ ^[0-9]+$ ]] || return 1
    if [[ -d /proc/self ]]; then
        [[ -r "/proc/$pid/stat" ]] || return 1
        state="$(sed 's/^.*) //' "/proc/$pid/stat" 2>/dev/null | cut -d' ' -f1)"
        [[ -n "$state" && "$state" != Z ]]
    else
        return 0 # no /proc: let pg_ctl decide
    fi
}

# Is the recorded cluster running? (pg_ctl refuses to run as root, hence run_pg.)
cluster_running() {
    [[ -n "$BIN_DIR" && -f "$DATA_DIR/postmaster.pid" ]] || return 1
    postmaster_alive || return 1
    run_pg "$BIN_DIR/pg_ctl" status -D "$DATA_DIR" >/dev/null 2>&1
}

# Stop the recorded cluster (if running) and delete everything this script created for it.
# Used by `stop`, for stale clusters found by `start`, and to clean up after a failed `start`.
destroy_cluster() {
    local pid
    if [[ -n "$BIN_DIR" && -f "$DATA_DIR/postmaster.pid" ]]; then
        if cluster_running; then
            log "stopping the cluster in $DATA_DIR"
            if ! run_pg "$BIN_DIR/pg_ctl" stop -D "$DATA_DIR" -m fast -w -t 60 >&2; then
                log "fast shutdown failed; trying immediate shutdown"
                run_pg "$BIN_DIR/pg_ctl" stop -D "$DATA_DIR" -m immediate -w -t 30 >&2 || true
            fi
        fi
        # Last resort: the postmaster pid recorded by the server we started.
        pid="$(head -n 1 "$DATA_DIR/postmaster.pid" 2>/dev/null || true)"
        if [[ "$pid" =~ ^[0-9]+$ ]] && postmaster_alive &&
            grep -qs postgres "/proc/$pid/comm"; then
            log "postmaster $pid still alive; sending SIGKILL"
            kill -KILL "$pid" 2>/dev/null || true
        fi
    fi

    # Delete the data directory, but only a path that looks like ours.
    if [[ -n "$DATA_DIR" ]]; then
        if [[ "$DATA_DIR" == "$STATE_DIR/data" ||
            (-n "$RUN_DIR" && "$DATA_DIR" == "$RUN_DIR/data") ]]; then
            rm -rf -- "$DATA_DIR"
        else
            log "not deleting unexpected data directory path: $DATA_DIR"
        fi
    fi
    if [[ -n "$RUN_DIR" && "$RUN_DIR" == /tmp/spoke-pg.* ]]; then
        rm -rf -- "$RUN_DIR"
    fi
    rm -f -- "$STATE_DIR/url" "$STATE_DIR/port" "$STATE_DIR/datadir" "$STATE_DIR/rundir" \
        "$STATE_DIR/runas" "$STATE_DIR/bindir" "$STATE_DIR/postgres.log"
    DATA_DIR=""
    RUN_DIR=""
}

# Remove the state directory if this script created it and nothing else is left in it.
remove_state_dir_if_ours() {
    if [[ -f "$STATE_DIR/owns-statedir" ]]; then
        rm -f -- "$STATE_DIR/owns-statedir"
        if rmdir -- "$STATE_DIR" 2>/dev/null; then
            return 0
        fi
        touch "$STATE_DIR/owns-statedir"
        log "kept $STATE_DIR (it still contains: $(ls -A "$STATE_DIR" | tr '\n' ' '))"
    fi
}

# Can $RUN_AS write into directory $1 (which implies it can traverse all its parents)?
pg_user_can_write() {
    run_pg test -d "$1" -a -w "$1" -a -x "$1" 2>/dev/null
}

# Decide who runs the server and where its data directory and log live.
prepare_dirs() {
    if [[ "$(id -u)" == 0 ]]; then
        RUN_AS=postgres
        if ! id postgres >/dev/null 2>&1; then
            log "creating system user postgres"
            useradd --system --home-dir "$STATE_DIR" postgres
        fi
    else
        RUN_AS="$(id -un)"
    fi

    if [[ -f "$STATE_DIR/owns-statedir" && "$RUN_AS" != "$(id -un)" ]]; then
        # We created the state directory, so hand it to the server user, and make it
        # traversable so that a data directory inside it is reachable.
        chown "$RUN_AS:" "$STATE_DIR"
        chmod 0755 "$STATE_DIR"
    fi

    DATA_DIR="$STATE_DIR/data"
    LOG_FILE="$STATE_DIR/postgres.log"
    RUN_DIR=""
    # Never adopt (and later delete) something that is not ours.
    if [[ -e "$DATA_DIR" ]] && [[ ! -d "$DATA_DIR" || -n "$(ls -A "$DATA_DIR")" ]]; then
        DATA_DIR=""
        die "$STATE_DIR/data exists and is not an empty directory; remove it or set SPOKE_PG_DIR"
    fi
    mkdir -p "$DATA_DIR"
    chmod 0700 "$DATA_DIR"
    : >"$LOG_FILE"
    if [[ "$RUN_AS" != "$(id -un)" ]]; then
        chown "$RUN_AS:" "$DATA_DIR" "$LOG_FILE"
        if ! pg_user_can_write "$DATA_DIR"; then
            # Some parent of the state directory is closed to the server user (e.g. a repo
            # under /root): keep the cluster in a private directory under /tmp instead.
            rmdir -- "$DATA_DIR"
            rm -f -- "$LOG_FILE"
            RUN_DIR="$(mktemp -d /tmp/spoke-pg.XXXXXXXX)"
            chown "$RUN_AS:" "$RUN_DIR"
            chmod 0700 "$RUN_DIR"
            DATA_DIR="$RUN_DIR/data"
            LOG_FILE="$RUN_DIR/postgres.log"
            run_pg mkdir -m 0700 "$DATA_DIR"
            run_pg touch "$LOG_FILE"
            ln -s "$LOG_FILE" "$STATE_DIR/postgres.log"
            state_put rundir "$RUN_DIR"
            log "$STATE_DIR is not reachable by user $RUN_AS; using $RUN_DIR instead"
        fi
    fi
    # Record the cluster before creating it, so that `stop` (or a later `start`) can clean
    # up even if something below fails half-way.
    state_put datadir "$DATA_DIR"
    state_put runas "$RUN_AS"
    state_put bindir "$BIN_DIR"
}

# Print a TCP port that is currently free on 127.0.0.1.
pick_port() {
    local p
    if command -v python3 >/dev/null 2>&1 &&
        p="$(python3 -c 'import socket
s = socket.socket()
s.bind(("127.0.0.1", 0))
print(s.getsockname()[1])' 2>/dev/null)" && [[ "$p" =~ ^[0-9]+$ ]]; then
        printf '%s\n' "$p"
        return 0
    fi
    for ((p = FIRST_PORT; p < FIRST_PORT + 2000; p++)); do
        if command -v ss >/dev/null 2>&1 && [[ -n "$(ss -Htln "sport = :$p" 2>/dev/null)" ]]; then
            continue
        fi
        # Something accepting connections on it means it is taken.
        if (exec 3<>"/dev/tcp/127.0.0.1/$p") 2>/dev/null; then
            continue
        fi
        printf '%s\n' "$p"
        return 0
    done
    return 1
}

# Start the server on a free port; retries with another port if the chosen one got taken.
start_server() {
    local attempt port sock_dir sock_opt
    # The Unix socket goes into the data directory unless its path would be too long for a
    # socket address (108 bytes), in which case the server listens on TCP only.
    sock_dir="$DATA_DIR"
    if ((${#sock_dir} + 20 > 107)); then
        log "data directory path too long for a Unix socket; TCP only"
        sock_dir=""
    fi
    # pg_ctl hands -o to /bin/sh, hence the shell quoting of the path.
    sock_opt="-c unix_socket_directories=$(printf '%q' "$sock_dir")"
    for attempt in 1 2 3; do
        port="$(pick_port)" || die "could not find a free TCP port on 127.0.0.1"
        log "starting PostgreSQL ($BIN_DIR) as $RUN_AS on 127.0.0.1:$port, data in $DATA_DIR"
        if run_pg "$BIN_DIR/pg_ctl" -D "$DATA_DIR" -l "$LOG_FILE" -w -t 60 \
            -o "-c listen_addresses=127.0.0.1 -p $port $sock_opt -c max_connections=400 -c shared_buffers=256MB -c fsync=on -c synchronous_commit=on" \
            start >&2; then
            PORT="$port"
            return 0
        fi
        if grep -qs 'could not bind\|Address already in use' "$LOG_FILE"; then
            log "port $port was taken meanwhile (attempt $attempt); trying another"
            continue
        fi
        break
    done
    return 1
}

# Wait (bounded) until the server accepts connections and answers a query.
wait_ready() {
    local url="$1" pg_isready psql deadline=$((SECONDS + READY_TIMEOUT))
    pg_isready="$(client pg_isready)" || pg_isready=""
    while ((SECONDS < deadline)); do
        if [[ -z "$pg_isready" ]] || "$pg_isready" -q -h 127.0.0.1 -p "$PORT" -t 2; then
            if url_works "$url"; then
                return 0
            fi
        fi
        sleep 0.5
    done
    # Show why the last attempt failed.
    if psql="$(client psql)"; then
        PGCONNECT_TIMEOUT=5 "$psql" "$url" -Atc 'select 1' >&2 || true
    fi
    return 1
}

# On a failed `start`, show the end of the server log and remove the half-made cluster.
START_DONE=0
on_start_exit() {
    local rc=$?
    if [[ "$rc" != 0 && "$START_DONE" == 0 && -n "$(state_get datadir)" ]]; then
        if [[ -n "$LOG_FILE" && -s "$LOG_FILE" ]]; then
            log "start failed; last lines of $LOG_FILE:"
            tail -n 30 "$LOG_FILE" >&2 || true
        fi
        log "removing the half-created cluster"
        destroy_cluster || true
        remove_state_dir_if_ours || true
    fi
    exit "$rc"
}

# ---------------------------------------------------------------------------------------------
# Commands
# ---------------------------------------------------------------------------------------------

cmd_start() {
    # 1. An externally provided database wins.
    if [[ -n "${SPOKE_TEST_DATABASE_URL:-}" ]]; then
        if url_works "$SPOKE_TEST_DATABASE_URL"; then
            log "using SPOKE_TEST_DATABASE_URL (nothing created)"
            printf '%s\n' "$SPOKE_TEST_DATABASE_URL"
            return 0
        fi
        log "SPOKE_TEST_DATABASE_URL is set but does not answer 'select 1'; starting a private cluster"
    fi

    if [[ ! -d "$STATE_DIR" ]]; then
        mkdir -p "$STATE_DIR"
        touch "$STATE_DIR/owns-statedir"
    fi
    take_lock

    # 3. A cluster left by a previous `start`: reuse it if alive, else clean it away.
    if load_state; then
        local url
        url="$(state_get url)"
        if cluster_running && [[ -n "$url" ]] && url_works "$url"; then
            log "reusing the running cluster in $DATA_DIR"
            printf '%s\n' "$url"
            return 0
        fi
        log "removing a stale cluster left in $STATE_DIR"
        destroy_cluster
    elif [[ -f "$STATE_DIR/data/PG_VERSION" ]]; then
        # Data directory without its state files (e.g. interrupted run): remove it too.
        DATA_DIR="$STATE_DIR/data"
        RUN_AS="$(stat -c %U "$DATA_DIR")"
        find_server_bins || true
        log "removing an unrecorded cluster in $DATA_DIR"
        destroy_cluster
    fi

    # 2. Server binaries.
    BIN_DIR=""
    if ! find_server_bins; then
        install_postgres
        find_server_bins || die "PostgreSQL server binaries still not found after installing"
    fi
    log "using PostgreSQL binaries in $BIN_DIR ($("$BIN_DIR/postgres" --version))"

    trap on_start_exit EXIT

    # 4. Who runs it and where.
    prepare_dirs

    # 5. A fresh cluster; C collation so that text sorts in byte order.
    log "initdb $DATA_DIR"
    run_pg "$BIN_DIR/initdb" -D "$DATA_DIR" -U "$DB_USER" --auth=trust --encoding=UTF8 \
        --locale=C --lc-ctype=C.UTF-8 >&2

    # 6. Start it on loopback.
    PORT=""
    start_server || die "pg_ctl start failed"
    state_put port "$PORT"

    # 7. Wait until it answers.
    local url="postgres://$DB_USER@127.0.0.1:$PORT/$DB_NAME"
    wait_ready "$url" || die "server did not accept connections within ${READY_TIMEOUT}s"

    # 8. Publish the URL.
    state_put url "$url"
    START_DONE=1
    log "ready: $url"
    printf '%s\n' "$url"
}

cmd_stop() {
    if [[ ! -d "$STATE_DIR" ]]; then
        log "nothing to stop ($STATE_DIR does not exist)"
        return 0
    fi
    take_lock
    if ! load_state; then
        log "nothing to stop (no cluster recorded in $STATE_DIR)"
        return 0
    fi
    destroy_cluster
    remove_state_dir_if_ours
    log "stopped and removed"
}

cmd_url() {
    local url port pg_isready
    url="$(state_get url)"
    [[ -n "$url" ]] || { log "no cluster running (no $STATE_DIR/url)"; return 1; }
    # Make sure it is still alive (pg_isready needs no privileges, unlike pg_ctl status).
    port="$(state_get port)"
    BIN_DIR="$(state_get bindir)"
    if [[ -n "$port" ]] && pg_isready="$(client pg_isready)" &&
        ! "$pg_isready" -q -h 127.0.0.1 -p "$port" -t 3; then
        log "the cluster recorded in $STATE_DIR is not running"
        return 1
    fi
    printf '%s\n' "$url"
}

case "${1:-}" in
    start) cmd_start ;;
    stop) cmd_stop ;;
    url) cmd_url ;;
    *)
        log "usage: $0 start|stop|url"
        exit 2
        ;;
esac
