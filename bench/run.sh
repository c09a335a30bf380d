#!/usr/bin/env bash
# Reproduces every figure in README "Performance" on this machine:
#   1. throughput baseline: a bare poem "hello" route (examples/hello.rs)
#   2. sustained durable intake (POST /f/demo, each answer after its commit),
#      web alone and with in-process workers, and the ratio to the baseline
#   3. audience bursts of 1,000 / 5,000 / 10,000 people with `rally rehearse`,
#      with drain time and the server's peak memory (VmHWM)
# The load generator runs on the same machine; figures are comparable
# within one run, so read them as ratios. Usage: bench/run.sh [seconds]
set -euo pipefail
cd "$(dirname "$0")/.."
DURATION="${1:-10}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
cargo build --release --locked --bin rally --example hello >&2
RALLY="$CARGO_TARGET_DIR/release/rally"
HELLO="$CARGO_TARGET_DIR/release/examples/hello"
WORK="$(mktemp -d)"
PIDS=()
cleanup() { for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done; rm -rf "$WORK"; }
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

# serve NAME PORT [ARGS...]: a fresh Rally with the demo form, in its own folder.
# The per-address rate limit is lifted: the load generator is one address
# sending far more than any venue, and a 429 is not durable intake.
serve() {
    local name=$1 port=$2; shift 2
    mkdir -p "$WORK/$name"
    (cd "$WORK/$name" && RUST_LOG=warn RALLY_FORM_MIN_FILL_MS=0 \
        RALLY_RATE_IP_PER_SEC=100000000 RALLY_RATE_IP_BURST=100000000 \
        exec "$RALLY" serve --demo --bind "127.0.0.1:$port" "$@" >log 2>&1) &
    PIDS+=($!)
    wait_up "http://127.0.0.1:$port/healthz"
}
render_time() { curl -s "http://127.0.0.1:$1/f/demo" | grep -o 'name="_ts" value="[^"]*"' | sed 's/.*value="//;s/"//'; }
pid_of() { pgrep -f "bind 127.0.0.1:$1" | head -1; }
# Each measurement gets the machine to itself: stop the previous server
# (a server with a backlog keeps its workers busy long after wrk stops).
stop() { kill "$(pid_of "$1")" 2>/dev/null || true; sleep 1; }

echo "machine: $(nproc) cores, $(awk '/MemTotal/ {printf "%.0f GiB", $2/1048576}' /proc/meminfo), load generator on the same machine"

"$HELLO" 127.0.0.1:9100 & HELLO_PID=$!; PIDS+=($HELLO_PID)
wait_up http://127.0.0.1:9100/hello
HELLO_RPS=$(wrk -t2 -c100 -d"${DURATION}s" http://127.0.0.1:9100/hello | rps)
echo "baseline (bare poem hello, wrk -t2 -c100): $HELLO_RPS req/s"
kill "$HELLO_PID"; sleep 1

serve web 9101 --no-workers
WEB_RPS=$(RALLY_TS=$(render_time 9101) wrk -t2 -c100 -d"${DURATION}s" -s bench/post.lua http://127.0.0.1:9101 | rps)
echo "sustained intake, web alone:    $WEB_RPS submissions/s (ratio $(awk "BEGIN {printf \"%.2f\", $WEB_RPS/$HELLO_RPS}"))"
stop 9101

serve both 9102
BOTH_RPS=$(RALLY_TS=$(render_time 9102) wrk -t2 -c100 -d"${DURATION}s" -s bench/post.lua http://127.0.0.1:9102 | rps)
echo "sustained intake, with workers: $BOTH_RPS submissions/s (ratio $(awk "BEGIN {printf \"%.2f\", $BOTH_RPS/$HELLO_RPS}"))"
stop 9102

for people in 1000 5000 10000; do
    serve "burst$people" $((9200 + people / 1000))
    port=$((9200 + people / 1000))
    echo "--- burst of $people people"
    "$RALLY" rehearse --url "http://127.0.0.1:$port/f/demo" --people "$people" --think-ms 500 \
        --database "sqlite:$WORK/burst$people/rally.db" --quiet
    echo "peak RSS: $(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$(pid_of $port)/status")"
    stop "$port"
done
