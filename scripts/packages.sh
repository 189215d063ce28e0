#!/usr/bin/env bash
# The system packages the tests need — the one list — and how a machine gets them.
#
#   bash scripts/packages.sh           install what is missing, and with MS_TEST_STACK=1 start
#                                      dockerd when no Docker engine answers (see below)
#   bash scripts/packages.sh missing   print the missing packages, one a line
#   source scripts/packages.sh         the same as functions: ensure_packages, ensure_docker,
#                                      ensure_python_tools (scripts/test.sh and .ci/run do this)
#
# As root, what is missing is installed with apt-get (Debian 12). Not as root, nothing is
# changed: the script stops at once with the missing packages and the command that installs
# them. Phases 1-2 of scripts/test.sh need PACKAGES; phase 3 (MS_TEST_STACK=1), the Docker
# stack, also STACK_PACKAGES.
set -euo pipefail

# PostgreSQL 15 and RabbitMQ: scripts/test-infra.sh runs private instances of both; psql
# (with postgresql) and curl: its probes, and the tests drop their databases and vhosts with
# them; procps: its process checks; python3-venv: the PyPI tools of scripts/python-tools.sh.
PACKAGES=(postgresql postgresql-15 rabbitmq-server curl procps ca-certificates python3-venv)
# The stack (docker-compose v1, mmdebstrap for the offline images) and tmux, in which the
# end-to-end test drives the real ms-tui.
STACK_PACKAGES=(docker.io docker-compose mmdebstrap tmux)
# socat: the remote-engine test forwards a TCP port to the local Docker socket.
STACK_PACKAGES+=(socat)
# What the tests call, by path: a package can be installed and still lack them (PostgreSQL
# other than 15, say).
BINARIES=(/usr/lib/postgresql/15/bin/postgres /usr/lib/postgresql/15/bin/initdb
          /usr/lib/rabbitmq/bin/rabbitmq-server /usr/lib/rabbitmq/bin/rabbitmqctl
          /usr/bin/psql /usr/bin/curl)
STACK_BINARIES=(/usr/sbin/dockerd /usr/bin/docker-compose /usr/bin/mmdebstrap /usr/bin/tmux
                /usr/bin/socat)

APT_OPTS=(-y -q --no-install-recommends -o DPkg::Lock::Timeout=300
          -o Dpkg::Options::=--force-confdef -o Dpkg::Options::=--force-confold)
DOCKERD_LOG=/var/log/ms-tui-dockerd.log

pkg_log() { printf '[packages] %s\n' "$*" >&2; }

stack_wanted() { [ "${MS_TEST_STACK:-0}" = 1 ]; }

wanted_packages() {
    printf '%s\n' "${PACKAGES[@]}"
    if stack_wanted; then printf '%s\n' "${STACK_PACKAGES[@]}"; fi
}

# The wanted packages dpkg does not have installed, one a line.
missing_packages() {
    local pkg
    for pkg in $(wanted_packages); do
        if [ "$(dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null || true)" != "install ok installed" ]; then
            echo "$pkg"
        fi
    done
}

missing_binaries() {
    local bin bins=("${BINARIES[@]}")
    if stack_wanted; then bins+=("${STACK_BINARIES[@]}"); fi
    for bin in "${bins[@]}"; do
        [ -x "$bin" ] || echo "$bin"
    done
}

# apt-get install, without letting Debian start its own PostgreSQL (5432) and RabbitMQ (5672)
# on install: the tests run private instances on other ports, and the standard ports must
# stay free for the Docker stack. A policy-rc.d that answers 101 forbids every service start.
install_packages() { # package...
    local policy=/usr/sbin/policy-rc.d created_policy=0 status=0
    export DEBIAN_FRONTEND=noninteractive
    pkg_log "apt-get update"
    apt-get update -q </dev/null || return
    if [ ! -e "$policy" ]; then
        printf '#!/bin/sh\nexit 101\n' >"$policy"
        chmod 755 "$policy"
        created_policy=1
    fi
    pkg_log "apt-get install $*"
    apt-get install "${APT_OPTS[@]}" "$@" </dev/null || status=$?
    if [ "$created_policy" = 1 ]; then rm -f "$policy"; fi
    if [ "$status" != 0 ]; then
        pkg_log "ERROR: apt-get install failed with status $status"
        return "$status"
    fi
}

# Every wanted package installed (as root: installs the missing ones), every binary there.
ensure_packages() {
    local missing bins
    if ! command -v dpkg-query >/dev/null 2>&1; then
        pkg_log "no dpkg here (not Debian): not checking packages; the tests need: $(wanted_packages | tr '\n' ' ')"
    else
        missing=$(missing_packages | tr '\n' ' ')
        missing=${missing% }
        if [ -n "$missing" ] && [ "$(id -u)" != 0 ]; then
            pkg_log "ERROR: missing Debian packages: $missing. Install them, then run this again:"
            pkg_log "    sudo apt-get update && sudo apt-get install -y --no-install-recommends $missing"
            pkg_log "(as root, scripts/test.sh installs them itself)"
            return 1
        fi
        if [ -n "$missing" ]; then
            # shellcheck disable=SC2086  # one package a word
            install_packages $missing || return
            missing=$(missing_packages | tr '\n' ' ')
            if [ -n "$missing" ]; then
                pkg_log "ERROR: still missing after apt-get install: $missing"
                return 1
            fi
            local pkg
            for pkg in $(wanted_packages); do
                pkg_log "  ok  $(dpkg-query -W -f='${Package} ${Version}' "$pkg")"
            done
        fi
    fi
    bins=$(missing_binaries | tr '\n' ' ')
    if [ -n "$bins" ]; then
        pkg_log "ERROR: missing: $bins(the tests need Debian 12's PostgreSQL 15 and RabbitMQ)"
        return 1
    fi
}

# With MS_TEST_STACK=1, a Docker engine that answers. No init system starts one in a fresh
# container or CI machine, so as root dockerd is started here (and left running).
ensure_docker() {
    stack_wanted || return 0
    docker info >/dev/null 2>&1 && return 0
    if [ "$(id -u)" != 0 ]; then
        pkg_log "ERROR: MS_TEST_STACK=1 but no Docker engine answers: start dockerd (as root: sudo dockerd &)"
        return 1
    fi
    pkg_log "no Docker engine answers: starting dockerd (log: $DOCKERD_LOG)"
    nohup dockerd >"$DOCKERD_LOG" 2>&1 &
    for _ in $(seq 1 60); do
        docker info >/dev/null 2>&1 && return 0
        sleep 1
    done
    pkg_log "ERROR: dockerd did not answer within 60 s; its log:"
    tail -n 40 "$DOCKERD_LOG" >&2 || true
    return 1
}

# The PyPI tools, pinned, in the one venv of scripts/python-tools.sh (Debian's pip refuses
# system-wide installs): kubernetes-validate, which scripts/k8s-validate.sh runs on the rendered
# overlays (it bundles the Kubernetes schemas, so validating needs no network; installing it
# does), and schemathesis, which scripts/fuzz.sh runs on the stack.
# shellcheck source=scripts/python-tools.sh
source "$(dirname "${BASH_SOURCE[0]}")/python-tools.sh"
KUBE_VALIDATE_VERSION=1.37.0
SCHEMATHESIS_VERSION=4.32.5
ensure_python_tools() {
    ensure_python_tool kubernetes-validate "kubernetes-validate==$KUBE_VALIDATE_VERSION" >/dev/null &&
        ensure_python_tool schemathesis "schemathesis==$SCHEMATHESIS_VERSION" >/dev/null || {
        pkg_log "ERROR: could not install the PyPI tools into $PYTHON_TOOLS"
        return 1
    }
}

if [ "${BASH_SOURCE[0]}" = "$0" ]; then
    case "${1:-}" in
        "") ensure_packages && ensure_docker && ensure_python_tools ;;
        missing) missing_packages ;;
        *) echo "usage: $0 [missing]" >&2; exit 2 ;;
    esac
fi
