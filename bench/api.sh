#!/usr/bin/env bash
# API benchmark: wrk against a local `reel serve` on loopback.
#
#   1. GET /v1/jobs/{id}     (API-only node: --workers 0)  req/s and latency percentiles
#   2. POST /v1/jobs         (jobs are stored, none run)   req/s and latency percentiles
#   3. submit -> start       (--workers 1): created_at to the attempt's start, per job
#
# Usage: bench/api.sh [duration=10s] [connections=16]
#        bench/api.sh --compare OLD_REEL [duration=5s] [runs=3]   this build against another one
# (bench/api_compare.sh describes the comparison.)
set -euo pipefail
cd "$(dirname "$0")/.."
case "${1:-}" in --compare) exec bench/api_compare.sh "$@" ;; esac
DURATION=${1:-10s}
CONNS=${2:-16}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
. bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is missing: run ./scripts/setup"; exit 1; }
WORK=$(mktemp -d /tmp/reel-api-bench-XXXXXX)
bench_traps
mkdir -p "$WORK/media"
ffmpeg -nostdin -loglevel error -y -f lavfi -i sine=duration=1 -c:a aac "$WORK/media/a.m4a"

start_server() {  # $1: data dir, $2: workers; prints the URL
  "$REEL" serve --data-dir "$1" --listen 127.0.0.1:0 --allow-path "$WORK/media" --workers "$2" \
    >"$1.log" 2>&1 &
  track $!
  for _ in $(seq 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$1.log" | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  echo "server did not start" >&2; cat "$1.log" >&2; exit 1
}

SPEC="{\"source\":{\"url\":\"$WORK/media/a.m4a\"},\"outputs\":[{\"kind\":\"hls\",\"destination\":\"$WORK/media/out/hls/\"}]}"

URL=$(start_server "$WORK/api" 0)
KEY=$(cat "$WORK/api/admin.key")
ID=$(curl -s -H "Authorization: Bearer $KEY" -d "$SPEC" "$URL/v1/jobs" | sed 's/.*"id":"\([^"]*\)".*/\1/')

cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$SPEC'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA

summary() {  # wrk output -> "req/s p50 p99"
  awk '/Requests\/sec/ {rps=$2} /^ +50%/ {p50=$2} /^ +99%/ {p99=$2} END {printf "%8.0f req/s   p50 %8s   p99 %8s\n", rps, p50, p99}'
}

echo "GET  /v1/jobs/{id}  ($CONNS connections, $DURATION): $(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$URL/v1/jobs/$ID" | summary)"
echo "POST /v1/jobs       ($CONNS connections, $DURATION): $(wrk -t2 -c"$CONNS" -d"$DURATION" --latency -s "$WORK/post.lua" "$URL/v1/jobs" | summary)"
echo "GET  /v1/jobs/{id}  (2 connections, $DURATION):  $(wrk -t1 -c2 -d"$DURATION" --latency -H "Authorization: Bearer $KEY" "$URL/v1/jobs/$ID" | summary)"

# Submit -> start: one job at a time on an idle single-slot worker pool.
URL2=$(start_server "$WORK/run" 1)
KEY2=$(cat "$WORK/run/admin.key")
LAT=()
for i in $(seq 20); do
  id=$(curl -s -H "Authorization: Bearer $KEY2" -d "$SPEC" "$URL2/v1/jobs" | sed 's/.*"id":"\([^"]*\)".*/\1/')
  for _ in $(seq 200); do
    body=$(curl -s -H "Authorization: Bearer $KEY2" "$URL2/v1/jobs/$id")
    case "$body" in *'"state":"succeeded"'*|*'"state":"failed"'*) break ;; esac
    sleep 0.05
  done
  LAT+=("$(echo "$body" | sed 's/.*"created_at":\([0-9.]*\).*"started_at":\([0-9.]*\).*/\2 \1/' | awk '{printf "%.2f", ($1-$2)*1000}')")
done
printf 'submit -> start over %d jobs: median %s ms, max %s ms\n' "${#LAT[@]}" \
  "$(printf '%s\n' "${LAT[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" \
  "$(printf '%s\n' "${LAT[@]}" | sort -n | tail -1)"
