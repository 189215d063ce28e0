#!/usr/bin/env bash
# Writes base/services.yaml: a Deployment, a Service and a PodDisruptionBudget for each of the
# ten services in each mode, and the gateway -- 21 of each. Kustomize has no loops, and 63
# hand-kept copies would drift; the output is committed so a fresh clone builds with kubectl
# alone, and scripts/k8s-validate.sh fails when it is not what this script writes.
#
#   bash deploy/k8s/generate.sh            rewrite base/services.yaml
#   bash deploy/k8s/generate.sh --stdout   print it instead
#
# compose/docker-compose.yml is the source of truth for the environment, the commands and
# the port (8000 in every container); this mirrors it.
set -euo pipefail

SERVICES=(user payment product report order analytics email search cache inventory)

# The peer URLs a stack's services call: the sync stack's for sync, the async one's for async.
peers() { # prefix mode
    local s
    for s in "${SERVICES[@]}"; do
        printf '            - {name: %s%s_SERVICE_URL, value: "http://%s-%s:8000"}\n' \
            "$1" "${s^^}" "$s" "$2"
    done
}

# One Deployment + Service + PodDisruptionBudget. mode: sync|async|infra (the gateway).
unit() { # name service mode
    local name=$1 service=$2 mode=$3 live=/health ready=/ready
    # The gateway's /health is 503 while its API upstream (order-async) is down, and its
    # /ready needs nothing: restarting it would not bring the upstream back, so liveness
    # asks /ready and readiness /health (no traffic to a gateway that cannot serve it).
    if [ "$service" = gateway ]; then live=/ready ready=/health; fi
    cat <<YAML
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: $name
  labels: {app.kubernetes.io/name: $name, ms-tui.service: $service, ms-tui.mode: $mode}
spec:
  replicas: 1
  selector:
    matchLabels: {app.kubernetes.io/name: $name}
  template:
    metadata:
      labels: {app.kubernetes.io/name: $name, ms-tui.service: $service, ms-tui.mode: $mode}
    spec:
      # Consumers get up to 10 s to finish and ack their deliveries on SIGTERM.
      terminationGracePeriodSeconds: 15
      automountServiceAccountToken: false
      securityContext:
        runAsNonRoot: true
        runAsUser: 65534
        runAsGroup: 65534
        seccompProfile: {type: RuntimeDefault}
      containers:
        - name: service
          image: ms-tui/service:latest
          imagePullPolicy: IfNotPresent
          args: ["$service"]
          ports:
            - {name: http, containerPort: 8000}
          envFrom:
            - configMapRef: {name: ms-tui-endpoints}
          env:
            - {name: PORT, value: "8000"}
            - {name: BIND_ADDR, value: 0.0.0.0}
            - {name: DB_POOL_MAX, value: "5"}
            - {name: RUST_LOG, value: info}
            - name: RABBITMQ_USER
              valueFrom: {secretKeyRef: {name: rabbitmq-default-user, key: username}}
            - name: RABBITMQ_PASSWORD
              valueFrom: {secretKeyRef: {name: rabbitmq-default-user, key: password}}
            - name: MS_ADMIN_TOKEN
              valueFrom: {secretKeyRef: {name: ms-tui-admin, key: token}}
            - {name: AMQP_URL, value: "amqp://\$(RABBITMQ_USER):\$(RABBITMQ_PASSWORD)@\$(AMQP_HOST):5672/%2f"}
YAML
    case $mode in
        sync | async)
            cat <<YAML
            - {name: MODE, value: $mode}
            - name: POSTGRES_USER
              valueFrom: {secretKeyRef: {name: postgres-app, key: username}}
            - name: POSTGRES_PASSWORD
              valueFrom: {secretKeyRef: {name: postgres-app, key: password}}
            - {name: DATABASE_URL, value: "postgres://\$(POSTGRES_USER):\$(POSTGRES_PASSWORD)@\$(DB_HOST):5432/ms_$mode"}
YAML
            peers "" "$mode"
            ;;
        infra)
            peers "" sync
            peers ASYNC_ async
            ;;
    esac
    cat <<YAML
          livenessProbe:
            httpGet: {path: $live, port: http}
            periodSeconds: 10
            timeoutSeconds: 5
            failureThreshold: 3
          readinessProbe:
            httpGet: {path: $ready, port: http}
            periodSeconds: 5
            timeoutSeconds: 5
            failureThreshold: 3
          # Up to 2 min for the boot (the database and the broker may still be starting);
          # the liveness probe starts after it.
          startupProbe:
            httpGet: {path: $live, port: http}
            periodSeconds: 5
            failureThreshold: 24
          resources:
            requests: {cpu: 50m, memory: 32Mi}
            limits: {cpu: 500m, memory: 256Mi}
          securityContext:
            allowPrivilegeEscalation: false
            readOnlyRootFilesystem: true
            capabilities: {drop: [ALL]}
---
apiVersion: v1
kind: Service
metadata:
  name: $name
  labels: {app.kubernetes.io/name: $name, ms-tui.service: $service, ms-tui.mode: $mode}
spec:
  selector: {app.kubernetes.io/name: $name}
  ports:
    - {name: http, port: 8000, targetPort: http}
---
apiVersion: policy/v1
kind: PodDisruptionBudget
metadata:
  name: $name
  labels: {app.kubernetes.io/name: $name, ms-tui.service: $service, ms-tui.mode: $mode}
spec:
  # One pod of a service at a time: a drain never takes a whole service down at once when
  # it runs two or more (the cluster overlay), and never blocks with one (dev).
  maxUnavailable: 1
  selector:
    matchLabels: {app.kubernetes.io/name: $name}
YAML
}

render() {
    echo "# Generated by deploy/k8s/generate.sh: edit that, not this."
    local mode s
    for mode in sync async; do
        for s in "${SERVICES[@]}"; do unit "$s-$mode" "$s" "$mode"; done
    done
    unit gateway gateway infra
}

out=$(dirname "${BASH_SOURCE[0]}")/base/services.yaml
if [ "${1:-}" = --stdout ]; then render; else render >"$out"; fi
