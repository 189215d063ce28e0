#!/usr/bin/env bash
# Validates the Kubernetes manifests offline: for each overlay under deploy/k8s/overlays,
# `kubectl kustomize` renders it and `kubernetes-validate --strict` checks every resource
# against the Kubernetes schemas it bundles (no cluster, no network), at each version in
# MS_K8S_VERSIONS. Fails on any error, and on any "no schema" warning except for the
# operators' own kinds (API groups in OPERATOR_GROUPS), which it cannot know; prints, per
# overlay, how many resources it has and how many validated.
#
#   bash scripts/k8s-validate.sh           (scripts/test.sh runs it in phase 1)
#
# Needs kubectl (with its built-in kustomize) and kubernetes-validate
# (scripts/packages.sh: ensure_python_tools). Also fails when deploy/k8s/base/services.yaml
# is not what deploy/k8s/generate.sh writes.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

VALIDATE=${MS_KUBE_VALIDATE:-${MS_PYTHON_TOOLS:-/opt/ms-tui-python}/bin/kubernetes-validate}
# The oldest Kubernetes the manifests claim (every API used is GA there) and the newest
# schema kubernetes-validate 1.37.0 bundles.
read -r -a VERSIONS <<<"${MS_K8S_VERSIONS:-1.30.0 1.37.0}"
OPERATOR_GROUPS='rabbitmq\.com|postgresql\.cnpg\.io'

log() { printf '[k8s] %s\n' "$*" >&2; }

for tool in kubectl "$VALIDATE"; do
    if ! command -v "$tool" >/dev/null 2>&1; then
        log "ERROR: $tool not found (kubectl is preinstalled here; kubernetes-validate: bash scripts/packages.sh)"
        exit 1
    fi
done

started=$SECONDS
status=0
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT

if ! bash deploy/k8s/generate.sh --stdout | diff -u deploy/k8s/base/services.yaml - >"$work/stale"; then
    cat "$work/stale" >&2
    log "ERROR: deploy/k8s/base/services.yaml is stale: run bash deploy/k8s/generate.sh"
    status=1
fi

for dir in deploy/k8s/overlays/*/; do
    overlay=$(basename "$dir")
    rendered=$work/$overlay.yaml
    if ! kubectl kustomize "$dir" >"$rendered" 2>"$work/err"; then
        cat "$work/err" >&2
        log "ERROR: $overlay: kubectl kustomize failed"
        status=1
        continue
    fi
    # kustomize writes each resource as a document whose top-level `kind:` starts a line.
    total=$(grep -c '^kind:' "$rendered" || true)
    for version in "${VERSIONS[@]}"; do
        out=$work/$overlay-$version.out
        rc=0
        "$VALIDATE" --strict --kubernetes-version "$version" "$rendered" >"$out" 2>&1 || rc=$?
        passed=$(grep -c '^INFO .* passed for resource ' "$out" || true)
        tolerated=$(grep -cE "^WARN .* Couldn't find schema for kind [A-Za-z]+ with api version ($OPERATOR_GROUPS)/" "$out" || true)
        # Everything else it says is a failure: an ERROR, or a warning on a kind we own.
        others=$(grep -vE "^INFO .* passed for resource |^WARN .* Couldn't find schema for kind [A-Za-z]+ with api version ($OPERATOR_GROUPS)/" "$out" || true)
        log "$overlay @ $version: $total resources, $passed validated, $tolerated operator resources without a schema (warned)"
        if [ "$rc" != 0 ] || [ -n "$others" ] || [ $((passed + tolerated)) != "$total" ]; then
            printf '%s\n' "$others" >&2
            log "ERROR: $overlay @ $version: kubernetes-validate exited $rc; $((total - passed - tolerated)) resources neither validated nor tolerated"
            status=1
        fi
    done
done

log "done in $((SECONDS - started)) s: exit status $status"
exit "$status"
