#!/usr/bin/env bash
# Builds the images of the ms-tui stack from local files: no registry is needed.
#
#   compose/images/build.sh service   # ms-tui/service:latest: FROM scratch + the ms-service binary
#   compose/images/build.sh infra     # ms-tui-offline/rabbitmq + /postgres from Debian's packages
#   compose/images/build.sh monitoring  # ms-tui-offline/prometheus + /postgres-exporter, the same way
#   compose/images/build.sh all
#
# `ms-tui up` runs this for whatever image is missing; run it by hand to rebuild.
#
# Settings (environment):
#   MS_SERVICE_BINARY  the ms-service binary to package. Static (the default build below) or
#                      dynamic: then its shared libraries and loader are copied beside it
#                      (CI packages target/debug/ms-service, built once for the tests).
#                      Unset: target/x86_64-unknown-linux-gnu/release/ms-service, built first
#                      (static glibc, `+crt-static`) when missing.
#   MS_SERVICE_IMAGE   tag of the service image (default ms-tui/service:latest).
#   MS_DEBIAN_SUITE    Debian suite of the offline images (default bookworm).
#   MS_DEBIAN_MIRROR   mirror for mmdebstrap (default: mmdebstrap's, deb.debian.org).
set -euo pipefail

here=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
root=$(cd "$here/../.." && pwd)
cd "$root"

SERVICE_IMAGE=${MS_SERVICE_IMAGE:-ms-tui/service:latest}
SUITE=${MS_DEBIAN_SUITE:-bookworm}
OFFLINE=ms-tui-offline
BASE_IMAGE=$OFFLINE/debian-infra:$SUITE
# Tags name the major versions Debian ships (RabbitMQ 3.10, PostgreSQL 15), the same tags as
# the official images compose uses by default, so one variable switches between the two.
RABBITMQ_IMAGE=$OFFLINE/rabbitmq:3-management
POSTGRES_IMAGE=$OFFLINE/postgres:15
# The monitoring profile's (compose/monitoring.yml). Their official images live outside
# docker.io/library, so the offline tag keeps the official repository's last path part and
# its tag, Debian's version: docker.io/prom/prometheus:v2.42.0 -> ms-tui-offline/prometheus:v2.42.0,
# quay.io/prometheuscommunity/postgres-exporter:v0.11.1 -> ms-tui-offline/postgres-exporter:v0.11.1
# (tui/src/stack/env.rs derives both from MS_INFRA_IMAGES). Grafana has no Debian package.
MONITORING_BASE=$OFFLINE/debian-monitoring:$SUITE
PROMETHEUS_IMAGE=$OFFLINE/prometheus:v2.42.0
EXPORTER_IMAGE=$OFFLINE/postgres-exporter:v0.11.1

say() { printf '[build] %s\n' "$*"; }
die() { printf '[build] ERROR: %s\n' "$*" >&2; exit 1; }

# Legacy builder or BuildKit, whichever this Docker has; both handle these Dockerfiles.
docker_build() { docker build --quiet "$@"; }

build_service() {
    local binary=${MS_SERVICE_BINARY:-}
    if [ -z "$binary" ]; then
        binary=target/x86_64-unknown-linux-gnu/release/ms-service
        if [ ! -x "$binary" ]; then
            [ "$(uname -sm)" = "Linux x86_64" ] ||
                die "the static build is set up for Linux x86_64 only; on $(uname -sm) use compose/images/service/Dockerfile.multistage (see README)"
            say "building the static ms-service (release, +crt-static); a cold build takes minutes"
            RUSTFLAGS='-C target-feature=+crt-static' nice -n 10 \
                cargo build --release --locked --target x86_64-unknown-linux-gnu -p services --bin ms-service
        fi
    fi
    [ -x "$binary" ] || die "MS_SERVICE_BINARY=$binary is not an executable file"

    local ctx
    ctx=$(mktemp -d /tmp/ms-service-image.XXXXXX)
    # shellcheck disable=SC2064  # expand now: the trap must remove this very directory
    trap "rm -rf '$ctx'" RETURN
    mkdir -p "$ctx/rootfs"
    cp "$binary" "$ctx/rootfs/ms-service"
    # Debug info is most of a debug build's size (150 MB -> ~40 MB); symbols stay for backtraces.
    if command -v strip >/dev/null 2>&1; then strip --strip-debug "$ctx/rootfs/ms-service"; fi

    # A dynamic binary needs its libraries and the loader inside the scratch image, at the
    # paths the binary names (the fallback when a static build is not possible).
    local kind=static libs
    if libs=$(ldd "$binary" 2>/dev/null) && grep -q '=>\|ld-linux' <<<"$libs"; then
        kind=dynamic
        for lib in $(grep -o '/[^ ]*\.so[^ ]*' <<<"$libs" | sort -u); do
            mkdir -p "$ctx/rootfs$(dirname "$lib")"
            cp -L "$lib" "$ctx/rootfs$lib"
        done
    fi
    cp "$here/service/Dockerfile" "$ctx/Dockerfile"
    say "service image $SERVICE_IMAGE from $binary ($kind, $(du -sh "$ctx/rootfs" | cut -f1))"
    docker_build --label "ms-tui.project=ms-tui" --label "ms-tui.binary=$kind" \
        -t "$SERVICE_IMAGE" "$ctx" >/dev/null
    say "built $SERVICE_IMAGE: $(image_size "$SERVICE_IMAGE")"
}

image_size() {
    docker image inspect --format '{{.Size}}' "$1" | awk '{ printf "%.1f MB", $1 / 1000000 }'
}

# One Debian root file system holds both servers: the two images share this layer, and one
# mmdebstrap run (a minute or a few, mostly downloads and dpkg) serves both. The monitoring
# pair gets a root file system of its own, so the stack's base stays as it is without it.
#   build_base IMAGE PACKAGES
build_base() {
    local image=$1 packages=$2
    if docker image inspect "$image" >/dev/null 2>&1; then
        say "base $image present"
        return
    fi
    command -v mmdebstrap >/dev/null 2>&1 ||
        die "mmdebstrap is missing (apt-get install mmdebstrap), or use the official images (MS_INFRA_IMAGES=docker.io/library in compose/.env)"
    say "base $image: mmdebstrap $SUITE with $packages"
    local mirror=() speed=()
    if [ -n "${MS_DEBIAN_MIRROR:-}" ]; then mirror=("$MS_DEBIAN_MIRROR"); fi
    # dpkg's fsyncs are most of the time on a slow disk: eatmydata (mmdebstrap's own hook,
    # removed again before the tarball is made) and unsafe-io skip them -- a throw-away tree.
    if [ -d /usr/share/mmdebstrap/hooks/eatmydata ]; then
        speed=(--hook-dir=/usr/share/mmdebstrap/hooks/eatmydata)
    fi
    # No docs, man pages or translations; no package lists or caches. The customize hook drops
    # the cluster Debian's postinst creates: the entrypoint initialises its own data directory.
    mmdebstrap --variant=apt --quiet "${speed[@]}" --dpkgopt=force-unsafe-io \
        --include="$packages" \
        --dpkgopt='path-exclude=/usr/share/man/*' \
        --dpkgopt='path-exclude=/usr/share/doc/*' \
        --dpkgopt='path-include=/usr/share/doc/*/copyright' \
        --dpkgopt='path-exclude=/usr/share/locale/*' \
        --customize-hook='rm -rf "$1"/var/lib/postgresql/*/main "$1"/etc/postgresql/*/main "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*' \
        "$SUITE" - "${mirror[@]}" |
        docker import --message "mmdebstrap $SUITE $packages" - "$image" >/dev/null
    say "built $image: $(image_size "$image")"
}

build_infra() {
    build_base "$BASE_IMAGE" rabbitmq-server,postgresql
    say "offline image $RABBITMQ_IMAGE"
    docker_build --build-arg "BASE=$BASE_IMAGE" --label "ms-tui.project=ms-tui" \
        -t "$RABBITMQ_IMAGE" "$here/rabbitmq" >/dev/null
    say "built $RABBITMQ_IMAGE: $(image_size "$RABBITMQ_IMAGE")"
    say "offline image $POSTGRES_IMAGE"
    docker_build --build-arg "BASE=$BASE_IMAGE" --label "ms-tui.project=ms-tui" \
        -t "$POSTGRES_IMAGE" "$here/postgres" >/dev/null
    say "built $POSTGRES_IMAGE: $(image_size "$POSTGRES_IMAGE")"
}

# wget: the healthchecks' probe, as in the official (busybox) images.
build_monitoring() {
    build_base "$MONITORING_BASE" prometheus,prometheus-postgres-exporter,wget
    local name image
    for name in prometheus postgres-exporter; do
        image=$PROMETHEUS_IMAGE
        [ "$name" = prometheus ] || image=$EXPORTER_IMAGE
        say "offline image $image"
        docker_build --build-arg "BASE=$MONITORING_BASE" --label "ms-tui.project=ms-tui" \
            -t "$image" "$here/$name" >/dev/null
        say "built $image: $(image_size "$image")"
    done
}

case "${1:-}" in
    service) build_service ;;
    infra) build_infra ;;
    monitoring) build_monitoring ;;
    all) build_service; build_infra; build_monitoring ;;
    *) echo "usage: $0 service|infra|monitoring|all" >&2; exit 2 ;;
esac
