#!/usr/bin/env bash
# Cost of the quality report: the CPU time (user + sys) of one HLS job on the default ladder at
# 1080p, with and without "quality": true, in the same run, taking turns. Prints the median CPU
# seconds of each and the ratio (the issue allows at most +25 %). CPU time rather than wall time:
# the report's decode and comparisons run on the rendition threads, and on a shared machine CPU
# time is what the report adds whatever the other load.
#
# Usage: [SOURCE=file.mp4] bench/quality_cost.sh [seconds=10] [runs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LEN=${1:-10}
RUNS=${2:-3}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
WORK=$(mktemp -d /tmp/reel-quality-bench-XXXXXX)
. bench/lib.sh
bench_traps

# SOURCE=file.mp4 reuses a source instead of generating one.
SRC=${SOURCE:-$WORK/source-1080p.mp4}
if [ -z "${SOURCE:-}" ]; then
  echo "generating a ${SECONDS_LEN}s 1920x1080 30 fps source with audio..."
  ffmpeg -nostdin -loglevel error -y \
    -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$SECONDS_LEN" \
    -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LEN" \
    -c:v libx264 -preset fast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$SRC"
fi

job() {  # $1: true/false -> job file
  cat >"$WORK/job-$1.json" <<JSON
{"source": "$SRC", "outputs": [{"kind": "hls", "destination": "$WORK/out-$1/", "quality": $1}]}
JSON
}
job false
job true

cpu_of() {  # $1: true/false; prints user+sys seconds of one run
  rm -rf "$WORK/out-$1"
  local times
  times=$( { TIMEFORMAT='%U %S'; time "$REEL" transcode "$WORK/job-$1.json" >"$WORK/result-$1.json"; } 2>&1 | tail -1 )
  awk '{printf "%.2f\n", $1 + $2}' <<<"$times"
}

: >"$WORK/cpu"
for round in $(seq "$RUNS"); do
  without=$(cpu_of false)
  with=$(cpu_of true)
  echo "  round $round: without ${without}s  with ${with}s CPU"
  echo "without $without" >>"$WORK/cpu"
  echo "with $with" >>"$WORK/cpu"
done
W0=$(awk '$1=="without"{print $2}' "$WORK/cpu" | median)
W1=$(awk '$1=="with"{print $2}' "$WORK/cpu" | median)
printf '%-32s %8s\n' "job (default ladder, 1080p)" "CPU s"
printf '%-32s %8.2f\n' "without quality" "$W0"
printf '%-32s %8.2f\n' "with quality" "$W1"
awk -v a="$W0" -v b="$W1" 'BEGIN{printf "ratio with/without = %.3f (+%.1f %%; the issue allows +25 %%)\n", b/a, 100*(b/a-1)}'
echo "the report of the last run (per rendition: frames measured, every Nth, PSNR/SSIM):"
python3 -c 'import json,sys
r=json.load(open(sys.argv[1]))
for v in r["outputs"][0]["variants"]:
  q=v.get("quality")
  if q: print("  %-6s frames %d every %d  psnr_y %.2f (min %.2f)  ssim %.4f" % (v["name"], q["frames"], q["every"], q["psnr_y"]["mean"], q["psnr_y"]["min"], q["ssim"]["mean"]))' "$WORK/result-true.json"
