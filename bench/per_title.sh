#!/usr/bin/env bash
# Per-title ladders against the fixed ladder on three generated 1080p contents: easy but moving
# graphics (testsrc2), a mostly static slide deck (a new testsrc2 picture every 4 s, held), and
# hard content (heavy temporal grain over mandelbrot zooms). Each is encoded to HLS with the
# default ladder, fixed and per-title (target 40 dB), both with "quality": true so every rung's
# Y-PSNR/SSIM is measured in the run. Prints total bytes, per-rung figures, and the per-title
# pre-pass time as a fraction of the encode, with the issue's targets checked:
#   easy: >= 30 % fewer bytes, every rung's mean Y-PSNR >= the target
#   slides: never more bytes than the fixed ladder
#   hard: no rung more than 0.5 dB below the fixed ladder's PSNR
#   analysis <= 15 % of the encode time
# The fraction is of wall times measured on whatever else the machine runs: on a shared machine
# read the ratios, not the seconds. The per-title run's encode time is its elapsed time minus the
# pre-pass; both runs include the quality report (at most +25 %, bench/quality_cost.sh), which
# makes the encode longer and so the fraction a little smaller than without it.
#
# Usage: [CONTENTS="easy slides hard"] bench/per_title.sh [seconds=20] [target_psnr=40]
set -euo pipefail
cd "$(dirname "$0")/.."
LEN=${1:-20}
TARGET=${2:-40}
REEL=${REEL:-$PWD/build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
WORK=$(mktemp -d /tmp/reel-per-title-bench-XXXXXX)
. bench/lib.sh
bench_traps

# PER_TITLE_SOURCES=DIR keeps the generated sources there for the next run (iterating).
SOURCES=${PER_TITLE_SOURCES:-$WORK}
mkdir -p "$SOURCES"
generate() {  # $1: name, $2: lavfi graph
  local file="$SOURCES/$1-$LEN.mp4"
  if [ ! -s "$file" ]; then
    echo "generating $1: ${LEN}s 1920x1080 25 fps..." >&2
    ffmpeg -nostdin -loglevel error -y -f lavfi -i "$2" -t "$LEN" \
      -c:v libx264 -preset veryfast -crf 14 -g 50 -pix_fmt yuv420p "$file.tmp.mp4"
    mv "$file.tmp.mp4" "$file"
  fi
  ln -sf "$file" "$WORK/$1.mp4"
}
CONTENTS=${CONTENTS:-easy slides hard}  # e.g. CONTENTS=easy while iterating
has() { [[ " $CONTENTS " == *" $1 "* ]]; }
has easy && generate easy "testsrc2=size=1920x1080:rate=25"
has slides && generate slides "testsrc2=size=1920x1080:rate=0.25,fps=25"
# Mandelbrot is slow to draw: drawn at half size and scaled, the grain added at full size.
has hard && generate hard "mandelbrot=size=960x540:rate=25,scale=1920:1080,noise=alls=30:allf=t+u"

run() {  # $1: content, $2: fixed|pertitle -> result JSON path
  local ladder='"default"'
  [ "$2" = pertitle ] && ladder="{\"name\": \"default\", \"per_title\": true, \"target_psnr\": $TARGET}"
  cat >"$WORK/job-$1-$2.json" <<JSON
{"source": "$WORK/$1.mp4", "outputs": [{"kind": "hls", "destination": "$WORK/out-$1-$2/",
  "ladder": $ladder, "quality": true}]}
JSON
  rm -rf "$WORK/out-$1-$2"
  # CPU seconds of the whole run beside its wall time: on a shared machine the CPU fraction
  # of the pre-pass moves less with the load than the wall-time one.
  /usr/bin/time -f "%e %U %S" -o "$WORK/time-$1-$2" \
    "$REEL" transcode "$WORK/job-$1-$2.json" >"$WORK/result-$1-$2.json"
  echo "$WORK/result-$1-$2.json"
}

echo "load average before: $(cut -d' ' -f1-3 /proc/loadavg)" >&2

for content in $CONTENTS; do
  echo "encoding $content: fixed, then per-title..." >&2
  fixed=$(run "$content" fixed)
  pertitle=$(run "$content" pertitle)
  python3 - "$content" "$fixed" "$pertitle" "$TARGET" "$WORK/time-$content-pertitle" <<'PY'
import json, sys
content, fixed_path, pt_path, target = sys.argv[1], sys.argv[2], sys.argv[3], float(sys.argv[4])
_, user, system = (float(x) for x in open(sys.argv[5]).read().split()[-3:])
fixed = json.load(open(fixed_path))
pt = json.load(open(pt_path))
fo, po = fixed["outputs"][0], pt["outputs"][0]
def rungs(o):
    return {v["name"]: v for v in o["variants"] if "quality" in v}
fr, pr = rungs(fo), rungs(po)
ladder = po["ladder"]
print(f"\n== {content} ==")
print(f"{'rung':<7}{'fixed kb/s':>11}{'Y-PSNR':>8}{'SSIM':>8}   {'per-title kb/s':>14}{'nominal':>9}{'Y-PSNR':>8}{'SSIM':>8}  note")
ok = True
for r in ladder["rungs"]:
    name = r["name"]
    f = fr.get(name)
    p = pr.get(name)
    fq = f["quality"] if f else None
    line = f"{name:<7}"
    line += f"{f['average_bandwidth']/1000:>11.0f}{fq['psnr_y']['mean']:>8.2f}{fq['ssim']['mean']:>8.4f}" if f else f"{'-':>27}"
    if p:
        pq = p["quality"]
        line += f"   {p['average_bandwidth']/1000:>14.0f}{r['nominal_bitrate']/1000:>9.0f}{pq['psnr_y']['mean']:>8.2f}{pq['ssim']['mean']:>8.4f}"
    else:
        line += f"   {'dropped':>14}{r['nominal_bitrate']/1000:>9.0f}{'':>16}"
    line += f"  chosen {r['bitrate']/1000:.0f}k, predicted {r.get('predicted_psnr_y', 0):.2f} dB"
    if r.get("why"): line += f" ({r['why']})"
    print(line)
fb, pb = fo["bytes"], po["bytes"]
saving = 1 - pb / fb
print(f"total bytes: fixed {fb}  per-title {pb}  ({100*saving:+.1f} % saved)")
analysis = ladder["analysis_seconds"]
encode = pt["elapsed"] - analysis
frac = analysis / encode
print(f"analysis {analysis:.2f} s, encode {encode:.2f} s (fixed run {fixed['elapsed']:.2f} s): "
      f"analysis = {100*frac:.1f} % of the encode")
cpu = ladder.get("analysis_cpu_seconds")
if cpu is not None:
    cpu_frac = cpu / (user + system - cpu)
    print(f"CPU: analysis {cpu:.2f} s, encode {user + system - cpu:.2f} s: "
          f"analysis = {100*cpu_frac:.1f} % of the encode's CPU")
checks = []
if content == "easy":
    checks.append((saving >= 0.30, f"easy: {100*saving:.1f} % fewer bytes (>= 30 %)"))
    low = min(p["quality"]["psnr_y"]["mean"] for p in pr.values())
    checks.append((low >= target, f"easy: lowest rung mean Y-PSNR {low:.2f} dB (>= {target})"))
if content == "slides":
    checks.append((pb <= fb, f"slides: per-title bytes {pb} <= fixed {fb}"))
if content == "hard":
    worst = min(pr[n]["quality"]["psnr_y"]["mean"] - fr[n]["quality"]["psnr_y"]["mean"]
                for n in pr if n in fr)
    checks.append((worst >= -0.5, f"hard: worst rung {worst:+.2f} dB vs fixed (>= -0.5)"))
checks.append((frac <= 0.15, f"{content}: analysis {100*frac:.1f} % of encode (<= 15 %)"))
for good, what in checks:
    print(("PASS  " if good else "FAIL  ") + what)
PY
done
echo "load average after: $(cut -d' ' -f1-3 /proc/loadavg)" >&2
