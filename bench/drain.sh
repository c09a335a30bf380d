#!/usr/bin/env bash
# Drain rate on the embedded default (SQLite): the web alone
# (`serve --no-workers`, limits lifted as in bench/run.sh) takes a backlog
# of form submissions for DURATION seconds under wrk; it is stopped; then
# one `rally worker` (the default concurrency) turns the backlog into
# prospects, timed from its start until the last timeline entry exists.
# Prints intake rate, drain rate and their ratio (issue #14's target:
# drain >= 0.25 x intake). The load generator runs on the same machine:
# read the figures as ratios within one run.
#
# Usage: bench/drain.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

command -v wrk >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null; }
command -v sqlite3 >/dev/null 2>&1 || { apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq sqlite3 >/dev/null; }
cargo build --release --locked --bin rally >&2
RALLY="$CARGO_TARGET_DIR/release/rally"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    rm -rf "$WORK"
}
trap cleanup EXIT
PORT="${BENCH_PORT:-9301}"
DB="$WORK/rally.db"
export DATABASE_URL="sqlite:$DB" RUST_LOG=warn RALLY_FORM_MIN_FILL_MS=0 \
    RALLY_RATE_IP_PER_SEC=100000000 RALLY_RATE_IP_BURST=100000000 RALLY_MAX_QUEUE_BACKLOG=100000000

echo "machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
(cd "$WORK" && exec "$RALLY" serve --demo --no-workers --bind "127.0.0.1:$PORT" >web.log 2>&1) &
WEB=$!; PIDS+=($WEB)
for _ in $(seq 100); do curl -sf "http://127.0.0.1:$PORT/healthz" >/dev/null 2>&1 && break; sleep 0.1; done
TS=$(curl -s "http://127.0.0.1:$PORT/f/demo" | grep -o 'name="_ts" value="[^"]*"' | sed 's/.*value="//;s/"//')
OUT=$(RALLY_TS="$TS" wrk -t2 -c100 -d"${DURATION}s" -s bench/post.lua "http://127.0.0.1:$PORT")
if ! grep -q "non-2xx/3xx: 0," <<<"$OUT"; then echo "error answers during intake:" >&2; echo "$OUT" >&2; exit 1; fi
INTAKE=$(grep "Requests/sec" <<<"$OUT" | awk '{printf "%d", $2}')
kill "$WEB"; wait "$WEB" 2>/dev/null || true

BACKLOG=$(sqlite3 "$DB" "SELECT (SELECT COUNT(*) FROM jobs_outbox) + (SELECT COUNT(*) FROM Jobs WHERE status <> 'Done')")
DONE_BEFORE=$(sqlite3 "$DB" "SELECT COUNT(*) FROM timeline_entries")
echo "intake, web alone: $INTAKE submissions/s; backlog $BACKLOG jobs ($DONE_BEFORE processed before); load average $(cut -d' ' -f1-3 /proc/loadavg)"

START=$(date +%s.%N)
(cd "$WORK" && exec "$RALLY" worker >worker.log 2>&1) &
WORKER=$!; PIDS+=($WORKER)
TARGET=$((DONE_BEFORE + BACKLOG))
while :; do
    DONE=$(sqlite3 "$DB" "PRAGMA busy_timeout = 5000; SELECT COUNT(*) FROM timeline_entries" | tail -1)
    [ "$DONE" -ge "$TARGET" ] && break
    if ! kill -0 "$WORKER" 2>/dev/null; then echo "the worker died:" >&2; cat "$WORK/worker.log" >&2; exit 1; fi
    sleep 0.05
done
END=$(date +%s.%N)
kill "$WORKER"; wait "$WORKER" 2>/dev/null || true
SECS=$(awk "BEGIN {printf \"%.2f\", $END - $START}")
DRAIN=$(awk "BEGIN {printf \"%d\", $BACKLOG / ($END - $START)}")
DEAD=$(sqlite3 "$DB" "SELECT COUNT(*) FROM Jobs WHERE status = 'Killed' OR (status = 'Failed' AND attempts >= max_attempts)")
DUPES=$(sqlite3 "$DB" "SELECT COUNT(*) - COUNT(DISTINCT submission_key) FROM timeline_entries")
echo "drain, one rally worker: $BACKLOG jobs in ${SECS}s = $DRAIN prospects/s; ratio to intake $(awk "BEGIN {printf \"%.3f\", $DRAIN / $INTAKE}"); dead $DEAD, duplicate entries $DUPES; load average $(cut -d' ' -f1-3 /proc/loadavg)"
