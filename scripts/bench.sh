#!/usr/bin/env bash
# Measures scenarios with oha (open model: fixed request rate, coordinated-omission
# corrected) against services on 127.0.0.1, and prints one line per run.
#
#   bash scripts/bench.sh [SCENARIO...]        scenarios: s1 s2 s6 (default: all three)
#   bash scripts/bench.sh load                 ms-tui's load engine vs oha, same endpoint and
#                                              rates (S6 async, BENCH_RATES), both reported
#
#   BENCH_RATES="500 1000 2000"   target rates for the async acknowledgement runs
#   BENCH_DURATION=30s            length of each run (issue 3 asks 30 s for S6)
#   BENCH_ROUNDS=5                `load`: runs of each generator per rate, alternating; medians compared
#   BENCH_PAIRED=1                `load`: both generators at once in each round, each at the full rate
#                                 (the service gets twice the rate; the host's noise hits both alike)
#   BENCH_OUT=/tmp/ms-bench       oha JSON reports and service logs
#   BENCH_NO_BUILD=1              use target/release/ms-service as it is
#
# Needs: `cargo install oha`, the test infrastructure with PostgreSQL's durable defaults
# (`MS_TEST_PG_DURABLE=1 bash scripts/test-infra.sh up`; the tests turn fsync off), and a
# release build (built here). Services run in both modes on ports 18xxx against fresh
# databases. Async lines are the acknowledgement latency; sync S1/S2 lines include the
# configured delay (EMAIL_DELAY_MS 500, PAYMENT_DELAY_MS 2000): subtract it for our overhead.
# S6 lines also report whether every accepted click was stored, and the RSS of each service
# is printed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
command -v oha >/dev/null || { echo "oha missing: cargo install oha" >&2; exit 1; }
eval "$(bash scripts/test-infra.sh env)"
SCENARIOS=("$@")
[ ${#SCENARIOS[@]} -gt 0 ] || SCENARIOS=(s1 s2 s6)
read -r -a RATES <<<"${BENCH_RATES:-250 500 1000 1500 2000 3000}"
DURATION=${BENCH_DURATION:-20s}
ROUNDS=${BENCH_ROUNDS:-5}
OUT=${BENCH_OUT:-/tmp/ms-bench}
mkdir -p "$OUT"

[ "${BENCH_NO_BUILD:-0}" = 1 ] || cargo build --release --locked -p services
if [[ " ${SCENARIOS[*]} " == *" load "* ]] && [ "${BENCH_NO_BUILD:-0}" != 1 ]; then
    cargo build --release --locked -p tui
fi
BIN=target/release/ms-service
DB_BASE=${MS_TEST_DATABASE_URL%/*}
PG_FSYNC=$(psql -tA "$MS_TEST_DATABASE_URL" -c 'SHOW fsync' 2>/dev/null || echo unknown)
echo "PostgreSQL fsync: $PG_FSYNC (on = durable commits, as in the compose stack)"

TAG=$(date +%s)
PIDS=()
NAMES=()
trap 'kill "${PIDS[@]}" 2>/dev/null || true' EXIT

# Starts a service with the variables testkit's ServiceBuilder sets for the tests (MODE, PORT,
# BIND_ADDR, AMQP_URL, DATABASE_URL), in shell on purpose: no other script starts services,
# so there is no shell function to share, and testkit's worlds (a vhost and a database per
# test, deleted with it) are for tests: here the release binary's services run in the
# default vhost against one database per mode and run (bench_<mode>_<time>).
start() { # service mode port [env...]
    local service=$1 mode=$2 port=$3; shift 3
    env MODE="$mode" PORT="$port" BIND_ADDR=127.0.0.1 AMQP_URL="$MS_TEST_AMQP_URL" \
        DATABASE_URL="$DB_BASE/bench_${mode}_$TAG" RUST_LOG=warn "$@" \
        "$BIN" "$service" >"$OUT/$service-$mode.log" 2>&1 &
    PIDS+=($!)
    NAMES+=("$service-$mode")
    for _ in $(seq 1 100); do
        curl -fs "127.0.0.1:$port/ready" >/dev/null && return 0
        sleep 0.3
    done
    echo "$service ($mode) did not become ready; see $OUT/$service-$mode.log" >&2
    exit 1
}

summary() { # label json
    python3 - "$1" "$2" <<'PY'
import json, sys
label, path = sys.argv[1], sys.argv[2]
r = json.load(open(path))
s, p = r["summary"], r["latencyPercentiles"]
codes = r.get("statusCodeDistribution", {})
ms = lambda v: "%.2f ms" % (v * 1000) if v is not None else "n/a"
print("%-26s achieved %8.1f req/s  p50 %10s  p99 %10s  statuses %s" % (label, s["requestsPerSec"], ms(p.get("p50")), ms(p.get("p99")), codes), flush=True)
PY
}

oha_post() { # label rate url oha-args... (writes $OUT/label.json)
    local label=$1 rate=$2 url=$3; shift 3
    oha -q "$rate" -z "$DURATION" --latency-correction --no-tui --output-format json -o "$OUT/$label.json" \
        -m POST -H 'content-type: application/json' "$@" "$url"
}

run() { # label rate url oha-args...
    oha_post "$@"
    summary "$1" "$OUT/$1.json"
}

# The floor under every number: how late this host wakes a sleeping thread, and what oha reports
# for a route that does nothing (GET /health) at the same rate. On a shared VM both can be large.
host_jitter() {
    python3 - <<'PY'
import time
over = []
for _ in range(1000):
    s = time.monotonic(); time.sleep(0.005); over.append(time.monotonic() - s - 0.005)
over.sort()
q = lambda f: over[min(len(over) - 1, int(len(over) * f))] * 1000
print("host: 5 ms sleeps overshoot p50 %.2f ms  p99 %.2f ms  max %.2f ms" % (q(0.5), q(0.99), over[-1] * 1000), flush=True)
PY
}

baseline() { # label rate port
    oha -q "$2" -z "$DURATION" --latency-correction --no-tui --output-format json -o "$OUT/$1.json" \
        "http://127.0.0.1:$3/health"
    summary "$1" "$OUT/$1.json"
}

ok_count() { # oha json -> number of 200 answers
    python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("statusCodeDistribution",{}).get("200",0))' "$1"
}

clicks() { curl -fs "127.0.0.1:$1/clicks/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

# S6: after each run, wait until the consumer caught up, then compare stored with accepted.
run_clicks() { # mode port rate
    local mode=$1 port=$2 rate=$3 label="S6-$1-q$3" before after accepted
    before=$(clicks "$port")
    run "$label" "$rate" "http://127.0.0.1:$port/track_click" -d '{"user_id":1,"page":"/bench"}'
    accepted=$(ok_count "$OUT/$label.json")
    for _ in $(seq 1 600); do
        after=$(clicks "$port")
        [ $((after - before)) -ge "$accepted" ] && break
        sleep 0.5
    done
    echo "    $label: accepted $accepted, stored $((after - before))"
}

unique_registrations() { # Unique e-mails: oha -Z sends the file's lines as bodies, one per request.
    python3 - "$OUT/register.lines" <<'PY'
import sys, uuid
with open(sys.argv[1], "w") as f:
    for i in range(600_000):
        f.write('{"email":"bench-%s-%d@example.com"}\n' % (uuid.uuid4().hex[:8], i))
PY
}

for scenario in "${SCENARIOS[@]}"; do
    case "$scenario" in
    s1)
        unique_registrations
        start email async 18107
        start user async 18101
        start email sync 18007
        start user sync 18001 EMAIL_SERVICE_URL=http://127.0.0.1:18007
        host_jitter
        baseline "S1-floor-health-q${RATES[0]}" "${RATES[0]}" 18101
        echo "== S1 async acknowledgement (p99 < 20 ms is the bar) =="
        for rate in "${RATES[@]}"; do
            run "S1-async-q$rate" "$rate" http://127.0.0.1:18101/register -Z "$OUT/register.lines"
        done
        echo "== S1 sync (includes the 500 ms e-mail) =="
        run "S1-sync-q50" 50 http://127.0.0.1:18001/register -Z "$OUT/register.lines"
        ;;
    s2)
        start payment async 18102
        start payment sync 18002
        echo "== S2 async acknowledgement (p99 < 20 ms is the bar) =="
        for rate in "${RATES[@]}"; do
            run "S2-async-q$rate" "$rate" http://127.0.0.1:18102/process_payment -d '{"amount":42.5}'
        done
        echo "== S2 sync (includes the 2000 ms payment) =="
        run "S2-sync-q50" 50 http://127.0.0.1:18002/process_payment -d '{"amount":42.5}'
        ;;
    s6)
        start analytics async 18106
        start analytics sync 18006
        host_jitter
        echo "== S6 async (p99 < 20 ms and every accepted click stored) =="
        for rate in "${RATES[@]}"; do run_clicks async 18106 "$rate"; done
        echo "== S6 sync =="
        for rate in "${RATES[@]}"; do run_clicks sync 18006 "$rate"; done
        ;;
    load)
        start analytics async 18206
        # Between runs the consumer's backlog must be gone: at rates above what it stores per
        # second, the run after would otherwise share the CPU with the run before's leftovers.
        drained() {
            local depth
            for _ in $(seq 1 300); do
                depth=$(curl -fs -u "$MS_TEST_RABBIT_USER:$MS_TEST_RABBIT_PASS" \
                    "$MS_TEST_RABBIT_API/api/queues/%2f/click_tracked_queue" |
                    python3 -c 'import json,sys; print(json.load(sys.stdin).get("messages", 0))')
                [ "$depth" = 0 ] && return 0
                sleep 1
            done
            echo "click_tracked_queue still holds $depth messages after 300 s" >&2
        }
        # One run of each generator. oha's workers each open their own connection on first
        # use, and a connect is inside the latency: with -c 1024 at 100 req/s every request of
        # a 10 s run paid one (p50 2.4-4.1 ms against 2.2-2.3 with -c 16). So oha gets a
        # worker per 10 req/s (16 to 1024): enough for 100 ms answers at the full rate, as the
        # engine's pool opens connections only when the open ones are busy.
        oha_round() { # rate round
            local workers=$(( $1 / 10 ))
            workers=$(( workers < 16 ? 16 : workers > 1024 ? 1024 : workers ))
            [ "${DRAINED:-0}" = 1 ] || drained
            oha_post "oha-S6-async-q$1-r$2" "$1" http://127.0.0.1:18206/track_click \
                -c "$workers" -d '{"user_id":1,"page":"/bench"}'
        }
        mstui_round() { # rate round
            [ "${DRAINED:-0}" = 1 ] || drained
            target/release/ms-tui load s6 --mode async --url http://127.0.0.1:18206 --uncapped \
                -q "$1" -z "${DURATION%s}" --json >"$OUT/mstui-S6-async-q$1-r$2.json" 2>/dev/null || true
        }
        # One run each is noise (p50 moved by 30 % between identical runs here): the medians
        # over the rounds are compared, with each tool's spread.
        compare_rounds() { # rate
            python3 - "$1" "$OUT" <<'PY'
import glob, json, statistics, sys
rate, out = sys.argv[1], sys.argv[2]
def oha(path):
    r = json.load(open(path))
    return r["summary"]["requestsPerSec"], r["latencyPercentiles"]["p50"] * 1000, r.get("statusCodeDistribution", {})
def mstui(path):
    r = json.load(open(path))[0]
    return r["achieved_rate"], r["p50_ms"], r["statuses"]
rows = {}
for tool, read in (("oha", oha), ("mstui", mstui)):
    runs = [read(p) for p in sorted(glob.glob("%s/%s-S6-async-q%s-r*.json" % (out, tool, rate)))]
    rows[tool] = runs
    for i, (achieved, p50, statuses) in enumerate(runs, 1):
        print("  %-6s q%-5s round %d  achieved %8.1f req/s  p50 %7.2f ms  statuses %s" % (tool, rate, i, achieved, p50, statuses), flush=True)
med = lambda tool, k: statistics.median(r[k] for r in rows[tool])
spread = lambda tool, k: "%.2f-%.2f" % (min(r[k] for r in rows[tool]), max(r[k] for r in rows[tool]))
p50m, p50o = med("mstui", 1), med("oha", 1)
ratem, rateo = med("mstui", 0), med("oha", 0)
ratios = sorted(m[1] / o[1] for m, o in zip(rows["mstui"], rows["oha"]))
print("  p50 ms-tui / oha, round by round: %s (median %.2f)" % (" ".join("%.2f" % r for r in ratios), statistics.median(ratios)), flush=True)
print("S6 async at %s req/s, median of %d: p50 ms-tui %.2f ms (%s) vs oha %.2f ms (%s): %+.1f %%; achieved %.1f vs %.1f req/s: %+.1f %%"
      % (rate, len(rows["mstui"]), p50m, spread("mstui", 1), p50o, spread("oha", 1), (p50m / p50o - 1) * 100, ratem, rateo, (ratem / rateo - 1) * 100), flush=True)
PY
        }
        host_jitter
        echo "== the load engine (ms-tui load) vs oha: S6 async, same rate and duration, $ROUNDS rounds =="
        for rate in "${RATES[@]}"; do
            rm -f "$OUT"/oha-S6-async-q"$rate"-r*.json "$OUT"/mstui-S6-async-q"$rate"-r*.json
            for round in $(seq 1 "$ROUNDS"); do
                if [ "${BENCH_PAIRED:-0}" = 1 ]; then
                    # Both at once, each at the full rate: the host's noise hits both alike.
                    drained
                    DRAINED=1 oha_round "$rate" "$round" &
                    oha_pid=$!
                    DRAINED=1 mstui_round "$rate" "$round"
                    wait "$oha_pid" # not a bare wait: the service is a child too
                # Alternate who goes first: the second of a pair meets a warmer service.
                elif [ $((round % 2)) = 1 ]; then
                    oha_round "$rate" "$round"; mstui_round "$rate" "$round"
                else
                    mstui_round "$rate" "$round"; oha_round "$rate" "$round"
                fi
            done
            compare_rounds "$rate"
        done
        ;;
    *) echo "unknown scenario $scenario (use s1 s2 s6 load)" >&2; exit 2 ;;
    esac
done

echo "== RSS after the runs =="
for i in "${!PIDS[@]}"; do
    printf '%-20s %6d KiB\n' "${NAMES[$i]}" "$(ps -o rss= -p "${PIDS[$i]}" || echo 0)"
done
