#!/usr/bin/env bash
# The rep's day at scale (issue #15, "Done means"): the demo organization
# seeded with PROSPECTS prospects (default 100,000) and ENTRIES timeline
# entries (default 1,000,000: form submissions, notes and stage moves),
# 2,000 open tasks of its owner and 5 tags; then, signed in as the owner,
# REQUESTS sequential requests (default 200, after 20 not counted) of each
# page below, and their p50/p95/max in ms (curl's total time, on loopback):
#   - the home page (`/`);
#   - a filtered prospect list (`/prospects?stage=contacted&sort=activity`);
#   - the list filtered by owner and tag, newest first;
#   - a search (`/prospects?q=company+42`).
# The target (#15): p95 <= 150 ms for the home page and a filtered list on
# the embedded default; the Postgres figure is reported beside it.
#
# Usage: bench/workspace.sh [backend: sqlite|postgres|both] [prospects] [entries] [requests]
# A short run: bench/workspace.sh sqlite 10000 100000 50
set -euo pipefail
cd "$(dirname "$0")/.."
WHICH="${1:-both}"
PROSPECTS="${2:-100000}"
ENTRIES="${3:-1000000}"
REQUESTS="${4:-200}"
set -- 10 sqlite
source bench/lib.sh

# The seed, in the database's own SQL (one statement per table: a
# generated series). Prospect i: created i minutes ago; stage, owner (every
# third unassigned) and company cycle; ENTRIES/PROSPECTS entries each,
# spaced a minute apart, the first of them its form submission.
seed_sql() {
    local org=$1 owner=$2 form=$3 now=$4 series_p series_e dialect=$5 per=$((ENTRIES / PROSPECTS))
    if [ "$dialect" = sqlite ]; then
        series_p="WITH RECURSIVE n(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM n WHERE i < $PROSPECTS) SELECT i FROM n"
        series_e="WITH RECURSIVE n(i) AS (SELECT 0 UNION ALL SELECT i + 1 FROM n WHERE i < $ENTRIES - 1) SELECT i FROM n"
    else
        series_p="SELECT generate_series(CAST(1 AS BIGINT), $PROSPECTS) AS i"
        series_e="SELECT generate_series(CAST(0 AS BIGINT), $ENTRIES - 1) AS i"
    fi
    cat <<SQL
BEGIN;
INSERT INTO prospects (organization_id, email, name, phone, company, source, created_at, updated_at,
                       owner_user_id, stage, search_text, last_activity_at)
SELECT $org, 'p' || i || '@example.com', 'Prospect ' || i, '+1 555 ' || (1000000 + i),
       'Company ' || (i % 500), 'form:demo', $now - i * 60000, $now - i * 60000,
       CASE WHEN i % 3 = 0 THEN NULL ELSE $owner END,
       CASE i % 6 WHEN 0 THEN 'new' WHEN 1 THEN 'contacted' WHEN 2 THEN 'engaged'
                  WHEN 3 THEN 'hot' WHEN 4 THEN 'customer' ELSE 'lost' END,
       'prospect ' || i || chr(10) || 'p' || i || '@example.com' || chr(10) || 'company ' || (i % 500)
           || chr(10) || '+1 555 ' || (1000000 + i) || chr(10) || '1555' || (1000000 + i),
       $now - i * 60000
FROM ($series_p) AS s;
INSERT INTO prospect_tags (prospect_id, tag)
SELECT p.id, CASE p.id % 5 WHEN 0 THEN 'vip' WHEN 1 THEN 'expo' WHEN 2 THEN 'partner' WHEN 3 THEN 'webinar' ELSE 'trial' END
FROM prospects p WHERE p.organization_id = $org;
INSERT INTO timeline_entries (prospect_id, kind, submission_key, form_id, data, created_at)
SELECT p.id,
       CASE WHEN e.i / $PROSPECTS = 0 THEN 'form_submission' WHEN e.i % 2 = 0 THEN 'note' ELSE 'stage' END,
       CASE WHEN e.i / $PROSPECTS = 0 THEN 'bench-' || e.i END,
       CASE WHEN e.i / $PROSPECTS = 0 THEN $form END,
       CASE WHEN e.i / $PROSPECTS = 0 THEN '{"name":"' || p.name || '","email":"' || p.email || '","consent":true}'
            WHEN e.i % 2 = 0 THEN '{"note":"Called, left a message.","by":"Demo Owner"}'
            ELSE '{"from":"new","to":"contacted","by":"Demo Owner"}' END,
       p.created_at + (e.i / $PROSPECTS) * 60000
FROM ($series_e) AS e
JOIN prospects p ON p.organization_id = $org AND p.deleted_at IS NULL
    AND p.email = 'p' || (e.i % $PROSPECTS + 1) || '@example.com';
INSERT INTO tasks (organization_id, prospect_id, user_id, kind, note, due_at, created_at)
SELECT $org, p.id, $owner, 'call', 'Follow up', $now + (p.id % 96 - 48) * 3600000, $now
FROM prospects p WHERE p.organization_id = $org AND p.id % ($PROSPECTS / 2000 + 1) = 0;
COMMIT;
SQL
    [ "$per" -ge 1 ] || { echo "ENTRIES must be at least PROSPECTS" >&2; exit 2; }
}

run_sql() {
    local name=$1
    if [ "$BACKEND" = sqlite ]; then sqlite3 -bail "$WORK/$name/rally.db"; else psql -q -v ON_ERROR_STOP=1 "$(database_url "$name")"; fi
}
scalar() { local name=$1; shift; if [ "$BACKEND" = sqlite ]; then sqlite3 "$WORK/$name/rally.db" "$*"; else psql -Atq "$(database_url "$name")" -c "$*"; fi; }

# p50/p95/max (ms) of REQUESTS signed-in GETs of PATH.
latency() {
    local port=$1 path=$2 jar=$3 times=()
    for _ in $(seq 20); do curl -s -o /dev/null -b "$jar" "http://127.0.0.1:$port$path"; done
    local code; code=$(curl -s -o /dev/null -w '%{http_code}' -b "$jar" "http://127.0.0.1:$port$path")
    [ "$code" = 200 ] || { echo "$path answered $code" >&2; exit 1; }
    for _ in $(seq "$REQUESTS"); do
        times+=("$(curl -s -o /dev/null -w '%{time_total}' -b "$jar" "http://127.0.0.1:$port$path")")
    done
    printf '%s\n' "${times[@]}" | sort -n | awk '{a[NR] = $1 * 1000} END {printf "p50 %.0f ms, p95 %.0f ms, max %.0f ms", a[int(NR * 0.5 + 0.5)], a[int(NR * 0.95 + 0.5)], a[NR]}'
}

measure() {
    BACKEND=$1
    local name="ws$BACKEND" port=9400
    [ "$BACKEND" = postgres ] && port=9401
    serve "$name" "$port"
    stop "$port"
    local org owner form started
    org=$(scalar "$name" "SELECT id FROM organizations WHERE slug = 'demo'")
    owner=$(scalar "$name" "SELECT id FROM users WHERE email = 'owner@demo.rally.test'")
    form=$(scalar "$name" "SELECT id FROM forms WHERE slug = 'demo'")
    started=$(now)
    local chr=""; [ "$BACKEND" = sqlite ] && chr="char"
    seed_sql "$org" "$owner" "$form" "$(date +%s%3N)" "$BACKEND" | { if [ -n "$chr" ]; then sed 's/chr(10)/char(10)/g'; else cat; fi; } | run_sql "$name"
    [ "$BACKEND" = postgres ] && scalar "$name" "ANALYZE" >/dev/null
    echo "$BACKEND: seeded $(scalar "$name" "SELECT COUNT(*) FROM prospects") prospects, $(scalar "$name" "SELECT COUNT(*) FROM timeline_entries") timeline entries in $(ratio "$(awk "BEGIN {print $(now) - $started}")" 1) s"
    REUSE=1 serve "$name" "$port"
    local password jar="$WORK/$name/cookies"
    password=$(awk '/password:/ {print $2; exit}' "$WORK/$name/log")
    curl -s -o /dev/null -c "$jar" --data-urlencode "email=owner@demo.rally.test" --data-urlencode "password=$password" "http://127.0.0.1:$port/signin"
    for page in "/" "/prospects?stage=contacted&sort=activity" "/prospects?owner=$owner&tag=vip" "/prospects?q=company+42"; do
        local figure; figure=$(latency "$port" "$page" "$jar")
        echo "$BACKEND $page: $figure"
        note "workspace $BACKEND, $PROSPECTS prospects / $ENTRIES entries, $page: $figure"
    done
    stop "$port"
}

case "$WHICH" in
    both) measure sqlite; measure postgres ;;
    sqlite|postgres) measure "$WHICH" ;;
    *) echo "backend: sqlite, postgres or both" >&2; exit 2 ;;
esac
echo "=== summary ($(nproc) cores, $(date -u +%FT%TZ))"
printf '%s\n' "${SUMMARY[@]}"
