#include "presets/presets.h"

#include <cmath>
#include <cstdlib>

namespace reel::presets {

const char* VideoCodecName(VideoCodec c) {
  switch (c) {
    case VideoCodec::kFfv1:
      return "ffv1";
    case VideoCodec::kH264:
      return "h264";
    case VideoCodec::kHevc:
      return "hevc";
    case VideoCodec::kVp9:
      return "vp9";
  }
  return "?";
}

const char* AudioCodecName(AudioCodec c) {
  return c == AudioCodec::kAac ? "aac" : c == AudioCodec::kOpus ? "opus" : "flac";
}
const char* ContainerName(Container c) {
  return c == Container::kMp4 ? "mp4" : c == Container::kWebm ? "webm" : "mkv";
}

namespace {

Preset H264(std::string name, int lines, int crf, int64_t maxrate) {
  Preset p;
  p.name = std::move(name);
  p.description = "H.264 High, CRF " + std::to_string(crf) + " capped at " +
                  std::to_string(maxrate / 1000) + "k, AAC 128k, MP4 (fast start)";
  p.container = Container::kMp4;
  p.video.codec = VideoCodec::kH264;
  p.video.lines = lines;
  p.video.crf = crf;
  p.video.maxrate = maxrate;
  p.video.bufsize = maxrate * 2;
  p.video.speed = "fast";
  return p;
}

std::vector<Preset> MakePresets() {
  std::vector<Preset> all;
  all.push_back(H264("h264-1080p", 1080, 21, 6000000));
  all.push_back(H264("h264-720p", 720, 21, 3500000));
  all.push_back(H264("h264-480p", 480, 22, 1600000));
  all.push_back(H264("h264-360p", 360, 23, 900000));

  Preset hevc;
  hevc.name = "hevc-1080p";
  hevc.description = "HEVC (libx265) Main, CRF 26 capped at 4000k, AAC 128k, MP4 (hvc1)";
  hevc.container = Container::kMp4;
  hevc.video.codec = VideoCodec::kHevc;
  hevc.video.lines = 1080;
  hevc.video.crf = 26;
  hevc.video.maxrate = 4000000;
  hevc.video.bufsize = 8000000;
  hevc.video.speed = "fast";
  all.push_back(hevc);

  Preset vp9;
  vp9.name = "vp9-720p";
  vp9.description = "VP9 (libvpx) CRF 33 capped at 2500k, Opus 96k, WebM";
  vp9.container = Container::kWebm;
  vp9.video.codec = VideoCodec::kVp9;
  vp9.video.lines = 720;
  vp9.video.crf = 33;
  vp9.video.maxrate = 2500000;
  vp9.video.bufsize = 5000000;
  vp9.video.speed = "fast";
  vp9.audio.codec = AudioCodec::kOpus;
  vp9.audio.bitrate = 96000;
  all.push_back(vp9);
  return all;
}

std::vector<Ladder> MakeLadders() {
  Ladder def;
  def.name = "default";
  def.rungs = {{"1080p", 1080, 5000000},
               {"720p", 720, 3000000},
               {"480p", 480, 1500000},
               {"360p", 360, 800000}};
  def.video.codec = VideoCodec::kH264;
  def.video.fixed_gop = true;
  def.video.gop_seconds = 2;
  def.video.speed = "veryfast";
  def.audio.bitrate = 128000;
  def.segment_seconds = 6;
  return {def};
}

}  // namespace

const std::vector<Preset>& AllPresets() {
  static const std::vector<Preset> presets = MakePresets();
  return presets;
}

const Preset* FindPreset(std::string_view name) {
  for (const Preset& p : AllPresets())
    if (p.name == name) return &p;
  return nullptr;
}

const std::vector<Ladder>& AllLadders() {
  static const std::vector<Ladder> ladders = MakeLadders();
  return ladders;
}

const Ladder* FindLadder(std::string_view name) {
  for (const Ladder& l : AllLadders())
    if (l.name == name) return &l;
  return nullptr;
}

Preset MezzaninePreset(bool lossless) {
  Preset p;
  p.name = lossless ? "mezzanine-ffv1" : "mezzanine-h264";
  p.video.gop_seconds = 1;
  if (lossless) {
    p.description = "FFV1 (lossless, source pixel format) + FLAC in Matroska";
    p.container = Container::kMatroska;
    p.video.codec = VideoCodec::kFfv1;
    p.video.keep_pixel_format = true;
    p.audio.codec = AudioCodec::kFlac;
    p.audio.max_channels = 8;
  } else {
    p.description = "H.264 High, CRF 12, AAC 320k, MP4";
    p.video.codec = VideoCodec::kH264;
    p.video.crf = 12;
    p.video.speed = "medium";
    p.audio.bitrate = 320000;
  }
  return p;
}

Preset PreviewPreset(const PreviewOptions& o) {
  Preset p;
  p.name = "preview";
  p.description = "H.264 letterboxed preview, AAC 128k";
  p.video.width = o.width;
  p.video.height = o.height;
  p.video.letterbox = true;
  p.video.crf = 23;
  p.video.maxrate = 1200000;
  p.video.bufsize = 2400000;
  p.video.trim_start = o.start;
  p.video.trim_duration = o.duration;
  p.audio.trim_start = o.start;
  p.audio.trim_duration = o.duration;
  return p;
}

VideoSettings RungVideoSettings(const Ladder& ladder, const Rung& rung) {
  VideoSettings v = ladder.video;
  if (rung.box_width > 0 && rung.box_height > 0) {
    v.width = rung.box_width;
    v.height = rung.box_height;
  } else {
    v.lines = rung.lines;
  }
  v.bitrate = rung.bitrate;
  v.maxrate = rung.bitrate * 11 / 10;
  v.bufsize = rung.bitrate * 2;
  return v;
}

std::optional<FieldError> ApplyOverrides(const Overrides& o, Preset* p) {
  constexpr int64_t kMinVideoBitrate = 50'000, kMaxVideoBitrate = 100'000'000;
  if (o.bitrate) {
    if (*o.bitrate < kMinVideoBitrate || *o.bitrate > kMaxVideoBitrate)
      return FieldError{"bitrate", "must be between 50k and 100M bits/s"};
    p->video.bitrate = *o.bitrate;
    p->video.maxrate = *o.bitrate * 3 / 2;
    p->video.bufsize = *o.bitrate * 3;
    p->video.crf = -1;
  }
  if (o.crf) {
    int max_crf = p->video.codec == VideoCodec::kVp9 ? 63 : 51;
    if (*o.crf < 0 || *o.crf > max_crf)
      return FieldError{"crf", "must be between 0 and " + std::to_string(max_crf) + " for " +
                                   VideoCodecName(p->video.codec)};
    if (o.bitrate) return FieldError{"crf", "set either bitrate or crf, not both"};
    p->video.crf = *o.crf;
    if (*o.crf == 0 && p->video.codec == VideoCodec::kH264) {
      p->video.maxrate = 0;  // lossless: a rate cap would raise the quantiser again
      p->video.bufsize = 0;
    }
  }
  if (o.width) {
    if (*o.width < 16 || *o.width > 7680) return FieldError{"width", "must be between 16 and 7680"};
    p->video.width = *o.width;
    p->video.lines = 0;
  }
  if (o.height) {
    if (*o.height < 16 || *o.height > 4320)
      return FieldError{"height", "must be between 16 and 4320"};
    p->video.height = *o.height;
    p->video.lines = 0;
  }
  if (o.fps) {
    if (!(*o.fps >= 1 && *o.fps <= kMaxFps))
      return FieldError{"fps", "must be between 1 and " + std::to_string(int(kMaxFps))};
    p->video.fps = *o.fps;
  }
  if (o.audio_bitrate) {
    if (*o.audio_bitrate < 32'000 || *o.audio_bitrate > 512'000)
      return FieldError{"audio_bitrate", "must be between 32k and 512k bits/s"};
    p->audio.bitrate = *o.audio_bitrate;
  }
  return std::nullopt;
}

Result<int64_t> ParseBitrate(std::string_view text) {
  std::string s(text);
  if (s.empty()) return InvalidArgument("empty bitrate");
  double scale = 1;
  char last = s.back();
  if (last == 'k' || last == 'K') scale = 1e3;
  if (last == 'm' || last == 'M') scale = 1e6;
  if (scale != 1) s.pop_back();
  char* end = nullptr;
  double v = std::strtod(s.c_str(), &end);
  // Bounded before rounding: llround of 1e300 has no int64 to give.
  if (s.empty() || end != s.c_str() + s.size() || !(v > 0 && v * scale < 1e15)) {
    std::string message = "'";  // built by appending: GCC 12 misreports "'" + str (-Wrestrict)
    message.append(text).append("' is not a bitrate (examples: 800k, 5M)");
    return InvalidArgument(message);
  }
  return static_cast<int64_t>(std::llround(v * scale));
}

}  // namespace reel::presets
