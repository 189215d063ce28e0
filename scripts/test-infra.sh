#!/usr/bin/env bash
# Private test infrastructure for the test suite: a throw-away PostgreSQL 15
# cluster and a throw-away RabbitMQ node, both on NON-standard ports, both
# listening on 127.0.0.1 only, with all their state under one directory.
#
#   scripts/test-infra.sh up     start both (idempotent), wait until they answer
#   scripts/test-infra.sh down   stop both (idempotent)
#   scripts/test-infra.sh env    print `export MS_TEST_...=...` lines (eval them)
#   scripts/test-infra.sh status report whether each one answers
#
# Needs (Debian 12): postgresql (postgresql-15), rabbitmq-server, curl, procps; run as root
# (PostgreSQL itself is run as the `postgres` OS user via runuser).
# State dir: ${MS_TEST_STATE:-/tmp/ms-test-infra}   (pg/ and rabbit/ below it)
#
# Ports used: PostgreSQL 5433, AMQP 5673, management HTTP 15673, Erlang
# distribution 25673 (and epmd 4369, bound to 127.0.0.1 when we start it).
# The standard ports 5432/5672/15672 are left free: if Debian's own `15 main`
# cluster or the system RabbitMQ node are running, `up` stops them.
set -euo pipefail

STATE="${MS_TEST_STATE:-/tmp/ms-test-infra}"
case "$STATE" in /*) ;; *) STATE="$PWD/$STATE" ;; esac
if [[ "$STATE" =~ [[:space:]] ]]; then
    echo "test-infra: MS_TEST_STATE must not contain whitespace: '$STATE'" >&2
    exit 2
fi

TIMEOUT="${MS_TEST_INFRA_TIMEOUT:-180}"  # seconds, per wait (RabbitMQ boots slowly on slow VMs)

USER_NAME=mstest
USER_PASS=mstest-pass

# --- PostgreSQL -------------------------------------------------------------
PG_BIN=/usr/lib/postgresql/15/bin
PG_PORT=5433
PG_DIR="$STATE/pg"
PG_DATA="$PG_DIR/data"
PG_SOCK="$PG_DIR/sock"
PG_LOG="$PG_DIR/postgres.log"

# --- RabbitMQ ---------------------------------------------------------------
RMQ_BIN=/usr/lib/rabbitmq/bin
RMQ_NODE=mstest@localhost
RMQ_PORT=5673
RMQ_MGMT_PORT=15673
RMQ_DIST_PORT=25673
RMQ_DIR="$STATE/rabbit"
RMQ_HOME="$RMQ_DIR/home"              # holds .erlang.cookie for node AND rabbitmqctl
RMQ_ENV_FILE="$RMQ_DIR/rabbitmq-env.conf"
RMQ_LOG_DIR="$RMQ_DIR/log"
RMQ_PID_FILE="$RMQ_DIR/rabbitmq.pid"
RMQ_STARTUP_LOG="$RMQ_LOG_DIR/startup.log"
# The exact command prefix that controls our node (no systemd, no /etc/rabbitmq).
RMQ_CTL="env HOME=$RMQ_HOME RABBITMQ_CONF_ENV_FILE=$RMQ_ENV_FILE $RMQ_BIN/rabbitmqctl -n $RMQ_NODE"

AMQP_URL="amqp://$USER_NAME:$USER_PASS@127.0.0.1:$RMQ_PORT/%2f"
RABBIT_API="http://127.0.0.1:$RMQ_MGMT_PORT"
DATABASE_URL="postgres://$USER_NAME:$USER_PASS@127.0.0.1:$PG_PORT/postgres"

log()  { printf '[test-infra] %s\n' "$*" >&2; }
die()  { printf '[test-infra] ERROR: %s\n' "$*" >&2; exit 1; }

tail_log() { # file [lines]
    if [ -f "$1" ]; then
        printf '[test-infra] ---- last %s lines of %s ----\n' "${2:-40}" "$1" >&2
        tail -n "${2:-40}" "$1" >&2 || true
        printf '[test-infra] ---- end of %s ----\n' "$1" >&2
    else
        printf '[test-infra] (no log file %s)\n' "$1" >&2
    fi
}

# Run as the postgres OS user, from a directory it can read.
as_pg() { (cd / && runuser -u postgres -- "$@"); }

rmqctl() { # rabbitmqctl against OUR node; word-splitting of RMQ_CTL is intended
    # shellcheck disable=SC2086
    (cd / && timeout 60 $RMQ_CTL "$@")
}

port_open() { timeout 2 bash -c ">/dev/tcp/127.0.0.1/$1" 2>/dev/null; }

# ---------------------------------------------------------------------------
check_prereqs() {
    local missing=()
    [ "$(id -u)" = 0 ] || die "must run as root (PostgreSQL is started via 'runuser -u postgres')"
    [ -x "$PG_BIN/postgres" ] || missing+=("$PG_BIN/postgres (Debian package: postgresql-15, via 'postgresql')")
    [ -x "$PG_BIN/initdb" ]   || missing+=("$PG_BIN/initdb (Debian package: postgresql-15, via 'postgresql')")
    [ -x "$PG_BIN/pg_ctl" ]   || missing+=("$PG_BIN/pg_ctl (Debian package: postgresql-15, via 'postgresql')")
    [ -x "$PG_BIN/psql" ]     || missing+=("$PG_BIN/psql (Debian package: postgresql-client-15, via 'postgresql')")
    id postgres >/dev/null 2>&1 || missing+=("OS user 'postgres' (Debian package: postgresql-common, via 'postgresql')")
    [ -x "$RMQ_BIN/rabbitmq-server" ] || missing+=("$RMQ_BIN/rabbitmq-server (Debian package: rabbitmq-server)")
    [ -x "$RMQ_BIN/rabbitmqctl" ]     || missing+=("$RMQ_BIN/rabbitmqctl (Debian package: rabbitmq-server)")
    command -v erl  >/dev/null 2>&1 || missing+=("erl (Debian package: erlang-base, dependency of rabbitmq-server)")
    command -v curl >/dev/null 2>&1 || missing+=("curl (Debian package: curl)")
    command -v runuser >/dev/null 2>&1 || missing+=("runuser (Debian package: util-linux)")
    command -v ps >/dev/null 2>&1      || missing+=("ps (Debian package: procps)")
    command -v pgrep >/dev/null 2>&1   || missing+=("pgrep (Debian package: procps)")
    if [ "${#missing[@]}" -gt 0 ]; then
        printf '[test-infra] ERROR: missing prerequisites:\n' >&2
        printf '[test-infra]   - %s\n' "${missing[@]}" >&2
        printf '[test-infra] install with: apt-get install -y postgresql rabbitmq-server curl procps\n' >&2
        exit 1
    fi
}

# --- health checks -----------------------------------------------------------
pg_healthy() {
    [ "$(PGPASSWORD=$USER_PASS PGCONNECT_TIMEOUT=3 "$PG_BIN/psql" -X -w -qtA \
        "host=127.0.0.1 port=$PG_PORT user=$USER_NAME dbname=postgres" \
        -c 'select 1' 2>/dev/null)" = 1 ]
}

# Real AMQP 0-9-1 handshake: send the protocol header, expect a method frame
# (type 0x01, i.e. connection.start) back.
amqp_healthy() {
    local first
    first=$(timeout 5 bash -c '
        exec 3<>/dev/tcp/127.0.0.1/'"$RMQ_PORT"' || exit 1
        printf "AMQP\x00\x00\x09\x01" >&3
        head -c 1 <&3 | od -An -tx1' 2>/dev/null) || return 1
    [ "${first//[[:space:]]/}" = 01 ]
}

mgmt_healthy() {
    [ "$(curl -s -o /dev/null -w '%{http_code}' --max-time 5 \
        -u "$USER_NAME:$USER_PASS" "$RABBIT_API/api/overview" 2>/dev/null)" = 200 ]
}

rabbit_healthy() { amqp_healthy && mgmt_healthy && rmq_user_ok; }

alive() { # pid is running (a zombie does not count: PID 1 may not reap here)
    local st
    st=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
    [ -n "$st" ] && [ "${st#Z}" = "$st" ]
}

rmq_pid() { # pid of our beam process, if alive
    local pid
    [ -s "$RMQ_PID_FILE" ] || return 1
    pid=$(cat "$RMQ_PID_FILE" 2>/dev/null) || return 1
    [[ "$pid" =~ ^[0-9]+$ ]] && alive "$pid" && echo "$pid"
}

pg_running() {
    [ -f "$PG_DATA/PG_VERSION" ] && as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" status >/dev/null 2>&1
}

# --- system services shipped by the Debian packages -------------------------
stop_system_services() {
    # Debian clusters (e.g. `15 main` on 5432): stop any online one on a port
    # we need free (5432) or use ourselves (5433).
    if command -v pg_lsclusters >/dev/null 2>&1; then
        local ver name port status
        while read -r ver name port status _; do
            if [ "$status" = online ] && { [ "$port" = 5432 ] || [ "$port" = "$PG_PORT" ]; }; then
                log "stopping Debian PostgreSQL cluster '$ver $name' (port $port) so that port stays free"
                pg_ctlcluster "$ver" "$name" stop -m fast || die "could not stop Debian cluster '$ver $name'"
            fi
        done < <(pg_lsclusters -h 2>/dev/null || true)
    fi
    # System RabbitMQ node (rabbit@<host>, port 5672).
    local sysnode
    sysnode="rabbit@$(hostname -s)"
    if port_open 5672 || pgrep -u rabbitmq -f "beam.*-sname $sysnode" >/dev/null 2>&1 \
        || pgrep -u rabbitmq -f "beam.*rabbit" >/dev/null 2>&1; then
        log "stopping the system RabbitMQ node $sysnode (port 5672 must stay free)"
        # /usr/sbin/rabbitmqctl su's to the rabbitmq user, whose cookie matches.
        (cd / && env -u RABBITMQ_CONF_ENV_FILE timeout 60 /usr/sbin/rabbitmqctl -n "$sysnode" stop) >/dev/null 2>&1 \
            || (cd / && timeout 60 /etc/init.d/rabbitmq-server stop) >/dev/null 2>&1 || true
        for _ in $(seq 1 20); do port_open 5672 || break; sleep 1; done
        if port_open 5672; then
            log "WARNING: something still listens on 127.0.0.1:5672 (not our node); leaving it alone"
        fi
    fi
    if port_open 5432; then
        log "WARNING: something still listens on 127.0.0.1:5432 (not our cluster); leaving it alone"
    fi
}

# --- PostgreSQL -------------------------------------------------------------
pg_start() {
    mkdir -p "$STATE"
    chmod 755 "$STATE"
    mkdir -p "$PG_DIR" "$PG_SOCK"
    chown postgres:postgres "$PG_DIR" "$PG_SOCK"
    chmod 700 "$PG_DIR" "$PG_SOCK"

    if ! pg_running; then
        # Same reasoning as for RabbitMQ: a cold start gets an empty cluster, so
        # databases left by killed runs never pile up.
        rm -rf "$PG_DATA"
    fi
    if [ ! -f "$PG_DATA/PG_VERSION" ]; then
        log "postgres: initdb into $PG_DATA"
        rm -rf "$PG_DATA"
        as_pg "$PG_BIN/initdb" -D "$PG_DATA" -U postgres --encoding=UTF8 --locale=C.UTF-8 \
            --auth-local=trust --auth-host=scram-sha-256 >"$PG_DIR/initdb.log" 2>&1 \
            || { tail_log "$PG_DIR/initdb.log"; die "postgres: initdb failed"; }
        echo "include 'ms-test.conf'" >>"$PG_DATA/postgresql.conf"
    fi
    # (Re)written on every start so changes here take effect on existing state.
    cat >"$PG_DATA/ms-test.conf" <<EOF
# written by scripts/test-infra.sh
listen_addresses = '127.0.0.1'
port = $PG_PORT
unix_socket_directories = '$PG_SOCK'
max_connections = 300
password_encryption = 'scram-sha-256'
EOF
    if [ "${MS_TEST_PG_DURABLE:-0}" != 1 ]; then
        # Throw-away data: durability is not under test, and on slow CI disks every commit's
        # fsync made the concurrent-saga tests several times slower. Benchmarks want the real
        # thing: MS_TEST_PG_DURABLE=1 keeps PostgreSQL's defaults.
        printf '%s\n' 'fsync = off' 'synchronous_commit = off' 'full_page_writes = off' \
            >>"$PG_DATA/ms-test.conf"
    fi
    chown postgres:postgres "$PG_DATA/ms-test.conf"

    if pg_running; then
        log "postgres: already running (but not answering as $USER_NAME yet)"
    else
        if port_open "$PG_PORT"; then
            die "port $PG_PORT is already taken by something else; cannot start postgres"
        fi
        log "postgres: starting on 127.0.0.1:$PG_PORT (log: $PG_LOG)"
        touch "$PG_LOG"; chown postgres:postgres "$PG_LOG"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -l "$PG_LOG" -w -t "$TIMEOUT" start >/dev/null \
            || { tail_log "$PG_LOG"; die "postgres: pg_ctl start failed"; }
    fi

    log "postgres: ensuring SUPERUSER role $USER_NAME"
    as_pg "$PG_BIN/psql" -X -q -v ON_ERROR_STOP=1 -h "$PG_SOCK" -p "$PG_PORT" -U postgres -d postgres <<EOF \
        || { tail_log "$PG_LOG"; die "postgres: could not create role $USER_NAME"; }
DO \$\$
BEGIN
  IF NOT EXISTS (SELECT FROM pg_roles WHERE rolname = '$USER_NAME') THEN
    CREATE ROLE $USER_NAME LOGIN SUPERUSER;
  END IF;
END
\$\$;
ALTER ROLE $USER_NAME WITH LOGIN SUPERUSER PASSWORD '$USER_PASS';
EOF
}

pg_wait() {
    local deadline=$((SECONDS + TIMEOUT))
    until pg_healthy; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            tail_log "$PG_LOG"
            die "postgres: no answer to 'select 1' as $USER_NAME on 127.0.0.1:$PG_PORT after ${TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "postgres: OK ($DATABASE_URL)"
}

pg_stop() {
    if pg_running; then
        log "postgres: stopping (pg_ctl stop -m fast)"
        as_pg "$PG_BIN/pg_ctl" -D "$PG_DATA" -m fast -w -t "$TIMEOUT" stop >/dev/null \
            || { tail_log "$PG_LOG"; die "postgres: pg_ctl stop failed"; }
    else
        log "postgres: not running"
    fi
}

# --- RabbitMQ ---------------------------------------------------------------
rmq_write_config() {
    mkdir -p "$RMQ_DIR" "$RMQ_HOME" "$RMQ_LOG_DIR" "$RMQ_DIR/mnesia"
    chmod 700 "$RMQ_DIR" "$RMQ_HOME"
    if [ ! -s "$RMQ_HOME/.erlang.cookie" ]; then
        # Erlang insists on an owner-only cookie file.
        (umask 077; head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n' | tr 'a-f' 'A-F' \
            >"$RMQ_HOME/.erlang.cookie")
    fi
    chmod 400 "$RMQ_HOME/.erlang.cookie"

    # Replaces /etc/rabbitmq/rabbitmq-env.conf for both the node and rabbitmqctl.
    cat >"$RMQ_ENV_FILE" <<EOF
# written by scripts/test-infra.sh -- private RabbitMQ test node
NODENAME=$RMQ_NODE
DIST_PORT=$RMQ_DIST_PORT
MNESIA_BASE=$RMQ_DIR/mnesia
LOG_BASE=$RMQ_LOG_DIR
CONFIG_FILE=$RMQ_DIR/rabbitmq.conf
ADVANCED_CONFIG_FILE=$RMQ_DIR/advanced.config
ENABLED_PLUGINS_FILE=$RMQ_DIR/enabled_plugins
PID_FILE=$RMQ_PID_FILE
ERL_EPMD_ADDRESS=127.0.0.1
# Erlang's schedulers spin while idle: measured 30 % of a core on an idle test node, taken
# from the compiler and the services under test on a 2-core host.
SERVER_ADDITIONAL_ERL_ARGS="+sbwt none +sbwtdcpu none +sbwtdio none"
EOF
    cat >"$RMQ_DIR/rabbitmq.conf" <<EOF
# written by scripts/test-infra.sh
listeners.tcp.1 = 127.0.0.1:$RMQ_PORT
management.tcp.ip = 127.0.0.1
management.tcp.port = $RMQ_MGMT_PORT
# used only when the node boots with an empty database (replaces guest/guest)
default_vhost = /
default_user = $USER_NAME
default_pass = $USER_PASS
default_user_tags.administrator = true
default_permissions.configure = .*
default_permissions.read = .*
default_permissions.write = .*
# CI disks can be small/full-ish; don't block publishers on the default limit
disk_free_limit.absolute = 10MB
EOF
    # Keep the Erlang distribution listener on loopback too.
    cat >"$RMQ_DIR/advanced.config" <<EOF
[{kernel, [{inet_dist_use_interface, {127,0,0,1}}]}].
EOF
    echo '[rabbitmq_management].' >"$RMQ_DIR/enabled_plugins"
}

RMQ_LAUNCH_PID=
rmq_start() {
    rmq_write_config
    if rmq_pid >/dev/null; then
        log "rabbitmq: node process already running (pid $(rmq_pid)); making sure the app is started"
        rmqctl start_app >/dev/null 2>&1 || true
        return 0
    fi
    local p
    for p in "$RMQ_PORT" "$RMQ_MGMT_PORT" "$RMQ_DIST_PORT"; do
        port_open "$p" && die "port $p is already taken by something else; cannot start rabbitmq"
    done
    rm -f "$RMQ_PID_FILE"
    # A cold start begins from an empty database: vhosts left behind by killed
    # test runs are recovered one by one at boot (57 queues each), which once
    # pushed the boot past the timeout. Nothing in here is worth keeping.
    rm -rf "$RMQ_DIR/mnesia"
    mkdir -p "$RMQ_DIR/mnesia"
    log "rabbitmq: starting node $RMQ_NODE on 127.0.0.1:$RMQ_PORT, management 127.0.0.1:$RMQ_MGMT_PORT (logs: $RMQ_LOG_DIR)"
    (cd / && exec setsid env HOME="$RMQ_HOME" RABBITMQ_CONF_ENV_FILE="$RMQ_ENV_FILE" \
        "$RMQ_BIN/rabbitmq-server" >>"$RMQ_STARTUP_LOG" 2>&1 </dev/null) &
    RMQ_LAUNCH_PID=$!
    disown || true
}

rmq_fail() {
    tail_log "$RMQ_STARTUP_LOG" 30
    tail_log "$RMQ_LOG_DIR/$RMQ_NODE.log" 40
    die "$*"
}

# mstest is an administrator with full permissions on "/" (the permissions
# endpoint is only readable by administrators).
rmq_user_ok() {
    local body
    body=$(curl -sf --max-time 5 -u "$USER_NAME:$USER_PASS" \
        "$RABBIT_API/api/permissions/%2F/$USER_NAME" 2>/dev/null) || return 1
    [ "$(echo "$body" | grep -o '"\(configure\|write\|read\)":"\.\*"' | wc -l)" = 3 ]
}

rmq_wait() {
    # Polls with cheap probes: every rabbitmqctl call boots an Erlang VM (seconds).
    local deadline=$((SECONDS + TIMEOUT))
    until amqp_healthy && port_open "$RMQ_MGMT_PORT"; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            rmq_fail "rabbitmq: node $RMQ_NODE did not open 127.0.0.1:$RMQ_PORT (AMQP) and 127.0.0.1:$RMQ_MGMT_PORT (HTTP) within ${TIMEOUT}s"
        fi
        if [ -n "$RMQ_LAUNCH_PID" ] && ! alive "$RMQ_LAUNCH_PID"; then
            rmq_fail "rabbitmq: node process exited during startup"
        fi
        sleep 0.5
    done
    # The user is created by default_user on a fresh database; fix it up with
    # rabbitmqctl only if it is missing or wrong (e.g. an older state dir).
    if ! rmq_user_ok; then
        log "rabbitmq: ensuring user $USER_NAME (administrator, full permissions on /)"
        if ! rmqctl -q add_user "$USER_NAME" "$USER_PASS" >/dev/null 2>&1; then
            rmqctl -q change_password "$USER_NAME" "$USER_PASS" >/dev/null \
                || rmq_fail "rabbitmq: could not create/update user $USER_NAME"
        fi
        rmqctl -q set_user_tags "$USER_NAME" administrator >/dev/null \
            || rmq_fail "rabbitmq: set_user_tags failed"
        rmqctl -q set_permissions -p / "$USER_NAME" '.*' '.*' '.*' >/dev/null \
            || rmq_fail "rabbitmq: set_permissions failed"
    fi
    until amqp_healthy && mgmt_healthy && rmq_user_ok; do
        if [ "$SECONDS" -ge "$deadline" ]; then
            amqp_healthy || log "rabbitmq: AMQP port 127.0.0.1:$RMQ_PORT does not answer"
            mgmt_healthy || log "rabbitmq: $RABBIT_API/api/overview does not return 200 for $USER_NAME"
            rmq_user_ok  || log "rabbitmq: $USER_NAME is not an administrator with full permissions on /"
            rmq_fail "rabbitmq: not healthy after ${TIMEOUT}s"
        fi
        sleep 0.5
    done
    log "rabbitmq: OK ($AMQP_URL, $RABBIT_API)"
}

rmq_stop() {
    local pid
    if pid=$(rmq_pid); then
        log "rabbitmq: stopping node $RMQ_NODE (pid $pid)"
        if ! rmqctl -q stop "$RMQ_PID_FILE" >/dev/null 2>&1; then
            log "rabbitmq: rabbitmqctl stop failed; sending SIGTERM to pid $pid"
            kill -TERM "$pid" 2>/dev/null || true
        fi
        for _ in $(seq 1 "$TIMEOUT"); do alive "$pid" || break; sleep 1; done
        if alive "$pid"; then
            log "rabbitmq: still alive after ${TIMEOUT}s; SIGKILL pid $pid"
            kill -KILL "$pid" 2>/dev/null || true
        fi
        rm -f "$RMQ_PID_FILE"
    else
        log "rabbitmq: not running"
    fi
    # Free epmd (4369) too, if no other Erlang node is registered with it.
    if command -v epmd >/dev/null 2>&1 && ! epmd -names 2>/dev/null | grep -q '^name '; then
        epmd -kill >/dev/null 2>&1 || true
    fi
}

# ---------------------------------------------------------------------------
cmd_up() {
    check_prereqs
    local t0=$SECONDS pg_ok=0 rmq_ok=0
    pg_healthy && pg_ok=1
    rabbit_healthy && rmq_ok=1
    stop_system_services
    if [ "$pg_ok" = 1 ] && [ "$rmq_ok" = 1 ]; then
        log "already up and healthy (state: $STATE)"
        return 0
    fi
    log "state dir: $STATE"
    [ "$rmq_ok" = 1 ] || rmq_start        # slow boot, runs in the background ...
    if [ "$pg_ok" = 1 ]; then             # ... while postgres starts
        log "postgres: already up"
    else
        pg_start
        pg_wait
    fi
    if [ "$rmq_ok" = 1 ]; then log "rabbitmq: already up"; else rmq_wait; fi
    log "up in $((SECONDS - t0))s"
}

cmd_down() {
    check_prereqs
    rmq_stop
    pg_stop
    log "down"
}

cmd_status() {
    local rc=0
    if pg_healthy; then log "postgres: up ($DATABASE_URL)"; else log "postgres: DOWN"; rc=1; fi
    if amqp_healthy; then log "rabbitmq AMQP: up ($AMQP_URL)"; else log "rabbitmq AMQP: DOWN"; rc=1; fi
    if mgmt_healthy; then log "rabbitmq management: up ($RABBIT_API)"; else log "rabbitmq management: DOWN"; rc=1; fi
    return "$rc"
}

cmd_env() {
    printf "export MS_TEST_AMQP_URL='%s'\n" "$AMQP_URL"
    printf "export MS_TEST_RABBIT_API='%s'\n" "$RABBIT_API"
    printf "export MS_TEST_RABBIT_USER='%s'\n" "$USER_NAME"
    printf "export MS_TEST_RABBIT_PASS='%s'\n" "$USER_PASS"
    printf "export MS_TEST_RABBITMQCTL='%s'\n" "$RMQ_CTL"
    printf "export MS_TEST_DATABASE_URL='%s'\n" "$DATABASE_URL"
}

case "${1:-}" in
    up)     cmd_up ;;
    down)   cmd_down ;;
    env)    cmd_env ;;
    status) cmd_status ;;
    *)      echo "usage: $0 up|down|env|status" >&2; exit 2 ;;
esac
