#!/usr/bin/env bash
# Chunked jobs with their staging in S3 against the local staging, and the source fetched once.
# One `reel serve --workers 2` per run, a source served over HTTP (python's http.server, whose
# log counts the GETs) and s3rver for the S3 staging. Three ways, in turns:
#   plain         the local source, "chunking": "off"                    (the unchunked reference)
#   staged_local  the HTTP source, chunked, --staging DATA_DIR/staging   (the default staging)
#   staged_s3     the HTTP source, chunked, --staging s3://media/staging/
# Prints each way's median wall time (submit to succeeded), the ratios s3/local and local/plain,
# and how many times each chunked job fetched its source (1: every task read the staged copy;
# before, one per task plus the attempt that fanned out).
#
# Usage: bench/staging.sh [seconds=60] [runs=3] [chunk_seconds=12]
set -euo pipefail
cd "$(dirname "$0")/.."
LEN=${1:-60}
RUNS=${2:-3}
CHUNK=${3:-12}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
WORK=$(mktemp -d /tmp/reel-staging-bench-XXXXXX)
. bench/lib.sh
bench_traps
free_port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }

mkdir -p "$WORK/media" "$WORK/s3"
echo "generating ${LEN}s 1280x720 30 fps with audio..." >&2
ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=1280x720:rate=30" \
  -f lavfi -i "sine=frequency=440" -t "$LEN" -c:v libx264 -preset veryfast -g 60 -c:a aac \
  "$WORK/media/film.mp4"

WEB_PORT=$(free_port)
(cd "$WORK/media" && exec python3 -m http.server "$WEB_PORT" --bind 127.0.0.1) \
  >"$WORK/web.log" 2>&1 &
track $!
S3_PORT=$(free_port)
node_modules/.bin/s3rver -d "$WORK/s3" -a 127.0.0.1 -p "$S3_PORT" --configure-bucket media \
  --silent >"$WORK/s3.log" 2>&1 &
track $!
cat >"$WORK/storage.json" <<EOF
{"s3": {"default": {"endpoint": "http://127.0.0.1:$S3_PORT", "access_key": "S3RVER",
                    "secret_key": "S3RVER"}}}
EOF
sleep 2

# One job on a fresh server: $1 way, $2 source, $3 chunking JSON, more args to serve.
run_job() {
  local way=$1 source=$2 chunking=$3 data="$WORK/data-$1" url="" key id state
  shift 3
  rm -rf "$data" "$WORK/media/out-$way"
  "$REEL" serve --data-dir "$data" --listen 127.0.0.1:0 --allow-path "$WORK/media" \
    --workers 2 --allow-host 127.0.0.1 --storage-config "$WORK/storage.json" "$@" \
    >"$data.log" 2>&1 &
  local pid=$!
  track $pid
  for _ in $(seq 200); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$data.log" 2>/dev/null | head -1 || true)
    [ -n "$url" ] && break
    sleep 0.05
  done
  [ -n "$url" ] || { echo "server did not start" >&2; cat "$data.log" >&2; exit 1; }
  key=$(cat "$data/admin.key")
  id=$(curl -s -H "Authorization: Bearer $key" "$url/v1/jobs" -d "{\"source\": \"$source\",
    \"chunking\": $chunking, \"outputs\": [{\"kind\": \"hls\", \"ladder\": \"default\",
    \"destination\": \"$WORK/media/out-$way/\"}]}" | jq -r .id)
  while :; do
    state=$(curl -s -H "Authorization: Bearer $key" "$url/v1/jobs/$id" | jq -r .state)
    case $state in succeeded) break ;; failed | canceled)
      echo "$way: job $state" >&2; curl -s -H "Authorization: Bearer $key" "$url/v1/jobs/$id" >&2
      exit 1 ;; esac
    sleep 0.2
  done
  kill "$pid"
  wait "$pid" 2>/dev/null || true
}

gets() { grep -c '"GET /film.mp4' "$WORK/web.log" || true; }
plain() { run_job plain "$WORK/media/film.mp4" '"off"'; }
staged_local() {
  local before
  before=$(gets)
  run_job local "http://127.0.0.1:$WEB_PORT/film.mp4" "{\"seconds\": $CHUNK}"
  echo $(($(gets) - before)) >>"$WORK/local.gets"
}
staged_s3() {
  local before
  before=$(gets)
  run_job s3 "http://127.0.0.1:$WEB_PORT/film.mp4" "{\"seconds\": $CHUNK}" \
    --staging "s3://media/staging/"
  echo $(($(gets) - before)) >>"$WORK/s3.gets"
}

echo "reel $(git rev-parse --short HEAD 2>/dev/null || echo '?'): ${LEN}s 720p, default ladder," \
  "chunks of ${CHUNK}s, 2 worker slots, $RUNS rounds"
run_rounds "$WORK/times" plain staged_local staged_s3
P=$(way_wall "$WORK/times" plain)
L=$(way_wall "$WORK/times" staged_local)
S=$(way_wall "$WORK/times" staged_s3)
echo "median wall: plain ${P}s  local staging ${L}s  s3 staging ${S}s"
awk -v p="$P" -v l="$L" -v s="$S" \
  'BEGIN{printf "ratios: s3/local %.2f  local/plain %.2f  s3/plain %.2f\n", s/l, l/p, s/p}'
echo "source GETs per chunked job: local staging $(sort -u "$WORK/local.gets" | tr '\n' ' ')" \
  " s3 staging $(sort -u "$WORK/s3.gets" | tr '\n' ' ')(1 = fetched once)"
left=$( (find "$WORK/s3/media/staging" -type f 2>/dev/null || true) | wc -l)
echo "objects left in the S3 staging after the jobs: $left"
