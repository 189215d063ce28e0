#!/usr/bin/env bash
# The ONE test command of this project:  bash scripts/test.sh [extra cargo test args]
#
# Needs: Debian 12 as root and a Rust toolchain with clippy and rustfmt. The system packages
# (scripts/packages.sh holds the list) are installed here when missing; not as root, the
# script stops at once with the command that installs them. Phase 3 also needs a Docker
# engine: as root, dockerd is started here when none answers.
#
# Three phases, each timed; every failure is loud and the exit status is non-zero if any
# phase failed:
#  1. gates and build: `cargo fmt --check`; scripts/k8s-validate.sh; `cargo test --workspace --features
#             tui/stack-tests --no-run`, the ONE build. Everything below reuses it:
#             target/debug/ms-service goes into the service image, target/debug/ms-tui
#             brings the stack up. Then `cargo clippy --all-targets -- -D warnings` on the
#             same features (its own check of every dependency: cargo does not reuse a
#             build for a check). Meanwhile, in the background, the private PostgreSQL and
#             RabbitMQ boot and, with MS_TEST_STACK=1, the offline RabbitMQ/PostgreSQL
#             images and the monitoring profile's Prometheus/postgres-exporter images are
#             built from Debian's packages when missing. A format or lint
#             failure fails the run but does not stop the tests.
#  2. tests against the private PostgreSQL (127.0.0.1:5433) and RabbitMQ (127.0.0.1:5673,
#             management 15673) of scripts/test-infra.sh: every test except those in a
#             `mod on_the_running_stack`; then that infrastructure stops
#             (MS_TEST_KEEP_INFRA=1 leaves it running).
#  3. the Docker stack, when MS_TEST_STACK=1 (otherwise the script says loudly that it did
#             not run; .ci/run sets it, and MS_TEST_STACK_START_BY, a Unix time after which
#             the phase is skipped, loudly, rather than run CI past its limit on a slow
#             machine): `ms-tui up --offline --build` (the very code users run), then
#             scripts/fuzz.sh (schemathesis from every service's OpenAPI spec, ≤ 8 min), then
#             the tests that drive it, one at a time (they stop and kill its containers): the
#             seed READMEs on both port ranges and the gateway, outages, the control room
#             against the real engine and in tmux; then `ms-tui down`
#             (MS_TEST_KEEP_STACK=1 leaves it up).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/packages.sh
source scripts/packages.sh

STACK_MODULE=on_the_running_stack::
FEATURES=(--features tui/stack-tests)
MS_TUI=target/debug/ms-tui

started=$SECONDS
phase() { echo "[test] $(date -u +%H:%M:%S) +$((SECONDS - started))s $*" >&2; }

infra_up=0
stack_up=0
# shellcheck disable=SC2317,SC2329  # invoked by the EXIT trap (the code differs by version)
cleanup() {
    if [ "$stack_up" = 1 ]; then
        if [ "${MS_TEST_KEEP_STACK:-0}" = 1 ]; then
            phase "MS_TEST_KEEP_STACK=1: leaving the Docker stack up"
        else
            "$MS_TUI" down || phase "WARNING: ms-tui down failed"
        fi
    fi
    if [ "$infra_up" = 1 ]; then
        if [ "${MS_TEST_KEEP_INFRA:-0}" = 1 ]; then
            phase "MS_TEST_KEEP_INFRA=1: leaving the test infrastructure running"
        else
            bash scripts/test-infra.sh down || phase "WARNING: test-infra down failed"
        fi
    fi
}
trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

# Phase 3 is opt-in locally (it brings up the `ms-tui` compose project, replacing the service
# image); CI opts in.
STACK=${MS_TEST_STACK:-0}
# Fail before the long build, not after it, when a package, Docker or a cargo tool is missing.
ensure_packages || exit 1
ensure_docker || exit 1
ensure_python_tools || exit 1
if ! cargo fmt --version >/dev/null 2>&1 || ! cargo clippy --version >/dev/null 2>&1; then
    phase "ERROR: cargo fmt and cargo clippy are needed: rustup component add rustfmt clippy"
    exit 1
fi

status=0
phase "phase 1: format, build, lints; the test infrastructure and the offline images in the background"
infra_up=1
infra_log=$(mktemp)
bash scripts/test-infra.sh up >"$infra_log" 2>&1 &
infra_pid=$!
images_log=$(mktemp)
if [ "$STACK" = 1 ]; then
    # The monitoring profile's too: stack_monitoring brings it up on the offline path.
    { bash compose/images/build.sh infra && bash compose/images/build.sh monitoring; } >"$images_log" 2>&1 &
else
    true &
fi
images_pid=$!
if ! cargo fmt --all -- --check; then
    status=1
    phase "ERROR: cargo fmt --check: the code above is not formatted (cargo fmt --all fixes it)"
fi
# The Kubernetes overlays, rendered and validated offline (20-40 s): a failure fails the run.
if ! bash scripts/k8s-validate.sh; then
    status=1
    phase "ERROR: scripts/k8s-validate.sh: the Kubernetes manifests above do not validate"
fi
build_status=0
cargo test --workspace --locked "${FEATURES[@]}" --no-run "$@" || build_status=$?
phase "build exited with status $build_status"
# After the build, while the infrastructure and the images may still be booting: clippy checks
# every dependency again (cargo never reuses a build for a check), about 210 CPU-seconds, so
# some 2 min on 2 idle cores; a re-run after an edit takes seconds. Linting inside the build
# (clippy-driver as RUSTC_WORKSPACE_WRAPPER) would save that, but the binaries under test would
# then come from clippy-driver, which is not meant to replace rustc.
if [ "$build_status" = 0 ]; then
    clippy_status=0
    cargo clippy --workspace --all-targets --locked "${FEATURES[@]}" -- -D warnings ||
        clippy_status=$?
    phase "clippy exited with status $clippy_status"
    if [ "$clippy_status" != 0 ]; then
        status=1
        phase "ERROR: clippy: lint failures above"
    fi
fi
infra_status=0
wait "$infra_pid" || infra_status=$?
cat "$infra_log" >&2
images_status=0
wait "$images_pid" || images_status=$?
cat "$images_log" >&2
rm -f "$infra_log" "$images_log"
phase "test infrastructure: status $infra_status; offline images: status $images_status"
if [ "$build_status" != 0 ]; then
    phase "ERROR: the tests did not build"
    exit "$build_status"
fi
if [ "$infra_status" != 0 ]; then
    phase "ERROR: the test infrastructure did not start"
    exit "$infra_status"
fi

phase "phase 2: tests on the private test infrastructure"
eval "$(bash scripts/test-infra.sh env)"
# Each test starts several service processes; on a slow 2-core host 3 at once starved them
# (services not ready within 60 s while the test broker timed out connections).
RUST_TEST_THREADS=${RUST_TEST_THREADS:-2} \
    cargo test --workspace --locked "${FEATURES[@]}" --no-fail-fast "$@" -- --skip "$STACK_MODULE" ||
    status=$?
phase "phase 2: cargo test exited with status $status"
if [ "${MS_TEST_KEEP_INFRA:-0}" != 1 ]; then
    # Its idle broker costs a core's worth of stalls the stack's own broker needs.
    infra_up=0
    bash scripts/test-infra.sh down || phase "WARNING: test-infra down failed"
fi

if [ "$STACK" != 1 ]; then
    phase "phase 3 (the Docker stack and the control room's end-to-end tests) NOT RUN: set MS_TEST_STACK=1"
    phase "all phases done: exit status $status"
    exit "$status"
fi
if [ -n "${MS_TEST_STACK_START_BY:-}" ] && [ "$(date +%s)" -gt "$MS_TEST_STACK_START_BY" ]; then
    phase "phase 3 (the Docker stack) NOT RUN: phases 1-2 ended after MS_TEST_STACK_START_BY ($(date -u -d "@$MS_TEST_STACK_START_BY" +%H:%M:%S)); this machine is too slow to boot and test the stack within CI's time limit"
    phase "all phases done: exit status $status"
    exit "$status"
fi
phase "phase 3: the Docker stack"
if [ "$images_status" != 0 ]; then
    phase "ERROR: the offline RabbitMQ/PostgreSQL images did not build (log above)"
    exit 1
fi
stack_up=1
export MS_SERVICE_BINARY=target/debug/ms-service
if "$MS_TUI" up --offline --build --timeout 600; then
    export MS_STACK_ROOT=$PWD
    # First, while every service is fresh and healthy (the tests below kill and stop them):
    # any 5xx is then a bug, not an outage.
    fuzz_status=0
    bash scripts/fuzz.sh || fuzz_status=$?
    phase "phase 3: the fuzz run from the OpenAPI specs exited with status $fuzz_status"
    [ "$fuzz_status" = 0 ] || status=$fuzz_status
    stack_status=0
    # Same packages and features as the build: nothing is compiled again.
    RUST_TEST_THREADS=1 cargo test --workspace --locked "${FEATURES[@]}" --no-fail-fast \
        --test it "$@" -- "$STACK_MODULE" || stack_status=$?
    phase "phase 3: cargo test exited with status $stack_status"
    [ "$stack_status" = 0 ] || status=$stack_status
    "$MS_TUI" status || true
else
    status=1
    phase "ERROR: the stack did not come up; its containers:"
    "$MS_TUI" status || true
fi

phase "all phases done: exit status $status"
exit "$status"
