#!/usr/bin/env bash
# Ladder benchmark: reel against plain ffmpeg command lines, on the same input, in the same run.
#
#   (a) the seeds' way: one ffmpeg process per rung, one after the other
#   (b) one hand-tuned ffmpeg command: split=4, four x264 outputs, one shared AAC rendition
#   (c) reel transcode --ladder default
#
# All three encode the default ladder (1080p 5000k, 720p 3000k, 480p 1500k, 360p 800k, AAC 128k)
# with x264 veryfast, a fixed 2 s GOP (no scene cuts), VBV maxrate 1.1x / bufsize 2x, into fMP4
# HLS with 6 s segments. Prints the median wall time of RUNS runs, CPU utilisation
# ((user+sys) / (wall x cores)) and the ratios c/a and c/b.
#
# Usage: bench/ladder.sh [seconds=10] [runs=5]
set -euo pipefail
cd "$(dirname "$0")/.."
SECONDS_LEN=${1:-10}
RUNS=${2:-5}
REEL=${REEL:-build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
CORES=$(nproc)
WORK=$(mktemp -d /tmp/reel-bench-XXXXXX)
. bench/lib.sh
bench_traps

SRC=$WORK/source-1080p.mp4
echo "generating a ${SECONDS_LEN}s 1920x1080 30 fps source with audio..."
ffmpeg -nostdin -loglevel error -y \
  -f lavfi -i "testsrc2=size=1920x1080:rate=30:duration=$SECONDS_LEN" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$SECONDS_LEN" \
  -c:v libx264 -preset fast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$SRC"

X264="-c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p"
HLS="-f hls -hls_time 6 -hls_playlist_type vod -hls_segment_type fmp4"
RUNGS="1080:5000 720:3000 480:1500 360:800"

seeds_way() {
  local out=$WORK/a; rm -rf "$out"; mkdir -p "$out"
  for r in $RUNGS; do
    local h=${r%%:*} k=${r##*:}
    mkdir -p "$out/$h"
    ffmpeg -nostdin -loglevel error -y -i "$SRC" -vf "scale=-2:$h" $X264 \
      -b:v ${k}k -maxrate $((k * 11 / 10))k -bufsize $((k * 2))k -c:a aac -b:a 128k -ac 2 \
      $HLS -hls_segment_filename "$out/$h/seg_%05d.m4s" "$out/$h/index.m3u8"
  done
}

split_command() {
  local out=$WORK/b; rm -rf "$out"; mkdir -p "$out"
  ffmpeg -nostdin -loglevel error -y -i "$SRC" \
    -filter_complex "[0:v]split=4[s0][s1][s2][s3];[s0]scale=-2:1080[v0];[s1]scale=-2:720[v1];[s2]scale=-2:480[v2];[s3]scale=-2:360[v3]" \
    -map "[v0]" -map "[v1]" -map "[v2]" -map "[v3]" -map 0:a $X264 \
    -b:v:0 5000k -maxrate:v:0 5500k -bufsize:v:0 10000k \
    -b:v:1 3000k -maxrate:v:1 3300k -bufsize:v:1 6000k \
    -b:v:2 1500k -maxrate:v:2 1650k -bufsize:v:2 3000k \
    -b:v:3 800k -maxrate:v:3 880k -bufsize:v:3 1600k \
    -c:a aac -b:a 128k -ac 2 \
    $HLS -master_pl_name master.m3u8 \
    -var_stream_map "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud v:3,agroup:aud a:0,agroup:aud" \
    -hls_segment_filename "$out/%v/seg_%05d.m4s" "$out/%v/index.m3u8"
}

reel_way() {
  rm -rf "$WORK/c"
  "$REEL" transcode "$SRC" -o "$WORK/c" --ladder default --progress none >/dev/null
}

echo "running $RUNS rounds of (a), (b), (c) on $CORES cores..."
run_rounds "$WORK/times" seeds_way split_command reel_way
A=$(way_wall "$WORK/times" seeds_way); AU=$(way_util "$WORK/times" seeds_way)
B=$(way_wall "$WORK/times" split_command); BU=$(way_util "$WORK/times" split_command)
C=$(way_wall "$WORK/times" reel_way); CU=$(way_util "$WORK/times" reel_way)
printf '%-44s %8s %8s\n' "way" "wall s" "cpu %"
printf '%-44s %8.2f %7s%%\n' "(a) one ffmpeg per rung, sequential" "$A" "$AU"
printf '%-44s %8.2f %7s%%\n' "(b) one ffmpeg, split=4 + shared audio" "$B" "$BU"
printf '%-44s %8.2f %7s%%\n' "(c) reel transcode --ladder default" "$C" "$CU"
awk -v a="$A" -v b="$B" -v c="$C" 'BEGIN{printf "ratio c/a = %.2f (target <= 0.72)\nratio c/b = %.2f (target <= 1.00)\n", c/a, c/b}'

# HEVC and AV1 ladders against H.264's on the same source: one timed run each (x265 and SVT-AV1
# at reel's default speeds, veryfast and preset 10), with the package's size. The HEVC and AV1
# ladders spend about 60 % and 50 % of H.264's bits for the same size classes.
codec_ladder() {
  rm -rf "$WORK/$1"
  "$REEL" transcode "$SRC" -o "$WORK/$1" --ladder "$1" --progress none >/dev/null
}
h264_ladder() { codec_ladder default; }
hevc_ladder() { codec_ladder hevc; }
av1_ladder() { codec_ladder av1; }
echo "one run each of the default (H.264), hevc and av1 ladders..."
RUNS=1 run_rounds "$WORK/codec-times" h264_ladder hevc_ladder av1_ladder
printf '%-20s %8s %8s %10s %12s\n' "ladder" "wall s" "cpu %" "bytes" "vs H.264"
H264_WALL=$(way_wall "$WORK/codec-times" h264_ladder)
H264_BYTES=$(du -sb "$WORK/default" | cut -f1)
for l in default:h264_ladder hevc:hevc_ladder av1:av1_ladder; do
  name=${l%%:*} way=${l##*:}
  wall=$(way_wall "$WORK/codec-times" "$way"); util=$(way_util "$WORK/codec-times" "$way")
  bytes=$(du -sb "$WORK/$name" | cut -f1)
  awk -v n="$name" -v w="$wall" -v u="$util" -v b="$bytes" -v hw="$H264_WALL" -v hb="$H264_BYTES" \
    'BEGIN{printf "%-20s %8.2f %7s%% %10d   %4.2fx time, %4.2fx size\n", n, w, u, b, w/hw, b/hb}'
done
