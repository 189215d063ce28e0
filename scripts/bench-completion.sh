#!/usr/bin/env bash
# The completion-throughput and memory figures, measured on the running stack (`ms-tui up`,
# release-built by default) through its published ports and the Docker engine:
#
#   bash scripts/bench-completion.sh [PART...]    parts: drain replicas memory s6 s2 (default: all)
#
#   drain      e-mails completed per second at consumer_concurrency 128 on one replica: the
#              e-mail consumer is stopped, DRAIN_REGISTRATIONS registrations are fired at
#              1,000/s, the consumer is started, and the growth of sent e-mails is measured
#              over 5 s while a backlog remains
#   replicas   the same with two e-mail consumers (`ms-tui scale email 2`), then back to one
#   memory     RSS (docker stats) of analytics-async idle, then 5 s after each of three 20 s
#              runs of S6 at 5,000 req/s with 256 connections (oha), and of every service idle
#   s6         S6 async: per rate, ack p99 (oha) and whether stored clicks kept up
#   s2         S2 async: ack p99 at 1,000 req/s (ms-tui load: each payment its own order)
#
#   MS_TUI=target/release/ms-tui    the ms-tui binary (for `scale` and `load`)
#   DRAIN_REGISTRATIONS=4000        the backlog of the drain parts
#   S6_RATES="2000 4000 6000 8000 10000"
#
# Needs: the stack up, oha (`cargo install oha`) for memory and s6, curl, python3. Every run is
# bounded (seconds of load, counted requests) and goes to 127.0.0.1 only. The knobs it sets
# are put back at the end (consumer_concurrency 16); replicas are scaled back to one.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
MS_TUI=${MS_TUI:-target/release/ms-tui}
N=${DRAIN_REGISTRATIONS:-4000}
read -r -a S6_RATES <<<"${S6_RATES:-2000 4000 6000 8000 10000}"
PARTS=("$@")
[ ${#PARTS[@]} -gt 0 ] || PARTS=(drain replicas memory s6 s2)

TOKEN=${MS_ADMIN_TOKEN:-$(sed -n 's/^MS_ADMIN_TOKEN=//p' compose/.env 2>/dev/null)}
[ -n "$TOKEN" ] || { echo "no MS_ADMIN_TOKEN (compose/.env): is the stack set up?" >&2; exit 2; }
"$MS_TUI" status >/dev/null || { echo "the stack is not up and healthy: ms-tui up" >&2; exit 2; }
USER_ASYNC=8101 ANALYTICS_ASYNC=8106 EMAIL_ASYNC=8107 PAYMENT_ASYNC=8102
say() { printf '[bench-completion] %s\n' "$*"; }

admin_put() { # port json
    curl -fsS -X PUT -H "Authorization: Bearer $TOKEN" -H 'content-type: application/json' \
        -d "$2" "127.0.0.1:$1/admin/config" >/dev/null
}
reset() { curl -fsS -X POST -H "Authorization: Bearer $TOKEN" "127.0.0.1:$1/admin/reset" >/dev/null; }
sent_emails() {
    curl -fsS "127.0.0.1:$EMAIL_ASYNC/emails?limit=1" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'
}
# A service's main container (compose names replicas `<service>-<mode>-replica`).
container() { docker ps -q --filter label=ms-tui.project=ms-tui \
    --filter "label=com.docker.compose.service=$1${2:+-$2}" | head -1; }
mem_mib() { # container -> MiB without page cache, as docker stats shows it
    docker stats --no-stream --format '{{.MemUsage}}' "$1" | python3 -c '
import re,sys
v,u=re.match(r"([\d.]+)\s*([KMG]i?B)", sys.stdin.read()).groups()
print("%.1f" % (float(v)*{"KiB":1/1024,"MiB":1,"GiB":1024,"kB":1/1000,"MB":1,"GB":1000}[u]))'
}

# Fires $N registrations at 1,000/s at the async user service while the e-mail consumers are
# stopped, starts them, and prints the e-mails sent per second over 5 s of draining.
drain_rate() { # label containers...
    local label=$1; shift
    reset "$USER_ASYNC"; reset "$EMAIL_ASYNC"
    docker stop "$@" >/dev/null
    local seconds=$(( (N + 999) / 1000 ))
    "$MS_TUI" load s1 --mode async --rate 1000 --duration "$seconds" --uncapped --json \
        >/tmp/bench-completion-load.json || { docker start "$@" >/dev/null; return 1; }
    docker start "$@" >/dev/null
    # The consumers connect and re-apply nothing by themselves: set the knob on each.
    for c in "$@"; do
        for _ in $(seq 60); do
            docker exec "$c" /ms-service admin put /admin/config '{"consumer_concurrency":128}' \
                >/dev/null 2>&1 && break
            sleep 0.5
        done
    done
    # Wait for the first e-mail, then measure 5 s while the backlog lasts.
    for _ in $(seq 200); do [ "$(sent_emails)" -gt 0 ] && break; sleep 0.1; done
    local a b t0 t1
    a=$(sent_emails); t0=$(date +%s.%N)
    sleep 5
    b=$(sent_emails); t1=$(date +%s.%N)
    python3 - "$label" "$a" "$b" "$t0" "$t1" "$N" <<'PY'
import sys
label, a, b, t0, t1, n = sys.argv[1], int(sys.argv[2]), int(sys.argv[3]), float(sys.argv[4]), float(sys.argv[5]), int(sys.argv[6])
print(f"{label}: {b - a} e-mails in {t1 - t0:.2f} s = {(b - a) / (t1 - t0):.0f}/s"
      f" ({b} of {n} sent at the end{'; the backlog ran out: a lower bound' if b >= n else ''})", flush=True)
PY
    for _ in $(seq 120); do [ "$(sent_emails)" -ge "$N" ] && break; sleep 0.5; done
    say "$label: $(sent_emails) of $N e-mails sent in all"
}

part_drain() {
    say "drain: one e-mail consumer at consumer_concurrency 128, $N registrations"
    drain_rate "1 replica" "$(container email async)"
    admin_put "$EMAIL_ASYNC" '{"consumer_concurrency":16}'
}

part_replicas() {
    say "replicas: two e-mail consumers at consumer_concurrency 128, $N registrations"
    "$MS_TUI" scale email 2
    local replica
    replica=$(container email async-replica)
    drain_rate "2 replicas" "$(container email async)" "$replica"
    "$MS_TUI" scale email 1
    admin_put "$EMAIL_ASYNC" '{"consumer_concurrency":16}'
}

oha_clicks() { # rate seconds connections json-out
    oha -q "$1" -z "${2}s" -c "$3" --latency-correction --no-tui --output-format json -o "$4" \
        -m POST -H 'content-type: application/json' \
        -d '{"user_id":1,"page":"/bench","session_id":"b"}' "http://127.0.0.1:$ANALYTICS_ASYNC/track_click"
}
oha_line() { # label json
    python3 - "$1" "$2" <<'PY'
import json, sys
r = json.load(open(sys.argv[2]))
s, p = r["summary"], r["latencyPercentiles"]
ok = r.get("statusCodeDistribution", {})
print("%s: achieved %.0f req/s, ack p50 %.2f ms, p99 %.2f ms, statuses %s"
      % (sys.argv[1], s["requestsPerSec"], p["p50"] * 1000, p["p99"] * 1000, ok), flush=True)
PY
}
ok_count() { python3 -c 'import json,sys; print(json.load(open(sys.argv[1])).get("statusCodeDistribution",{}).get("200",0))' "$1"; }
stored_clicks() { curl -fsS "127.0.0.1:$ANALYTICS_ASYNC/clicks/count" | python3 -c 'import json,sys; print(json.load(sys.stdin)["count"])'; }

part_memory() {
    command -v oha >/dev/null || { echo "memory needs oha: cargo install oha" >&2; return 2; }
    local c; c=$(container analytics async)
    say "memory: analytics-async idle $(mem_mib "$c") MiB"
    for run in 1 2 3; do
        oha_clicks 5000 20 256 /tmp/bench-completion-oha.json >/dev/null
        sleep 5
        say "memory: analytics-async 5 s after run $run (S6 5,000 req/s for 20 s, 256 connections): $(mem_mib "$c") MiB; $(oha_line "run $run" /tmp/bench-completion-oha.json)"
    done
    say "memory: every service idle (a minute after the load):"
    sleep 60
    docker stats --no-stream --format '{{.Name}} {{.MemUsage}}' \
        $(docker ps -q --filter label=ms-tui.project=ms-tui --filter label=ms-tui.mode=sync) \
        $(docker ps -q --filter label=ms-tui.project=ms-tui --filter label=ms-tui.mode=async) | sort
}

part_s6() {
    command -v oha >/dev/null || { echo "s6 needs oha: cargo install oha" >&2; return 2; }
    for rate in "${S6_RATES[@]}"; do
        reset "$ANALYTICS_ASYNC"
        oha_clicks "$rate" 10 256 /tmp/bench-completion-s6.json >/dev/null
        local accepted stored_end stored_later
        accepted=$(ok_count /tmp/bench-completion-s6.json)
        stored_end=$(stored_clicks)
        sleep 2
        stored_later=$(stored_clicks)
        say "s6 $rate/s: $(oha_line "ack" /tmp/bench-completion-s6.json); stored $stored_end of $accepted at the load's end, $stored_later 2 s later"
    done
}

part_s2() {
    reset "$PAYMENT_ASYNC"
    # Our own load engine: every payment needs its own order id, which oha cannot vary.
    "$MS_TUI" load s2 --mode async --rate 1000 --duration 10 --uncapped --json \
        >/tmp/bench-completion-s2.json || true
    python3 - /tmp/bench-completion-s2.json <<'PY'
import json, sys
r = json.load(open(sys.argv[1]))[0]
print("[bench-completion] s2 1,000/s: achieved %.0f req/s, ack p50 %.2f ms, p99 %.2f ms, %d of %d as expected"
      % (r["achieved_rate"], r["p50_ms"], r["p99_ms"], r["expected"], r["answers"]), flush=True)
PY
    # What the 10 s left for the payment consumers (2 s each) is purged: the stack idles again.
    docker exec "$(container rabbitmq)" rabbitmqctl purge_queue payment_initiated_queue >/dev/null 2>&1 || true
}

for part in "${PARTS[@]}"; do
    case $part in
        drain|replicas|memory|s6|s2) "part_$part" ;;
        *) echo "unknown part: $part (drain replicas memory s6 s2)" >&2; exit 2 ;;
    esac
done
