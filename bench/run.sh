#!/usr/bin/env bash
# Reproduces every figure in README "Performance" on this machine:
#   1. throughput baseline: a bare poem "hello" route (examples/hello.rs)
#   2. sustained durable intake (POST /f/demo, each answer after its commit),
#      web alone and with in-process workers, and the ratio to the baseline
#      (web alone: BENCH_ROUNDS rounds, default 3, taking turns with the
#      baseline; the median ratio is the figure)
#   3. audience bursts of 1,000 / 5,000 / 10,000 people with `rally rehearse`,
#      with drain time and the server's peak memory (VmHWM)
# The load generator runs on the same machine; figures are comparable
# within one run, so read them as ratios.
#
# Usage: bench/run.sh [seconds] [backend] [burst sizes]
#   backend: sqlite (default, the embedded default), postgres (Postgres for
#   data and the SQL queue, on $BENCH_POSTGRES, default the local server), or
#   postgres+sqs (Postgres, jobs on SQS: moto's server, started here).
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
BACKEND="${2:-sqlite}"
BURSTS="${3:-1000 5000 10000}"
PG_SERVER="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin rally --example hello >&2
RALLY="$CARGO_TARGET_DIR/release/rally"
HELLO="$CARGO_TARGET_DIR/release/examples/hello"
WORK="$(mktemp -d)"
PIDS=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for db in "${DATABASES[@]}"; do psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT

wait_up() { for _ in $(seq 100); do curl -sf "$1" >/dev/null 2>&1 && return 0; sleep 0.1; done; echo "no answer from $1" >&2; exit 1; }
# wrk's Requests/sec counts every answer; an error answer must not pass for
# throughput, so any non-2xx/3xx stops the run.
rps() {
    local out; out=$(cat)
    if ! grep -q "non-2xx/3xx: 0," <<<"$out" && grep -q "non-2xx/3xx" <<<"$out"; then
        echo "error answers during the run:" >&2; echo "$out" >&2; exit 1
    fi
    grep "Requests/sec" <<<"$out" | awk '{printf "%d", $2}'
}

# The backend's environment for every rally process of a server NAME.
DATABASES=()
backend_env() {
    local name=$1
    case "$BACKEND" in
        sqlite) echo "DATABASE_URL=sqlite:$WORK/$name/rally.db" ;;
        postgres|postgres+sqs)
            echo "DATABASE_URL=$PG_SERVER/bench_$name"
            echo "RALLY_SECRET_KEY=bench-secret-key-long-enough-for-hmac-signing"
            if [ "$BACKEND" = postgres+sqs ]; then
                echo "RALLY_QUEUE_BACKEND=sqs"
                echo "RALLY_SQS_QUEUE_PREFIX=bench-$name"
                echo "AWS_ENDPOINT_URL_SQS=http://127.0.0.1:9500"
                echo "AWS_REGION=us-east-1"
                echo "AWS_ACCESS_KEY_ID=bench"
                echo "AWS_SECRET_ACCESS_KEY=bench"
            fi ;;
        *) echo "unknown backend $BACKEND (sqlite, postgres, postgres+sqs)" >&2; exit 2 ;;
    esac
}
database_url() { backend_env "$1" | sed -n 's/^DATABASE_URL=//p'; }

# serve NAME PORT [ARGS...]: a fresh Rally with the demo form, in its own
# folder and database. The per-address rate limit is lifted: the load
# generator is one address sending far more than any venue, and a 429 is
# not durable intake. So is the job-backlog limit (500,000 unfinished jobs by
# default): the web-alone run leaves every job unprocessed by design, and a
# 503 is not durable intake either.
serve() {
    local name=$1 port=$2; shift 2
    mkdir -p "$WORK/$name"
    if [ "$BACKEND" != sqlite ]; then
        psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS bench_$name WITH (FORCE)" -c "CREATE DATABASE bench_$name"
        DATABASES+=("bench_$name")
    fi
    if [ "$BACKEND" = postgres+sqs ]; then
        env $(backend_env "$name") "$RALLY" queues create >/dev/null
    fi
    (cd "$WORK/$name" && exec env $(backend_env "$name") RUST_LOG=warn RALLY_FORM_MIN_FILL_MS=0 \
        RALLY_RATE_IP_PER_SEC=100000000 RALLY_RATE_IP_BURST=100000000 RALLY_MAX_QUEUE_BACKLOG=100000000 \
        RALLY_WORKER_CONCURRENCY="${BENCH_WORKER_CONCURRENCY:-4}" \
        "$RALLY" serve --demo --bind "127.0.0.1:$port" "$@" >log 2>&1) &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$port/healthz"
}
render_time() { curl -s "http://127.0.0.1:$1/f/demo" | grep -o 'name="_ts" value="[^"]*"' | sed 's/.*value="//;s/"//'; }
pid_of() { pgrep -f "bind 127.0.0.1:$1" | head -1; }
# Each measurement gets the machine to itself: stop the previous server
# (a server with a backlog keeps its workers busy long after wrk stops).
stop() { kill "$(pid_of "$1")" 2>/dev/null || true; sleep 1; }

if [ "$BACKEND" = postgres+sqs ]; then
    command -v moto_server >/dev/null 2>&1 || python3 -m pip install --quiet 'moto[server]>=5,<6'
    moto_server -H 127.0.0.1 -p 9500 >/dev/null 2>&1 & PIDS+=($!)
    for _ in $(seq 100); do curl -s http://127.0.0.1:9500 >/dev/null 2>&1 && break; sleep 0.1; done
fi
echo "backend: $BACKEND"
echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load generator on the same machine"

"$HELLO" 127.0.0.1:9100 & HELLO_PID=$!; PIDS+=($HELLO_PID)
wait_up http://127.0.0.1:9100/hello
serve web 9101 --no-workers
# Every throughput run is preceded by a 3-second warm-up of the same load
# (connections, allocator, database and WAL files), not counted.
warm() { wrk -t2 -c100 -d3s "$@" >/dev/null; }
# The baseline and the web-alone intake take turns, ROUNDS times: on a
# shared machine the speed of either swings from minute to minute, so each
# round's ratio compares two runs a few seconds apart, and the median of
# the rounds is the figure. Neither server does anything while the other
# is measured (the web-alone server runs no workers).
ROUNDS="${BENCH_ROUNDS:-3}"
RATIOS=()
for round in $(seq "$ROUNDS"); do
    warm http://127.0.0.1:9100/hello
    HELLO_RPS=$(wrk -t2 -c100 -d"${DURATION}s" http://127.0.0.1:9100/hello | rps)
    RALLY_TS=$(render_time 9101) warm -s bench/post.lua http://127.0.0.1:9101
    WEB_RPS=$(RALLY_TS=$(render_time 9101) wrk -t2 -c100 -d"${DURATION}s" -s bench/post.lua http://127.0.0.1:9101 | rps)
    RATIO=$(awk "BEGIN {printf \"%.2f\", $WEB_RPS/$HELLO_RPS}")
    RATIOS+=("$RATIO")
    echo "round $round: baseline (bare poem hello, wrk -t2 -c100) $HELLO_RPS req/s; sustained intake, web alone $WEB_RPS submissions/s; ratio $RATIO"
done
echo "sustained intake, web alone: median ratio $(printf '%s\n' "${RATIOS[@]}" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}') over $ROUNDS rounds"
kill "$HELLO_PID"; stop 9101

serve both 9102
RALLY_TS=$(render_time 9102) warm -s bench/post.lua http://127.0.0.1:9102
BOTH_RPS=$(RALLY_TS=$(render_time 9102) wrk -t2 -c100 -d"${DURATION}s" -s bench/post.lua http://127.0.0.1:9102 | rps)
echo "sustained intake, with workers: $BOTH_RPS submissions/s (ratio $(awk "BEGIN {printf \"%.2f\", $BOTH_RPS/$HELLO_RPS}") to the last round's baseline)"
stop 9102

for people in $BURSTS; do
    serve "burst$people" $((9200 + people / 1000))
    port=$((9200 + people / 1000))
    echo "--- burst of $people people"
    "$RALLY" rehearse --url "http://127.0.0.1:$port/f/demo" --people "$people" --think-ms 500 \
        --database "$(database_url "burst$people")" --quiet
    echo "peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$(pid_of $port)/status")"
    stop "$port"
done
