#!/usr/bin/env bash
# The ONE test command of this project:  bash scripts/test.sh [extra cargo test args]
#
# Needs: root on Debian 12 with postgresql (15), rabbitmq-server, curl, procps, a running
# Docker engine with docker-compose (v1) or `docker compose` (v2), and mmdebstrap (.ci/run
# installs all of it and starts dockerd), plus a Rust toolchain.
#
# Three phases, each timed, every failure loud (the exit status is non-zero if any failed):
#  1. build   `cargo test --workspace --locked --no-run`: the ONE build; everything below
#             reuses it (target/debug/ms-service goes into the service image, the stack
#             commands run from target/debug).
#  2. service tests against a private PostgreSQL (127.0.0.1:5433) and RabbitMQ
#             (127.0.0.1:5673, management 15673) from scripts/test-infra.sh: all tests except
#             those that need the Docker stack (module `on_the_running_stack`), then the
#             infrastructure stops (MS_TEST_KEEP_INFRA=1 leaves it running).
#  3. Docker stack: the images (the service image from target/debug/ms-service; RabbitMQ and
#             PostgreSQL built offline from Debian packages, when missing), the stack up with
#             the code of `ms-tui up`, the end-to-end tests (test targets `stack_*`), then the
#             stack down (MS_TEST_KEEP_STACK=1 leaves it up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# Tests that need the running Docker stack live in `mod on_the_running_stack` of test targets
# named `stack_*`: phase 2 skips them, phase 3 runs them.
STACK_MODULE=on_the_running_stack::
STACK_TARGETS='stack_*'

log() { printf '[test] %s\n' "$*" >&2; }
timed() {
    local began=$SECONDS status=0
    "$@" || status=$?
    log "$(printf '%q ' "$@")-> status $status in $((SECONDS - began)) s"
    return "$status"
}

infra_up=0
stack_up=0
# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
    if [ "$stack_up" = 1 ]; then
        if [ "${MS_TEST_KEEP_STACK:-0}" = 1 ]; then
            log "MS_TEST_KEEP_STACK=1: leaving the Docker stack up"
        else
            timed "$STACK" down || log "WARNING: stack down failed"
        fi
    fi
    if [ "$infra_up" = 1 ]; then
        if [ "${MS_TEST_KEEP_INFRA:-0}" = 1 ]; then
            log "MS_TEST_KEEP_INFRA=1: leaving test infrastructure running"
        else
            bash scripts/test-infra.sh down || log "WARNING: test-infra down failed"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Fail before the long build, not after it, when Docker is missing.
if ! docker info >/dev/null 2>&1; then
    log "ERROR: no Docker engine answers (start dockerd; .ci/run does)"
    exit 1
fi

log "phase 1: build"
timed cargo test --workspace --locked --no-run

# `ms-tui up|down` once the control room's command line takes the stack options; until then
# the `stack` example, which calls the same library functions (built by phase 1).
STACK=target/debug/examples/stack
if target/debug/ms-tui up --help 2>/dev/null | grep -q -- '--service-binary'; then
    STACK=target/debug/ms-tui
fi
[ -x "$STACK" ] || { log "ERROR: $STACK was not built"; exit 1; }

status=0
log "phase 2: service tests on the private test infrastructure"
infra_up=1
timed bash scripts/test-infra.sh up
eval "$(bash scripts/test-infra.sh env)"
# Each test starts several service processes; on 2 cores more than 3 at once starves them.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-3}
timed cargo test --workspace --locked --no-fail-fast "$@" -- --skip "$STACK_MODULE" || status=$?
if [ "${MS_TEST_KEEP_INFRA:-0}" != 1 ]; then
    infra_up=0
    bash scripts/test-infra.sh down || log "WARNING: test-infra down failed"
fi

log "phase 3: the Docker stack"
stack_up=1
export MS_SERVICE_BINARY=target/debug/ms-service
if timed "$STACK" up --offline --build --timeout 600; then
    export MS_STACK_ROOT=$PWD
    timed cargo test --workspace --locked --no-fail-fast --test "$STACK_TARGETS" "$@" ||
        status=$?
    timed "$STACK" status || true
else
    status=1
    log "ERROR: the stack did not come up; its containers:"
    "$STACK" status || true
fi

log "all phases done: exit status $status"
exit "$status"
