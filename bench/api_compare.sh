#!/usr/bin/env bash
# The API's cost per request, this build against another reel binary (e.g. one built before a
# change), on loopback with wrk. Run through bench/api.sh:
#
#   bench/api.sh --compare OLD_REEL [duration=5s] [runs=3]
#     CPU time of the server process per request (utime + stime from /proc/PID/stat, before and
#     after each wrk run, over the requests wrk completed) and req/s, for GET /v1/jobs/{id},
#     GET /v1/jobs?limit=20 and POST /v1/jobs, at each --store-threads of THREADS (default
#     "1 2 4"). Old and new runs take turns, `runs` rounds; medians, and new/old ratios. CPU per
#     request hardly depends on what else the machine runs, unlike latency and req/s.
#
# Instruction counts would not depend on the load at all, but neither tool works here: the VM
# exposes no hardware counters to `perf stat`, and valgrind stops at libhwy's (libjxl, through
# libavcodec) RDTSCP in its initialiser before reel's main.
#
# A binary without --store-threads (before the store gate) runs without it. REEL is the new
# binary (default build/src/cli/reel); CONNS the connections of the CPU runs (default 16).
set -euo pipefail
cd "$(dirname "$0")/.."
MODE=$1
OLD=$(realpath "${2:?usage: bench/api.sh --compare OLD_REEL [...]}")
NEW=$(realpath "${REEL:-build/src/cli/reel}")
THREADS=${THREADS:-"1 2 4"}
CONNS=${CONNS:-16}
. bench/lib.sh
command -v wrk >/dev/null || { echo "wrk is missing: run ./scripts/setup"; exit 1; }
for b in "$OLD" "$NEW"; do [ -x "$b" ] || { echo "no binary $b"; exit 1; }; done
WORK=$(mktemp -d /tmp/reel-api-compare-XXXXXX)
bench_traps
mkdir -p "$WORK/media"
ffmpeg -nostdin -loglevel error -y -f lavfi -i sine=duration=1 -c:a aac "$WORK/media/a.m4a"
SPEC="{\"source\":{\"url\":\"$WORK/media/a.m4a\"},\"outputs\":[{\"kind\":\"hls\",\"destination\":\"$WORK/media/out/hls/\"}]}"
TICK=$(getconf CLK_TCK)
RESULTS=$WORK/results  # lines: binary threads route value(s)

# Starts `reel serve` ($1 binary, $2 store threads, $3 data dir) and sets PID, URL, KEY and ID (one of 20 seeded jobs).
SERVER=0
serve() {
  local bin=$1 threads=$2 dir=$3 flags=()
  "$bin" serve --help 2>/dev/null | grep -q -- --store-threads && flags=(--store-threads "$threads")
  "$bin" serve --data-dir "$dir" --listen 127.0.0.1:0 --allow-path "$WORK/media" \
    --workers 0 "${flags[@]}" >"$dir.log" 2>&1 &
  PID=$!
  track "$PID"
  URL=""
  for _ in $(seq 1200); do
    URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir.log" | head -1 || true)
    [ -n "$URL" ] && break
    sleep 0.05
  done
  [ -n "$URL" ] || { echo "server did not start" >&2; cat "$dir.log" >&2; exit 1; }
  KEY=$(cat "$dir/admin.key")
  ID=""
  for _ in $(seq 20); do
    local id
    id=$(curl -s -H "Authorization: Bearer $KEY" -d "$SPEC" "$URL/v1/jobs" |
      sed 's/.*"id":"\([^"]*\)".*/\1/')
    [ -n "$ID" ] || ID=$id
  done
  cat >"$WORK/post.lua" <<LUA
wrk.method = "POST"
wrk.body = '$SPEC'
wrk.headers["Content-Type"] = "application/json"
wrk.headers["Authorization"] = "Bearer $KEY"
LUA
}

unserve() {
  kill "$PID" 2>/dev/null || true
  for _ in $(seq 600); do kill -0 "$PID" 2>/dev/null || return 0; sleep 0.05; done
  kill -9 "$PID" 2>/dev/null || true
}

ticks() { sed 's/.*) //' "/proc/$1/stat" | awk '{print $12 + $13}'; }

run_wrk() {  # $1 route, then wrk's own options
  local route=$1
  shift
  case $route in
    get) wrk "$@" -H "Authorization: Bearer $KEY" "$URL/v1/jobs/$ID" ;;
    list) wrk "$@" -H "Authorization: Bearer $KEY" "$URL/v1/jobs?limit=20" ;;
    post) wrk "$@" -s "$WORK/post.lua" "$URL/v1/jobs" ;;
  esac
}

ROUTES="get list post"
label() {
  case $1 in
    get) echo "GET  /v1/jobs/{id}" ;;
    list) echo "GET  /v1/jobs?limit=20" ;;
    post) echo "POST /v1/jobs" ;;
  esac
}

cpu_round() {  # $1 old|new, $2 store threads
  local bin=$OLD
  [ "$1" = new ] && bin=$NEW
  SERVER=$((SERVER + 1))
  serve "$bin" "$2" "$WORK/s$SERVER"
  for route in $ROUTES; do
    local t0 t1 out n rps bad
    t0=$(ticks "$PID")
    out=$(run_wrk "$route" -t2 -c"$CONNS" -d"$DURATION")
    t1=$(ticks "$PID")
    n=$(awk '/requests in/ {print $1}' <<<"$out")
    rps=$(awk '/Requests\/sec/ {print $2}' <<<"$out")
    bad=$(awk '/Non-2xx/ {print $NF}' <<<"$out")
    [ -z "$bad" ] || echo "  warning: $1 $route: $bad answers were not 2xx" >&2
    echo "$1 $2 $route $(awk -v d=$((t1 - t0)) -v t="$TICK" -v n="$n" 'BEGIN{printf "%.1f", d/t*1e6/n}') $rps" >>"$RESULTS"
  done
  unserve
}

value() { awk -v b="$1" -v t="$2" -v r="$3" -v c="$4" '$1==b && $2==t && $3==r {print $c}' "$RESULTS" | median; }
ratio() { awk -v a="$1" -v b="$2" 'BEGIN{ if (b > 0) printf "%.2f", a/b; else print "-" }'; }

: >"$RESULTS"
if [ "$MODE" = --compare ]; then
  DURATION=${3:-5s}
  RUNS=${4:-3}
  echo "old: $OLD"
  echo "new: $NEW"
  echo "$RUNS rounds of $DURATION per route, $CONNS connections; old and new take turns"
  for round in $(seq "$RUNS"); do
    for t in $THREADS; do
      # Which goes first alternates, so that a slow spell falls on both alike.
      if [ $((round % 2)) = 1 ]; then cpu_round old "$t"; cpu_round new "$t"; else cpu_round new "$t"; cpu_round old "$t"; fi
    done
    echo "  round $round done"
  done
  echo
  printf '%-24s %7s | %9s %9s %5s | %8s %8s %5s\n' route threads "old µs" "new µs" ratio "old r/s" "new r/s" ratio
  for route in $ROUTES; do
    for t in $THREADS; do
      oc=$(value old "$t" "$route" 4); nc=$(value new "$t" "$route" 4)
      orps=$(value old "$t" "$route" 5); nrps=$(value new "$t" "$route" 5)
      printf '%-24s %7s | %9s %9s %5s | %8.0f %8.0f %5s\n' "$(label "$route")" "$t" "$oc" "$nc" \
        "$(ratio "$nc" "$oc")" "$orps" "$nrps" "$(ratio "$nrps" "$orps")"
    done
  done
  echo "(µs: CPU time of the server per request, median of $RUNS; ratio: new/old)"
else
  echo "usage: bench/api.sh --compare OLD_REEL [...]"
  exit 2
fi
