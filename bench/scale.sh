#!/usr/bin/env bash
# Scale-out benchmark on one machine: the same batch of short, CPU-light jobs (a thumbnail each)
# run by 1, 2 and 4 `reel worker` processes sharing a PostgreSQL queue (started here, on
# loopback); prints jobs/min and the ratio to one worker. Then the submit -> start latency of
# an idle worker woken by LISTEN/NOTIFY against the same worker polling (REEL_BENCH_NO_LISTEN).
#
# Usage: bench/scale.sh [jobs=40]
set -euo pipefail
cd "$(dirname "$0")/.."
JOBS=${1:-40}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
. bench/lib.sh
WORK=$(mktemp -d /tmp/reel-scale-XXXXXX)
bench_cleanup_extra() { pg_stop; }
bench_traps

pg_start
mkdir -p "$WORK/media"

ffmpeg -nostdin -loglevel error -y -f lavfi -i testsrc2=size=640x360:rate=30:duration=5 \
  -c:v libx264 -preset ultrafast "$WORK/media/in.mp4"

start_workers() {  # $1: store, $2: count, extra env in $3
  for i in $(seq "$2"); do
    env $3 "$REEL" worker --store "$1" --data-dir "$WORK/w$i" --allow-path "$WORK/media" \
      >"$WORK/w$i.log" 2>&1 &
    track $!
  done
}
submit() {  # $1: url, $2: key, $3: n
  curl -s -H "Authorization: Bearer $2" "$1/v1/jobs" -d "{\"source\":\"$WORK/media/in.mp4\",
    \"outputs\":[{\"kind\":\"thumbnail\",\"at\":\"50%\",\"width\":320,\"destination\":\"$WORK/media/out/t$3.jpg\"}]}" \
    | sed 's/.*"id":"\([^"]*\)".*/\1/'
}
succeeded() { curl -s -H "Authorization: Bearer $2" "$1/v1/queue" | sed 's/.*"succeeded":\([0-9]*\).*/\1/'; }

echo "batch of $JOBS thumbnail jobs, PostgreSQL queue, $(nproc) cores"
BASE=0
for workers in 1 2 4; do
  db=$(pg_new_db "scale$workers")
  url=$(start_api "$db" "$WORK/api$workers" --allow-path "$WORK/media")
  key=$(cat "$WORK/api$workers/admin.key")
  start_workers "$db" "$workers" ""
  sleep 1
  t0=$(date +%s.%N)
  for n in $(seq "$JOBS"); do submit "$url" "$key" "$workers-$n" >/dev/null; done
  while [ "$(succeeded "$url" "$key")" -lt "$JOBS" ]; do sleep 0.1; done
  t1=$(date +%s.%N)
  rate=$(awk -v j="$JOBS" -v a="$t0" -v b="$t1" 'BEGIN{printf "%.0f", j*60/(b-a)}')
  [ "$BASE" = 0 ] && BASE=$rate
  printf '  %d worker(s): %6s jobs/min  (%.2fx one worker)\n' "$workers" "$rate" \
    "$(awk -v r="$rate" -v b="$BASE" 'BEGIN{print r/b}')"
  stop_tracked
done

latency() {  # $1: label, $2: env for the worker, $3: a name for its database and data
  db=$(pg_new_db "$3")
  url=$(start_api "$db" "$WORK/$3" --allow-path "$WORK/media")
  key=$(cat "$WORK/$3/admin.key")
  start_workers "$db" 1 "$2"
  sleep 1.5
  vals=()
  for n in $(seq 10); do
    id=$(submit "$url" "$key" "lat$n")
    for _ in $(seq 200); do
      body=$(curl -s -H "Authorization: Bearer $key" "$url/v1/jobs/$id")
      case "$body" in *'"state":"succeeded"'*) break ;; esac
      sleep 0.05
    done
    vals+=("$(echo "$body" | sed 's/.*"created_at":\([0-9.]*\).*"started_at":\([0-9.]*\).*/\2 \1/' | awk '{printf "%.1f", ($1-$2)*1000}')")
    sleep 0.7  # let the worker go idle again
  done
  printf '  %-22s median %6s ms  max %6s ms\n' "$1" \
    "$(printf '%s\n' "${vals[@]}" | sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}')" \
    "$(printf '%s\n' "${vals[@]}" | sort -n | tail -1)"
  stop_tracked
}
echo "submit -> start on an idle worker on another process (10 jobs):"
latency "LISTEN/NOTIFY" "" latnotify
latency "polling (0.5 s)" "REEL_BENCH_NO_LISTEN=1" latpoll
