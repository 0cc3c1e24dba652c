#!/usr/bin/env bash
# Early playback (README "Early playback"): time to first playable of a chunked job whose HLS
# output has "publish": "progressive", through `reel serve` with 2 worker slots.
#
#   source   10 minutes, 640x360 30 fps testsrc2 + 440 Hz sine, encoded ultrafast here
#   job      the default ladder, chunks of 60 s (ten chunks), a local destination folder
#   playable hls.js in Chromium (playwright-core, as src/testing/browser.mjs starts it) loads the
#            master from the destination folder, starting at 0, and plays half a second of it
#
# Prints submit -> master, submit -> playing and submit -> job done, and the ratio of playable to
# done. Not a timed test: the numbers depend on the machine and what else runs on it.
# Usage: bench/first_playable.sh [seconds=600] [chunk_seconds=60]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LONG=${1:-600}
CHUNK=${2:-60}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || { echo "build reel first ($REEL)"; exit 1; }
. bench/lib.sh
WORK=$(mktemp -d /tmp/reel-first-playable-XXXXXX)
bench_traps
mkdir -p "$WORK/media/out"

echo "source: ${SECONDS_LONG} s 640x360 testsrc2 + sine, ultrafast"
ffmpeg -nostdin -loglevel error -y -f lavfi -i "testsrc2=size=640x360:rate=30:duration=$SECONDS_LONG" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LONG" \
  -c:v libx264 -preset ultrafast -g 60 -c:a aac -shortest "$WORK/media/film.mp4"

"$REEL" serve --data-dir "$WORK/data" --listen 127.0.0.1:0 --allow-path "$WORK/media" \
  --workers 2 >"$WORK/serve.log" 2>&1 &
track $!
URL=""
for _ in $(seq 200); do
  URL=$(grep -o 'http://127.0.0.1:[0-9]*' "$WORK/serve.log" | head -1 || true)
  [ -n "$URL" ] && break
  sleep 0.05
done
[ -n "$URL" ] || { echo "server did not start"; cat "$WORK/serve.log"; exit 1; }
KEY=$(cat "$WORK/data/admin.key")

OUT="$WORK/media/out/hls"
mkdir -p "$OUT"
node bench/first_playable.mjs "$OUT" >"$WORK/player.log" 2>&1 &
track $!
sleep 3  # Chromium starting, before the clock starts

SPEC="{\"source\":\"$WORK/media/film.mp4\",\"chunking\":{\"seconds\":$CHUNK},\"outputs\":[{\"kind\":\"hls\",\"ladder\":\"default\",\"publish\":\"progressive\",\"destination\":\"$OUT/\"}]}"
SUBMIT=$(date +%s.%N)
ID=$(curl -s -H "Authorization: Bearer $KEY" -d "$SPEC" "$URL/v1/jobs" | sed 's/.*"id":"\([^"]*\)".*/\1/')
state=""
while :; do
  body=$(curl -s -H "Authorization: Bearer $KEY" "$URL/v1/jobs/$ID")
  state=$(echo "$body" | grep -o '"state":"[a-z]*"' | head -1 | cut -d'"' -f4)
  case "$state" in succeeded|failed|canceled) break ;; esac
  sleep 0.2
done
DONE=$(date +%s.%N)
[ "$state" = succeeded ] || { echo "job $state: $body"; exit 1; }
for _ in $(seq 600); do grep -q '^playing\|^error' "$WORK/player.log" && break; sleep 0.2; done
MASTER=$(awk '/^master/{print $2}' "$WORK/player.log")
PLAYING=$(awk '/^playing/{print $2}' "$WORK/player.log")
grep '^error' "$WORK/player.log" && { cat "$WORK/player.log"; exit 1; }
[ -n "$PLAYING" ] || { echo "hls.js did not start playing"; cat "$WORK/player.log"; exit 1; }
awk -v s="$SUBMIT" -v m="$MASTER" -v p="$PLAYING" -v d="$DONE" -v c="$CHUNK" -v n="$SECONDS_LONG" 'BEGIN {
  printf "chunks of %d s over %d s, 2 worker slots\n", c, n
  printf "submit -> master written     %7.1f s\n", m - s
  printf "submit -> hls.js playing     %7.1f s\n", p - s
  printf "submit -> job done           %7.1f s\n", d - s
  printf "first playable / done        %7.2f\n", (p - s) / (d - s)
}'
