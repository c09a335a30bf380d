#!/usr/bin/env bash
# The drain figure alone (issue #14's target: drain >= 0.25 x web intake):
# the web alone (`serve --no-workers`, limits lifted) takes BENCH_DRAIN_SECS
# (default 1) seconds of intake into a fresh database; then one
# `rally worker` (its default concurrency) turns that backlog into
# prospects while the web process reports progress on /metrics. The rate
# counts from the first prospect to the last; the ratio is to the
# web-alone intake rate: BENCH_INTAKE_RATE if given (bench/run.sh passes
# its median), else measured here (BENCH_ROUNDS rounds of [seconds], the
# median). With the sqlite backend the same follows on Postgres
# (BENCH_POSTGRES, default the local server; "off" skips it; so does
# BENCH_DRAIN_POSTGRES=0, as bench/run.sh sets: it drains Postgres in its
# own Postgres part). Lines starting "summary: " are the figures.
#
# Usage: bench/drain.sh [seconds] [backend]
# A short run: BENCH_ROUNDS=1 bench/drain.sh 3
set -euo pipefail
cd "$(dirname "$0")/.."
source bench/lib.sh

# drain LABEL PORT INTAKE_RATE: DRAIN_SECS of web-alone intake into a fresh
# database, then one `rally worker` (default concurrency) works it off
# while the web process (no workers) reports progress on /metrics.
drain() {
    local label=$1 port=$2 intake=$3 name; name="drain$(tr -cd 'a-z' <<<"$1")"
    serve "$name" "$port" --no-workers
    local sent; sent=$(intake_rps "$port" "$DRAIN_SECS")
    sleep 1
    local backlog; backlog=$(metric "$port" 'rally_queue_jobs{queue="rally.form_submission",state="pending"}')
    local start first="" done_at="" n=0
    start=$(now)
    (cd "$WORK/$name" && exec env $(backend_env "$name") RUST_LOG=warn "$RALLY" worker >worker.log 2>&1) &
    local worker=$!; PIDS+=($worker)
    local deadline=$(( $(date +%s) + 600 ))
    while [ "$(date +%s)" -lt "$deadline" ]; do
        n=$(processed "$port")
        [ -z "$first" ] && [ "$n" -gt 0 ] && first=$(now)
        if [ "$n" -ge "$backlog" ]; then done_at=$(now); break; fi
        sleep 0.1
    done
    kill "$worker" 2>/dev/null || true
    if [ -z "$done_at" ]; then
        echo "$label drain: only $n of $backlog processed within 600 s"
        note "$label drain: only $n of $backlog processed within 600 s"
    else
        local total rate
        total=$(awk "BEGIN {printf \"%.1f\", $done_at - $start}")
        rate=$(awk "BEGIN {printf \"%d\", $backlog / ($done_at - $first)}")
        echo "$label drain: one rally worker processed $backlog submissions (${DRAIN_SECS} s of intake at $sent/s) in $total s from its start: $rate prospects/s from the first, ratio $(ratio "$rate" "$intake") to the web-alone intake ($intake/s)"
        note "$label drain (one rally worker): $rate prospects/s; ratio $(ratio "$rate" "$intake") to web intake; $backlog in $total s"
    fi
    stop "$port"
}

# web_rate GIVEN LABEL PORT: sets RATE to the web-alone intake rate
# (submissions/s): GIVEN if not empty, else the median of BENCH_ROUNDS runs.
web_rate() {
    local given=$1 label=$2 port=$3 rates=()
    if [ -n "$given" ]; then RATE=$given; return; fi
    serve "rate$(tr -cd 'a-z' <<<"$label")" "$port" --no-workers
    RALLY_TS=$(render_time "$port") warm -s bench/post.lua "http://127.0.0.1:$port"
    for _ in $(seq "${BENCH_ROUNDS:-3}"); do rates+=("$(intake_rps "$port")"); done
    stop "$port"
    RATE=$(median "${rates[@]}")
    echo "$label intake, web alone: ${rates[*]} submissions/s; median $RATE"
}

echo "backend: $BACKEND; machine: $(nproc) cores; load average at start: $(cut -d' ' -f1-3 /proc/loadavg)"
web_rate "${BENCH_INTAKE_RATE:-}" "$BACKEND" 9121
drain "$BACKEND" 9103 "$RATE"
if [ "$PRIMARY" = sqlite ] && [ "$PG_SERVER" != off ] && [ "${BENCH_DRAIN_POSTGRES:-1}" != 0 ]; then
    if psql "$PG_SERVER/postgres" -qc 'SELECT 1' >/dev/null 2>&1; then
        BACKEND=postgres
        web_rate "${BENCH_PG_INTAKE_RATE:-}" postgres 9122
        drain postgres 9113 "$RATE"
        BACKEND=$PRIMARY
    else
        note "Postgres drain: skipped (no answer from $PG_SERVER)"
    fi
fi
echo "load average now: $(cut -d' ' -f1-3 /proc/loadavg)"
printf 'summary: %s\n' "${SUMMARY[@]}"
