# Shared by bench/run.sh and bench/drain.sh (sourced, with the caller's
# arguments: [seconds] [backend] [burst sizes]): settings, the release
# build, a work folder removed at exit, and the helpers that start
# servers and measure them.
DURATION="${1:-10}"
BACKEND="${2:-sqlite}"
PRIMARY="$BACKEND"
BURSTS="${3:-1000 10000}"
PG_SERVER="${BENCH_POSTGRES:-postgres://postgres@127.0.0.1:5432}"
DRAIN_SECS="${BENCH_DRAIN_SECS:-1}"
TRICKLE_SECS="${BENCH_TRICKLE_SECS:-60}"
FRESH="${BENCH_FRESH:-1}"
export CARGO_TARGET_DIR="${CARGO_TARGET_DIR:-target}"

if ! command -v wrk >/dev/null 2>&1; then
    apt-get update -qq && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq wrk >/dev/null
fi
# BENCH_RALLY: another rally binary to measure (an older build, for a
# before/after figure); then nothing is built.
[ -n "${BENCH_RALLY:-}" ] || cargo build --release --locked --bin rally --example hello >&2
RALLY="${BENCH_RALLY:-$CARGO_TARGET_DIR/release/rally}"
HELLO="$CARGO_TARGET_DIR/release/examples/hello"
WORK="$(mktemp -d)"
PIDS=()
DATABASES=()
SUMMARY=()
cleanup() {
    for pid in "${PIDS[@]}"; do kill "$pid" 2>/dev/null || true; done
    sleep 1
    for db in "${DATABASES[@]}"; do psql "$PG_SERVER/postgres" -qc "DROP DATABASE IF EXISTS $db WITH (FORCE)" >/dev/null 2>&1 || true; done
    rm -rf "$WORK"
}
trap cleanup EXIT
note() { SUMMARY+=("$*"); }

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
median() { printf '%s\n' "$@" | sort -n | awk '{a[NR]=$1} END {print a[int((NR+1)/2)]}'; }
ratio() { awk "BEGIN {printf \"%.2f\", $1/$2}"; }
now() { date +%s.%N; }

# The backend's environment for every rally process of a server NAME.
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
    # REUSE=1: start again on the database as it is (Postgres's is made anew otherwise).
    if [ "$BACKEND" != sqlite ] && [ -z "${REUSE:-}" ]; then
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
metric() { curl -s "http://127.0.0.1:$1/metrics" | awk -v m="$2" 'index($0, m) == 1 {s += $NF} END {printf "%d", s}'; }
processed() { metric "$1" "rally_submissions_processed_total "; }
restarts() { metric "$1" "rally_job_worker_restarts_total{"; }
# Every throughput run is preceded by a 3-second warm-up of the same load
# (connections, allocator, database and WAL files), not counted.
warm() { wrk -t2 -c100 -d3s "$@" >/dev/null; }
hello_rps() { warm http://127.0.0.1:9100/hello; wrk -t2 -c100 -d"${DURATION}s" http://127.0.0.1:9100/hello | rps; }
intake_rps() {
    local port=$1 secs=${2:-$DURATION}
    RALLY_TS=$(render_time "$port") wrk -t2 -c100 -d"${secs}s" -s bench/post.lua "http://127.0.0.1:$port" | rps
}

# intake_rounds LABEL PORT ROUNDS: hello and web-alone intake take turns,
# ROUNDS times: on a shared machine the speed of either swings from minute
# to minute, so each round's ratio compares two runs a few seconds apart,
# and the median of the rounds is the figure. Neither server does anything
# while the other is measured (the web-alone server runs no workers).
# Sets WEB_MEDIAN, HELLO_MEDIAN, RATIO_MEDIAN.
intake_rounds() {
    local label=$1 port=$2 rounds=$3 hellos=() webs=() ratios=()
    for round in $(seq "$rounds"); do
        local hello web
        hello=$(hello_rps)
        RALLY_TS=$(render_time "$port") warm -s bench/post.lua "http://127.0.0.1:$port"
        web=$(intake_rps "$port")
        hellos+=("$hello"); webs+=("$web"); ratios+=("$(ratio "$web" "$hello")")
        echo "round $round: baseline (bare poem hello, wrk -t2 -c100) $hello req/s; $label intake, web alone $web submissions/s; ratio $(ratio "$web" "$hello")"
    done
    HELLO_MEDIAN=$(median "${hellos[@]}"); WEB_MEDIAN=$(median "${webs[@]}"); RATIO_MEDIAN=$(median "${ratios[@]}")
    echo "$label intake, web alone: median $WEB_MEDIAN submissions/s, hello median $HELLO_MEDIAN req/s, median ratio $RATIO_MEDIAN over $rounds rounds"
    note "$label web intake (serve --no-workers): $WEB_MEDIAN/s; hello $HELLO_MEDIAN/s; ratio $RATIO_MEDIAN (median of $rounds: ${ratios[*]})"
}

# field FILE PATTERN N: the Nth word of the line of FILE starting PATTERN.
field() { awk -v p="$2" -v n="$3" 'index($0, p) == 1 {print $n; exit}' "$1"; }

# The kernel's count of connections dropped at full listen queues (SYNs
# refused while the accept queue was full), from /proc/net/netstat:
# "overflows drops".
listen_drops() { awk '/^TcpExt:/ {if (!h) {for (i=1;i<=NF;i++) n[i]=$i; h=1} else {for (i=1;i<=NF;i++) {if (n[i]=="ListenOverflows") o=$i; if (n[i]=="ListenDrops") d=$i}}} END {print o+0, d+0}' /proc/net/netstat; }
# The listen backlog the kernel applied to PORT (ss's Send-Q of a listener).
applied_backlog() { ss -Hltn "sport = :$1" | awk '{print $3; exit}'; }

# burst PEOPLE MODE: `rally rehearse` against a fresh server, everyone at once.
burst() {
    local people=$1 mode=$2 port flags=()
    port=$((9200 + people / 1000))
    if [ "$mode" = fresh ]; then port=$((port + 50)); flags+=(--fresh-connections); fi
    serve "burst$people$mode" "$port"
    echo "--- burst of $people people, $mode connections"
    local out="$WORK/burst$people$mode.txt" drops_before backlog
    drops_before=$(listen_drops); backlog=$(applied_backlog "$port")
    "$RALLY" rehearse --url "http://127.0.0.1:$port/f/demo" --people "$people" --think-ms 500 \
        --database "$(database_url "burst$people$mode")" --quiet "${flags[@]}" | tee "$out"
    local rss; rss=$(awk '/VmHWM/ {printf "%.0f MiB", $2/1024}' "/proc/$(pid_of "$port")/status")
    echo "peak RSS: $rss"
    local drops_after overflows drops
    drops_after=$(listen_drops)
    overflows=$(( ${drops_after% *} - ${drops_before% *} )); drops=$(( ${drops_after#* } - ${drops_before#* } ))
    echo "listen backlog applied: $backlog; ListenOverflows +$overflows, ListenDrops +$drops (whole machine)"
    local accepted errors connect=""
    accepted=$(field "$out" "accepted:" 2)
    errors=$((people - accepted))
    [ "$mode" = fresh ] && connect="; connect p50/p90/p99 $(field "$out" "connect:" 3)/$(field "$out" "connect:" 6)/$(field "$out" "connect:" 9) ms"
    note "burst $people, $mode: $errors errors; p50 $(field "$out" "latency:" 3) ms, p99 $(field "$out" "latency:" 9) ms$connect; processed $(field "$out" "drained:" 2) ms after the last answer; duplicates $(field "$out" "duplicates:" 2); peak RSS $rss; backlog $backlog, ListenOverflows +$overflows"
    stop "$port"
}

# trickle LABEL PORT SECONDS: one submission a second, each timed from its
# answer until it is a prospect.
trickle() {
    local label=$1 port=$2 secs=$3 name; name="trickle$(tr -cd 'a-z' <<<"$1")"
    serve "$name" "$port"
    echo "--- trickle ($label): one submission a second for $secs s"
    local out="$WORK/$name.txt"
    "$RALLY" rehearse --url "http://127.0.0.1:$port/f/demo" --people "$secs" --think-ms 500 \
        --trickle-ms 1000 --database "$(database_url "$name")" --quiet | tee "$out"
    local watchdog; watchdog=$(restarts "$port")
    echo "worker watchdog restarts: $watchdog"
    note "$label trickle ($secs s): ack -> prospect p50 $(field "$out" "ack → processed:" 5) ms, p99 $(field "$out" "ack → processed:" 11) ms, max $(field "$out" "ack → processed:" 14) ms; watchdog restarts $watchdog"
    stop "$port"
}
