#!/usr/bin/env bash
# Attacks every service of both stacks and the gateway with input generated from their own
# OpenAPI specs (schemathesis), on the running stack:
#
#   bash scripts/fuzz.sh [--examples N] [--budget SECONDS] [--jobs N] [PORT...]
#
#   --examples N    generated cases per operation and phase (default 50)
#   --budget S      the whole run's time limit; past it the run is stopped and fails (480)
#   --jobs N        services fuzzed at once (default 4)
#   PORT...         only these services (default: 8001-8010, 8101-8110 and the gateway 9000)
#
# Needs the stack up (`ms-tui up`) and compose/.env (the admin token). schemathesis comes from
# PyPI (scripts/python-tools.sh). Per service, two runs:
#   1. every operation, `/admin/*` without the token, checked for: no 5xx at all (the stack is
#      healthy, so not even 503), status codes, content types and bodies as the spec says, the
#      error envelope on every 4xx, and 401 on every admin call (scripts/fuzz/checks.py);
#   2. the admin GETs with the token, under the same checks.
# Before, the knobs that make requests wait (e-mail, payment and step delays, S4's CPU time)
# are made short so the budget goes to input, not waiting; after, each service gets its knobs
# back and a `POST /admin/reset`. Reports (JSON per run, and the console output) land in
# target/fuzz/. Exit status: 0 when every run passed.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
# shellcheck source=scripts/python-tools.sh
source scripts/python-tools.sh

EXAMPLES=50
BUDGET=480
JOBS=4
PORTS=()
usage() { sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; }
while [ $# -gt 0 ]; do
    case $1 in
        --examples) EXAMPLES=${2:?--examples needs a number}; shift 2 ;;
        --budget) BUDGET=${2:?--budget needs seconds}; shift 2 ;;
        --jobs) JOBS=${2:?--jobs needs a number}; shift 2 ;;
        -h | --help) usage; exit 0 ;;
        -*) echo "fuzz: unknown option $1 (see --help)" >&2; exit 2 ;;
        *) PORTS+=("$1"); shift ;;
    esac
done
for n in "$EXAMPLES" "$BUDGET" "$JOBS" "${PORTS[@]}"; do
    [[ $n =~ ^[0-9]+$ ]] || { echo "fuzz: '$n' is not a number (see --help)" >&2; exit 2; }
done
[ ${#PORTS[@]} -gt 0 ] || PORTS=($(seq 8001 8010) $(seq 8101 8110) 9000)

say() { printf '[fuzz] %s\n' "$*" >&2; }
die() { printf '[fuzz] ERROR: %s\n' "$*" >&2; exit 1; }

[ -f compose/.env ] || die "compose/.env is missing: bring the stack up first (ms-tui up)"
TOKEN=$(sed -n 's/^MS_ADMIN_TOKEN=//p' compose/.env)
[ -n "$TOKEN" ] || die "compose/.env has no MS_ADMIN_TOKEN"
SCHEMATHESIS=$(ensure_python_tool schemathesis "schemathesis==${SCHEMATHESIS_VERSION:-4.32.5}")
OUT=$PWD/target/fuzz
rm -rf "$OUT"
mkdir -p "$OUT"

admin() { # method port path [body]
    curl -sS --fail-with-body --max-time 10 -X "$1" -H "Authorization: Bearer $TOKEN" \
        -H 'content-type: application/json' ${4:+-d "$4"} "http://127.0.0.1:$2$3"
}
# The gateway has no admin API and no knobs.
has_admin() { [ "$1" != 9000 ]; }

for port in "${PORTS[@]}"; do
    curl -sf --max-time 5 "http://127.0.0.1:$port/openapi.json" -o "$OUT/$port.openapi.json" ||
        die "127.0.0.1:$port serves no /openapi.json: is the stack up (ms-tui status)?"
done

# Short waits during the run; each service's own knobs come back afterwards, whatever happens.
SHORT='{"email_delay_ms":5,"payment_delay_ms":5,"showdown_payment_delay_ms":5,"search_delay_ms":5,"cache_delay_ms":5,"analytics_delay_ms":5,"report_cpu_ms":5,"saga_payment_delay_ms":5,"checkout_payment_delay_ms":5,"checkout_email_delay_ms":5}'
restore() {
    local port knobs
    for port in "${PORTS[@]}"; do
        has_admin "$port" || continue
        if [ -f "$OUT/$port.knobs.json" ]; then
            knobs=$(/usr/bin/python3 -c 'import json,sys; print(json.dumps(json.load(sys.stdin)["knobs"]))' \
                <"$OUT/$port.knobs.json")
            admin PUT "$port" /admin/config "$knobs" >/dev/null || say "WARNING: :$port kept the short knobs"
        fi
        admin POST "$port" /admin/reset >/dev/null || say "WARNING: POST :$port/admin/reset failed"
    done
}
trap restore EXIT
for port in "${PORTS[@]}"; do
    has_admin "$port" || continue
    admin GET "$port" /admin/config >"$OUT/$port.knobs.json"
    admin PUT "$port" /admin/config "$SHORT" >/dev/null
done

CHECKS=not_a_server_error,status_code_conformance,content_type_conformance,response_schema_conformance,error_envelope,admin_needs_the_token
export SCHEMATHESIS_HOOKS=checks PYTHONPATH=$PWD/scripts/fuzz MS_FUZZ_ADMIN_TOKEN=$TOKEN
# One service: both runs, their console output in OUT/PORT.log; non-zero if either failed.
fuzz_one() { # port
    local port=$1 status=0
    # schemathesis and Hypothesis keep their caches in the working directory: not the repo's.
    cd "$OUT"
    # One worker: Hypothesis' lambda descriptions are not thread-safe ("AST constructor
    # recursion depth mismatch" with two), so parallelism comes from --jobs processes.
    # Stateful sequences are left out: the budget goes to 50 cases per operation instead.
    local common=(--max-examples "$EXAMPLES" --checks "$CHECKS" --workers 1 --seed 1
                  --phases examples,coverage,fuzzing
                  --request-timeout 10 --no-color --suppress-health-check all
                  --url "http://127.0.0.1:$port")
    "$SCHEMATHESIS" run "$OUT/$port.openapi.json" "${common[@]}" \
        --report json --report-json-path "$OUT/$port.json" >"$OUT/$port.log" 2>&1 ||
        status=1
    if has_admin "$port"; then
        "$SCHEMATHESIS" run "$OUT/$port.openapi.json" "${common[@]}" \
            --include-name-regex '^GET /admin/' \
            --header "Authorization: Bearer $TOKEN" \
            --report json --report-json-path "$OUT/$port.admin.json" \
            >>"$OUT/$port.log" 2>&1 || status=1
    fi
    printf '[fuzz] :%s %s\n' "$port" "$([ $status = 0 ] && echo passed || echo FAILED)" >&2
    return $status
}
export -f fuzz_one has_admin
export SCHEMATHESIS OUT EXAMPLES CHECKS TOKEN

say "${#PORTS[@]} services, $EXAMPLES examples per operation, $JOBS at once, budget ${BUDGET}s"
started=$SECONDS
status=0
printf '%s\n' "${PORTS[@]}" |
    timeout --kill-after=10 "$BUDGET" xargs -P "$JOBS" -I{} bash -c 'fuzz_one {}' || status=$?
elapsed=$((SECONDS - started))
[ "$status" = 124 ] && say "ERROR: the run passed its budget of ${BUDGET}s and was stopped"

# The counts, from the JSON reports: operations, generated requests, failures.
/usr/bin/python3 scripts/fuzz/summary.py "$OUT" "$elapsed" || status=1
if [ "$status" != 0 ]; then
    say "FAILED: the failing services' output is in $OUT/<port>.log; the first of each:"
    grep -l -E 'FAILURES|Failed|ERRORS' "$OUT"/*.log 2>/dev/null | while read -r log; do
        say "---- $log"
        sed -n '/FAILURES\|ERRORS/,$p' "$log" | head -60 >&2 || true
    done
    exit 1
fi
