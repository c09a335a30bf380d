#!/usr/bin/env bash
# Prints every figure of README "Performance" (issue #14's targets) in one run:
#   1. throughput baseline: a bare poem "hello" route (examples/hello.rs)
#   2. sustained durable intake (POST /f/demo, each answer after its commit),
#      web alone and with in-process workers, and the ratio to the baseline
#      (web alone: BENCH_ROUNDS rounds, default 3, taking turns with the
#      baseline; the median ratio is the figure)
#   3. drain: the backlog of BENCH_DRAIN_SECS (default 1) seconds of web-alone
#      intake, worked off by one `rally worker` (its default concurrency);
#      its rate (prospects/s) and its ratio to the web-alone intake rate
#   4. audience bursts (`rally rehearse`, default 1,000 and 10,000 people),
#      each on reused and on fresh connections (BENCH_FRESH=0: reused only):
#      errors, p50/p99, connect times, processing after the last answer,
#      duplicates, the server's peak memory (VmHWM)
#   5. a trickle: one submission a second for BENCH_TRICKLE_SECS (default
#      60) seconds, each timed from its answer until it is a prospect, and
#      the workers' watchdog restarts (expected 0)
#   6. with the sqlite backend, the same on Postgres (BENCH_POSTGRES, default
#      the local server; "off" skips it): web intake against hello
#      (BENCH_PG_ROUNDS rounds, default 1), the drain, the trickle
#      (BENCH_PG_TRICKLE_SECS, default BENCH_TRICKLE_SECS)
# Each server gets a fresh database (a throwaway Postgres database, dropped
# at the end). The load generator runs on the same machine; figures are
# comparable within one run, so read them as ratios. A summary of every
# figure is printed last.
#
# Usage: bench/run.sh [seconds] [backend] [burst sizes]
#   backend: sqlite (default, the embedded default), postgres (Postgres for
#   data and the SQL queue), or postgres+sqs (Postgres, jobs on SQS: moto's
#   server, started here).
# A short run: BENCH_ROUNDS=1 BENCH_TRICKLE_SECS=10 bench/run.sh 3 sqlite 1000
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

# drain_sh BACKEND INTAKE_RATE: bench/drain.sh for one backend, its figures
# added to the summary.
drain_sh() {
    local out="$WORK/drain-$1.txt"
    BENCH_INTAKE_RATE=$2 BENCH_DRAIN_POSTGRES=0 bench/drain.sh "$DURATION" "$1" | tee "$out"
    while IFS= read -r line; do note "$line"; done < <(sed -n 's/^summary: //p' "$out")
}

if [ "$BACKEND" = postgres+sqs ]; then
    command -v moto_server >/dev/null 2>&1 || python3 -m pip install --quiet 'moto[server]>=5,<6'
    moto_server -H 127.0.0.1 -p 9500 >/dev/null 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -s http://127.0.0.1:9500 >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "backend: $BACKEND"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load generator on the same machine; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
echo "listen backlog: somaxconn $(cat /proc/sys/net/core/somaxconn)"

"$HELLO" 127.0.0.1:9100 & HELLO_PID=$!; PIDS+=($HELLO_PID)
wait_up http://127.0.0.1:9100/hello
serve web 9101 --no-workers
intake_rounds "$BACKEND" 9101 "${BENCH_ROUNDS:-3}"
WEB_RATE=$WEB_MEDIAN
stop 9101

serve both 9102
RALLY_TS=$(render_time 9102) warm -s bench/post.lua http://127.0.0.1:9102
BOTH_RPS=$(intake_rps 9102)
echo "sustained intake, with workers: $BOTH_RPS submissions/s (ratio $(ratio "$BOTH_RPS" "$HELLO_MEDIAN") to the baseline's median)"
note "$BACKEND intake with in-process workers: $BOTH_RPS/s; ratio $(ratio "$BOTH_RPS" "$HELLO_MEDIAN")"
stop 9102

drain_sh "$BACKEND" "$WEB_RATE"

for people in $BURSTS; do
    burst "$people" reused
    [ "$FRESH" = 1 ] && burst "$people" fresh
done

trickle "$BACKEND" 9104 "$TRICKLE_SECS"

if [ "$PRIMARY" = sqlite ] && [ "$PG_SERVER" != off ]; then
    if psql "$PG_SERVER/postgres" -qc 'SELECT 1' >/dev/null 2>&1; then
        BACKEND=postgres
        echo "=== Postgres ($PG_SERVER)"
        serve pgweb 9111 --no-workers
        intake_rounds postgres 9111 "${BENCH_PG_ROUNDS:-1}"
        PG_RATE=$WEB_MEDIAN
        stop 9111
        drain_sh postgres "$PG_RATE"
        trickle postgres 9114 "${BENCH_PG_TRICKLE_SECS:-$TRICKLE_SECS}"
        BACKEND=$PRIMARY
    else
        echo "=== Postgres skipped: no answer from $PG_SERVER"
        note "Postgres: skipped (no answer from $PG_SERVER)"
    fi
fi
kill "$HELLO_PID" 2>/dev/null || true

echo
echo "=== summary (load average now: $(cut -d' ' -f1-3 /proc/loadavg))"
printf '%s\n' "${SUMMARY[@]}"
