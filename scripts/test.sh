#!/usr/bin/env bash
# The ONE test command of this project:  bash scripts/test.sh [extra cargo test args]
#
# Needs: root on Debian 12 with the packages postgresql (15), rabbitmq-server,
# curl and procps installed (.ci/run installs them), and a Rust toolchain.
# It starts a private PostgreSQL (127.0.0.1:5433) and RabbitMQ (127.0.0.1:5673,
# management 127.0.0.1:15673) with scripts/test-infra.sh, exports the MS_TEST_*
# variables, runs `cargo test --workspace --locked`, and stops the services again at the
# end (set MS_TEST_KEEP_INFRA=1 to leave them running).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

# shellcheck disable=SC2329  # invoked by the EXIT trap
cleanup() {
    if [ "${MS_TEST_KEEP_INFRA:-0}" = 1 ]; then
        echo "[test] MS_TEST_KEEP_INFRA=1: leaving test infrastructure running" >&2
    else
        bash scripts/test-infra.sh down || echo "[test] WARNING: test-infra down failed" >&2
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# The control room's tests run here too: units, pane snapshots, the load engine, the queue
# probe against the test RabbitMQ. Its tests against a running Docker stack are behind the
# feature `tui/stack-tests` (see README) and are not part of this command yet.
started=$SECONDS
phase() { echo "[test] $(date -u +%H:%M:%S) +$((SECONDS - started))s $*" >&2; }

# The broker and database boot (mostly waiting) while the tests compile (mostly CPU).
phase "starting test infrastructure in the background; building the tests"
infra_log=$(mktemp)
bash scripts/test-infra.sh up >"$infra_log" 2>&1 &
infra_pid=$!
build_status=0
cargo test --workspace --locked --no-run "$@" || build_status=$?
infra_status=0
wait "$infra_pid" || infra_status=$?
cat "$infra_log" >&2
rm -f "$infra_log"
if [ "$build_status" != 0 ]; then
    phase "the tests did not build (status $build_status)"
    exit "$build_status"
fi
if [ "$infra_status" != 0 ]; then
    phase "the test infrastructure did not start (status $infra_status)"
    exit "$infra_status"
fi
eval "$(bash scripts/test-infra.sh env)"

phase "running the tests"
status=0
# Each test starts several service processes; on 2 cores more than 3 at once starves them.
export RUST_TEST_THREADS=${RUST_TEST_THREADS:-3}
cargo test --workspace --locked --no-fail-fast "$@" || status=$?
phase "cargo test exited with status $status"
exit "$status"
