#!/usr/bin/env bash
# Measures S1 and S2 with oha (open model, coordinated-omission corrected) on 127.0.0.1.
#
#   bash scripts/bench-s1-s2.sh [RATES...]      (default rates: 250 500 1000 1500 2000 3000)
#
# Needs: `cargo install oha`, the test infrastructure (`bash scripts/test-infra.sh up`), and a
# release build (built here). Starts user/email/payment in both modes on ports 18xxx against
# fresh databases, then prints one line per run: scenario, mode, target rate, achieved rate,
# p50, p99, and the status codes seen. Async: the acknowledgement latency. Sync: subtract
# the configured delay (EMAIL_DELAY_MS 500, PAYMENT_DELAY_MS 2000) for our overhead.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v oha >/dev/null || { echo "oha missing: cargo install oha" >&2; exit 1; }
eval "$(bash scripts/test-infra.sh env)"
RATES=("${@:-250 500 1000 1500 2000 3000}")
read -r -a RATES <<<"${RATES[*]}"
DURATION=${BENCH_DURATION:-20s}
OUT=${BENCH_OUT:-/tmp/ms-bench}
mkdir -p "$OUT"

cargo build --release --locked -p services
BIN=target/release/ms-service
DB_BASE=${MS_TEST_DATABASE_URL%/*}
TAG=$(date +%s)
PIDS=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

start() { # service mode port [env...]
    local service=$1 mode=$2 port=$3; shift 3
    env MODE="$mode" PORT="$port" BIND_ADDR=127.0.0.1 AMQP_URL="$MS_TEST_AMQP_URL" \
        DATABASE_URL="$DB_BASE/bench_${mode}_$TAG" RUST_LOG=warn "$@" \
        "$BIN" "$service" >"$OUT/$service-$mode.log" 2>&1 &
    PIDS+=($!)
    for _ in $(seq 1 100); do
        curl -fs "127.0.0.1:$port/ready" >/dev/null && return 0
        sleep 0.3
    done
    echo "$service ($mode) did not become ready; see $OUT/$service-$mode.log" >&2
    exit 1
}

start email async 18107
start user async 18101
start payment async 18102
start email sync 18007
start user sync 18001 EMAIL_SERVICE_URL=http://127.0.0.1:18007
start payment sync 18002

# Unique e-mails: oha -Z sends the file's lines as bodies, one per request.
python3 - "$OUT/register.lines" <<'PY'
import sys, uuid
with open(sys.argv[1], "w") as f:
    for i in range(400_000):
        f.write('{"email":"bench-%s-%d@example.com"}\n' % (uuid.uuid4().hex[:8], i))
PY

summary() { # label json
    python3 - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ms = lambda v: "%.2f ms" % (v * 1000) if v is not None else "n/a"
print("%-34s achieved %8.1f req/s  p50 %10s  p99 %10s  statuses %s" % (label, s["requestsPerSec"], ms(p.get("p50")), ms(p.get("p99")), codes))
PY
}

run() { # label rate url body-args...
    local label=$1 rate=$2 url=$3; shift 3
    oha -q "$rate" -z "$DURATION" --latency-correction --no-tui --output-format json -o "$OUT/$label.json" \
        -m POST -H 'content-type: application/json' "$@" "$url"
    summary "$label" "$OUT/$label.json"
}

echo "== async acknowledgement latency (p99 < 20 ms is the bar) =="
for rate in "${RATES[@]}"; do
    run "S1-async-q$rate" "$rate" http://127.0.0.1:18101/register -Z "$OUT/register.lines"
    run "S2-async-q$rate" "$rate" http://127.0.0.1:18102/process_payment -d '{"amount":42.5}'
done

echo "== sync overhead (subtract the delay: S1 500 ms, S2 2000 ms) =="
run "S1-sync-q50" 50 http://127.0.0.1:18001/register -Z "$OUT/register.lines"
run "S2-sync-q50" 50 http://127.0.0.1:18002/process_payment -d '{"amount":42.5}'
