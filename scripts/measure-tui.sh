#!/usr/bin/env bash
# Measures the control room itself: CPU and memory of the real `ms-tui` binary, running in
# tmux against the running stack, and the frame draw times it logs.
#
#   bash scripts/measure-tui.sh                 # 5 min, logs of all services following
#   MEASURE_KEYS="6 + l" bash scripts/measure-tui.sh
#                                               # the same with load: S6 at 200 req/s per
#                                               # mode (S6 starts at 100; `+` steps to 200)
#
#   MEASURE_SECONDS=300   how long to sample (after the keys are sent)
#   MEASURE_KEYS="a"      tmux key names sent first, one word each (default `a`: the logs
#                         pane shows every service interleaved, the heaviest view)
#   MEASURE_BIN=target/release/ms-tui
#
# Needs the stack up and healthy (`ms-tui up`) and tmux. Prints CPU % of one core (mean and
# the worst 5 s window) and RSS (mean, max) from /proc, then ms-tui's own frame report
# (count, mean and worst draw time), and what the screen showed at the end.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

SECONDS_TO_RUN=${MEASURE_SECONDS:-300}
read -r -a KEYS <<<"${MEASURE_KEYS:-a}"
BIN=${MEASURE_BIN:-target/release/ms-tui}
SESSION=ms-tui-measure-$$
LOG=$(mktemp /tmp/ms-tui-measure.XXXXXX.log)
SAMPLE=5

[ -x "$BIN" ] || { echo "$BIN missing: cargo build --release -p tui" >&2; exit 1; }
"$BIN" status >/dev/null || { echo "the stack is not up and healthy: ms-tui up" >&2; exit 1; }

trap 'tmux kill-session -t "$SESSION" 2>/dev/null || true' EXIT
tmux new-session -d -s "$SESSION" -x 250 -y 60 "exec env MS_TUI_LOG_FILE=$LOG $BIN --no-up"
sleep 1
PID=$(tmux list-panes -t "$SESSION" -F '#{pane_pid}')
[ "$(cat "/proc/$PID/comm")" = ms-tui ] || { echo "pane $PID is not ms-tui" >&2; exit 1; }
for _ in $(seq 1 60); do
    tmux capture-pane -p -t "$SESSION" | grep -q 'running' && break
    sleep 1
done
for key in "${KEYS[@]}"; do
    tmux send-keys -t "$SESSION" "$key"
    sleep 0.5
done
echo "ms-tui pid $PID, keys: ${KEYS[*]:-none}; sampling every ${SAMPLE}s for ${SECONDS_TO_RUN}s"

TICK=$(getconf CLK_TCK)
cpu_ticks() { awk '{ print $14 + $15 }' "/proc/$PID/stat"; }
rss_kib() { awk '/^VmRSS:/ { print $2 }' "/proc/$PID/status"; }

samples=()
rss=()
start_ticks=$(cpu_ticks)
started=$(date +%s.%N)
prev=$start_ticks
end=$(($(date +%s) + SECONDS_TO_RUN))
while [ "$(date +%s)" -lt "$end" ]; do
    sleep "$SAMPLE"
    now=$(cpu_ticks)
    samples+=("$(awk -v d=$((now - prev)) -v t="$TICK" -v s="$SAMPLE" 'BEGIN { printf "%.1f", 100 * d / t / s }')")
    rss+=("$(rss_kib)")
    prev=$now
done
elapsed=$(awk -v a="$started" -v b="$(date +%s.%N)" 'BEGIN { print b - a }')
total=$(($(cpu_ticks) - start_ticks))

printf '%s\n' "${samples[@]}" | awk -v total="$total" -v t="$TICK" -v e="$elapsed" '
    { if ($1 > max) max = $1 }
    END { printf "CPU: mean %.1f %% of a core over %.0f s, worst %ds window %.1f %%\n", 100 * total / t / e, e, '"$SAMPLE"', max }'
printf '%s\n' "${rss[@]}" | awk '
    { sum += $1; if ($1 > max) max = $1 }
    END { printf "RSS: mean %.1f MiB, max %.1f MiB (%d samples)\n", sum / NR / 1024, max / 1024, NR }'

screen=$(tmux capture-pane -p -t "$SESSION")
echo "the screen at the end (top band and status line):"
head -n 12 <<<"$screen" | cut -c1-250
tail -n 1 <<<"$screen"

tmux send-keys -t "$SESSION" q
for _ in $(seq 1 20); do
    [ -d "/proc/$PID" ] || break
    sleep 0.5
done
echo "frame draw times (ms-tui's own report, $LOG):"
grep -E 'frames in the last|frames drawn' "$LOG" | tail -n 3 | sed 's/^/  /' || echo "  (none logged)"
