# Shared helpers of the benchmark scripts (sourced).

# One timed run of the function "$1": prints "wall utilisation%" where utilisation is
# (user + sys) / (wall x cores).
time_once() {
  local times wall user sys
  times=$( { TIMEFORMAT='%R %U %S'; time $1; } 2>&1 | tail -1 )
  read -r wall user sys <<<"$times"
  echo "$wall $(awk -v w="$wall" -v u="$user" -v s="$sys" -v c="$(nproc)" 'BEGIN{printf "%.0f", 100*(u+s)/(w*c)}')"
}

median() { sort -n | awk '{a[NR]=$1} END{print a[int((NR+1)/2)]}'; }

# Runs each named function once per round, RUNS rounds, taking turns so that a slow spell of
# the machine (a shared VM) falls on all of them alike. Appends "name wall util" lines to $1.
run_rounds() {
  local file=$1; shift
  : >"$file"
  for round in $(seq "$RUNS"); do
    local line="  round $round:"
    for way in "$@"; do
      read -r wall util < <(time_once "$way")
      echo "$way $wall $util" >>"$file"
      line="$line $way ${wall}s"
    done
    echo "$line"
  done
}

# Median wall time and utilisation of one way from a run_rounds file.
way_wall() { awk -v w="$2" '$1==w{print $2}' "$1" | median; }
way_util() { awk -v w="$2" '$1==w{print $3}' "$1" | median; }

# Background processes a bench starts are recorded in a file under $WORK, not in an array: a
# function called as url=$(start_server ...) runs in a subshell, so what it appends to an array
# is lost, and the servers outlived the bench (bench/api.sh did that).
track() { echo "$1" >>"$WORK/.bench-pids"; }

# Stops every tracked process: SIGTERM, up to 10 s to go, then SIGKILL. They may be
# grandchildren, so `wait` cannot see them: poll instead.
stop_tracked() {
  [ -f "$WORK/.bench-pids" ] || return 0
  local pids p alive
  pids=$(cat "$WORK/.bench-pids")
  : >"$WORK/.bench-pids"
  for p in $pids; do kill "$p" 2>/dev/null || true; done
  for _ in $(seq 100); do
    alive=""
    for p in $pids; do kill -0 "$p" 2>/dev/null && alive="$alive $p"; done
    [ -z "$alive" ] && return 0
    sleep 0.1
  done
  for p in $alive; do kill -9 "$p" 2>/dev/null || true; done
}

# Cleans up on every way out: the end, an error, Ctrl-C or SIGTERM. `bench_cleanup_extra`, if a
# bench defines it, runs after the tracked processes stop (e.g. to stop a database).
bench_cleanup() {
  stop_tracked
  pkill -P $$ 2>/dev/null || true  # a foreground child still running
  if declare -F bench_cleanup_extra >/dev/null; then bench_cleanup_extra; fi
  rm -rf "$WORK"
}
bench_traps() {
  trap bench_cleanup EXIT
  trap 'exit 130' INT
  trap 'exit 143' TERM
}

# A throwaway PostgreSQL cluster under $WORK on a free loopback port (Debian's server, as the
# tests use); bench_cleanup_extra should call pg_stop. Sets PG_PORT.
PG_BIN=/usr/lib/postgresql/15/bin
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
pg_start() {
  chmod 755 "$WORK"
  mkdir -p "$WORK/pg"
  [ "$(id -u)" -eq 0 ] && chown postgres "$WORK/pg"
  as_pg "$PG_BIN/initdb" -D "$WORK/pg" -A trust -U reel --no-sync >/dev/null
  PG_PORT=$(python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])')
  as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -o "-p $PG_PORT -k $WORK/pg -c listen_addresses=127.0.0.1 -c fsync=off" \
    -w -s start >/dev/null
}
pg_stop() { as_pg "$PG_BIN/pg_ctl" -D "$WORK/pg" -m immediate -w -s stop 2>/dev/null || true; }
pg_new_db() {  # $1: name; prints its store URL
  psql -q -h 127.0.0.1 -p "$PG_PORT" -U reel -d postgres -c "CREATE DATABASE $1"
  echo "postgresql://reel@127.0.0.1:$PG_PORT/$1"
}

# An API-only `reel serve` on a free port; $1: store URL, $2: data dir, the rest: more flags.
# Prints its base URL; the admin key is in $2/admin.key.
start_api() {
  local store=$1 dir=$2 url
  shift 2
  "$REEL" serve --store "$store" --data-dir "$dir" --workers 0 --listen 127.0.0.1:0 "$@" \
    >"$dir.log" 2>&1 &
  track $!
  for _ in $(seq 100); do
    url=$(grep -o 'http://127.0.0.1:[0-9]*' "$dir.log" | head -1 || true)
    [ -n "$url" ] && { echo "$url"; return; }
    sleep 0.05
  done
  cat "$dir.log" >&2; exit 1
}
