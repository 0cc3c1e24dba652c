#!/usr/bin/env bash
# The full seed-004 job: an HLS ladder, a thumbnail at 10 %, a 30 s 480x270 preview and EBU R128
# loudness figures, made
#   (a) by the separate ffmpeg commands such a service runs (a split=N ladder command, then one
#       command each for the thumbnail, the preview and the loudness), one after another, and
#   (b) by one `reel transcode job.json`, which decodes the source once for all four.
# Same x264 settings (veryfast, 2 s fixed GOP, VBV), same preview encode, same audio.
#
# Usage: bench/seed004.sh [seconds=40] [runs=3]
set -euo pipefail
cd "$(dirname "$0")/.."
LEN=${1:-40}
RUNS=${2:-3}
REEL=${REEL:-build/src/cli/reel}
[ -x "$REEL" ] || ./scripts/setup >/dev/null
. bench/lib.sh
WORK=$(mktemp -d /tmp/reel-seed004-XXXXXX)
bench_traps
SRC=$WORK/source.mp4
echo "generating a ${LEN}s 1280x720 30 fps source with audio..."
ffmpeg -nostdin -loglevel error -y \
  -f lavfi -i "testsrc2=size=1280x720:rate=30:duration=$LEN" \
  -f lavfi -i "sine=frequency=440:sample_rate=48000:duration=$LEN" \
  -c:v libx264 -preset fast -crf 18 -pix_fmt yuv420p -c:a aac -b:a 192k -ac 2 "$SRC"
AT=$(awk -v l="$LEN" 'BEGIN{print l/10}')

X264="-c:v libx264 -preset veryfast -profile:v high -g 60 -keyint_min 60 -sc_threshold 0 -pix_fmt yuv420p"
ffmpeg_commands() {
  local out=$WORK/a; rm -rf "$out"; mkdir -p "$out"
  ffmpeg -nostdin -loglevel error -y -i "$SRC" \
    -filter_complex "[0:v]split=3[s0][s1][s2];[s0]scale=-2:720[v0];[s1]scale=-2:480[v1];[s2]scale=-2:360[v2]" \
    -map "[v0]" -map "[v1]" -map "[v2]" -map 0:a $X264 \
    -b:v:0 3000k -maxrate:v:0 3300k -bufsize:v:0 6000k \
    -b:v:1 1500k -maxrate:v:1 1650k -bufsize:v:1 3000k \
    -b:v:2 800k -maxrate:v:2 880k -bufsize:v:2 1600k \
    -c:a aac -b:a 128k -ac 2 -f hls -hls_time 6 -hls_playlist_type vod -hls_segment_type fmp4 \
    -master_pl_name master.m3u8 -var_stream_map "v:0,agroup:aud v:1,agroup:aud v:2,agroup:aud a:0,agroup:aud" \
    -hls_segment_filename "$out/%v/seg_%05d.m4s" "$out/%v/index.m3u8"
  ffmpeg -nostdin -loglevel error -y -ss "$AT" -i "$SRC" -frames:v 1 "$out/thumb.jpg"
  ffmpeg -nostdin -loglevel error -y -ss 0 -t 30 -i "$SRC" \
    -vf "scale=480:270:force_original_aspect_ratio=decrease,pad=480:270:(ow-iw)/2:(oh-ih)/2" \
    -c:v libx264 -preset veryfast -crf 23 -maxrate 1200k -bufsize 2400k -pix_fmt yuv420p \
    -c:a aac -b:a 128k -ac 2 -movflags +faststart "$out/preview.mp4"
  ffmpeg -nostdin -hide_banner -nostats -i "$SRC" -af ebur128=peak=true -f null - 2>"$out/loudness.txt"
}

cat >"$WORK/job.json" <<JSON
{"source": "$SRC", "outputs": [
  {"kind": "hls", "destination": "$WORK/b/hls/"},
  {"kind": "thumbnail", "at": "10%", "destination": "$WORK/b/thumb.jpg"},
  {"kind": "preview", "start": 0, "duration": 30, "destination": "$WORK/b/preview.mp4"},
  {"kind": "loudness"}]}
JSON
reel_job() {
  rm -rf "$WORK/b"
  "$REEL" transcode "$WORK/job.json" --progress none >"$WORK/result.json"
}

echo "running $RUNS rounds of (a) and (b) on $(nproc) cores..."
run_rounds "$WORK/times" ffmpeg_commands reel_job
A=$(way_wall "$WORK/times" ffmpeg_commands); AU=$(way_util "$WORK/times" ffmpeg_commands)
B=$(way_wall "$WORK/times" reel_job); BU=$(way_util "$WORK/times" reel_job)
printf '%-52s %8s %8s\n' "way" "wall s" "cpu %"
printf '%-52s %8.2f %7s%%\n' "(a) ffmpeg: ladder, thumbnail, preview, loudness" "$A" "$AU"
printf '%-52s %8.2f %7s%%\n' "(b) reel transcode job.json (one decode)" "$B" "$BU"
awk -v a="$A" -v b="$B" 'BEGIN{printf "ratio b/a = %.2f\n", b/a}'
grep -o '"integrated_lufs": *[-0-9.]*' "$WORK/result.json" | sed 's/^/reel:   /'
grep -E '^ +I:' "$WORK/a/loudness.txt" | sed 's/^ */ffmpeg: /'
