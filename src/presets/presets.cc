#include "presets/presets.h"

#include <algorithm>
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
    case VideoCodec::kAv1:
      return "av1";
  }
  return "?";
}

std::optional<VideoCodec> VideoCodecByName(std::string_view name) {
  for (VideoCodec c : {VideoCodec::kH264, VideoCodec::kHevc, VideoCodec::kAv1, VideoCodec::kVp9})
    if (name == VideoCodecName(c)) return c;
  return std::nullopt;
}

std::string DefaultSpeed(VideoCodec codec) {
  // SVT-AV1 below preset 8 is minutes per second of 1080p on a small machine.
  return codec == VideoCodec::kAv1 ? "10" : "veryfast";
}

bool ValidSpeed(VideoCodec codec, std::string_view speed) {
  if (codec == VideoCodec::kAv1) {
    // Presets 0-3 are research speeds (hours per minute); 13 is not in every SVT-AV1.
    return speed.size() <= 2 && !speed.empty() &&
           std::all_of(speed.begin(), speed.end(), [](char c) { return c >= '0' && c <= '9'; }) &&
           std::atoi(std::string(speed).c_str()) >= 4 &&
           std::atoi(std::string(speed).c_str()) <= 12;
  }
  if (codec == VideoCodec::kFfv1) return true;
  for (const char* s : {"ultrafast", "superfast", "veryfast", "faster", "fast", "medium", "slow",
                        "slower", "veryslow"})
    if (speed == s) return true;
  return false;
}

bool ValidProfile(VideoCodec codec, std::string_view profile) {
  switch (codec) {
    case VideoCodec::kH264:
      return profile == "baseline" || profile == "main" || profile == "high";
    case VideoCodec::kHevc:
    case VideoCodec::kAv1:
      return profile == "main";  // 8-bit 4:2:0, what every decoder of the codec plays
    default:
      return false;
  }
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

Ladder MakeLadder(std::string name, VideoCodec codec,
                  std::initializer_list<std::pair<int, int64_t>> rungs) {
  Ladder l;
  l.name = std::move(name);
  for (auto [lines, bitrate] : rungs) {
    Rung r;
    r.name = std::to_string(lines) + "p";
    r.lines = lines;
    r.bitrate = bitrate;
    r.codec = codec;
    l.rungs.push_back(r);
  }
  l.video.codec = codec;
  l.video.fixed_gop = true;
  l.video.gop_seconds = 2;
  l.video.speed = DefaultSpeed(codec);
  l.audio.bitrate = 128000;
  l.segment_seconds = 6;
  return l;
}

std::vector<Ladder> MakeLadders() {
  return {
      MakeLadder("default", VideoCodec::kH264,
                 {{1080, 5000000}, {720, 3000000}, {480, 1500000}, {360, 800000}}),
      MakeLadder("mobile", VideoCodec::kH264,
                 {{1080, 5000000},
                  {720, 3000000},
                  {480, 1500000},
                  {360, 800000},
                  {240, 400000},
                  {144, 160000}}),
      MakeLadder("uhd", VideoCodec::kH264,
                 {{2160, 16000000},
                  {1440, 9000000},
                  {1080, 5000000},
                  {720, 3000000},
                  {480, 1500000},
                  {360, 800000}}),
      // HEVC and AV1 reach H.264's quality with about 60 % and 50 % of its bits.
      MakeLadder("hevc", VideoCodec::kHevc,
                 {{1080, 3000000}, {720, 1800000}, {480, 900000}, {360, 500000}}),
      MakeLadder("av1", VideoCodec::kAv1,
                 {{1080, 2500000}, {720, 1500000}, {480, 750000}, {360, 400000}}),
  };
}

const std::vector<Ladder>& BuiltInLadders() {
  static const std::vector<Ladder> ladders = MakeLadders();
  return ladders;
}

const std::vector<Preset>& BuiltInPresets() {
  static const std::vector<Preset> presets = MakePresets();
  return presets;
}

// The catalogue: built-ins then user entries, rebuilt by InstallUserCatalog.
std::vector<Preset>& PresetCatalog() {
  static std::vector<Preset> all = BuiltInPresets();
  return all;
}

std::vector<Ladder>& LadderCatalog() {
  static std::vector<Ladder> all = BuiltInLadders();
  return all;
}

}  // namespace

const std::vector<Preset>& AllPresets() { return PresetCatalog(); }

const Preset* FindPreset(std::string_view name) {
  for (const Preset& p : AllPresets())
    if (p.name == name) return &p;
  return nullptr;
}

const std::vector<Ladder>& AllLadders() { return LadderCatalog(); }

const Ladder* FindLadder(std::string_view name) {
  for (const Ladder& l : AllLadders())
    if (l.name == name) return &l;
  return nullptr;
}

Status InstallUserCatalog(std::vector<Preset> presets, std::vector<Ladder> ladders) {
  for (const Preset& p : presets)
    for (const Preset& b : BuiltInPresets())
      if (p.name == b.name) return InvalidArgument("preset '" + p.name + "' is built in");
  for (const Ladder& l : ladders)
    for (const Ladder& b : BuiltInLadders())
      if (l.name == b.name) return InvalidArgument("ladder '" + l.name + "' is built in");
  PresetCatalog() = BuiltInPresets();
  PresetCatalog().insert(PresetCatalog().end(), presets.begin(), presets.end());
  LadderCatalog() = BuiltInLadders();
  LadderCatalog().insert(LadderCatalog().end(), ladders.begin(), ladders.end());
  return Status::Ok();
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
  v.codec = rung.codec;
  v.speed = !rung.speed.empty()                          ? rung.speed
            : ValidSpeed(rung.codec, ladder.video.speed) ? ladder.video.speed
                                                         : DefaultSpeed(rung.codec);
  if (!rung.profile.empty()) v.profile = rung.profile;
  if (rung.fps > 0) v.fps = rung.fps;
  v.keep_hdr = rung.keep_hdr;
  v.bit_depth = rung.bit_depth;
  if (rung.crf >= 0) {
    // Constant quality under a cap: the cap is what the master declares and players budget for.
    v.bitrate = 0;
    v.crf = rung.crf;
    v.maxrate = rung.maxrate;
    v.bufsize = rung.maxrate * 2;
    return v;
  }
  v.bitrate = rung.bitrate;
  v.maxrate = rung.maxrate > 0 ? rung.maxrate : rung.bitrate * 11 / 10;
  v.bufsize = rung.bitrate * 2;
  return v;
}

std::optional<FieldError> SetPictureDepth(VideoCodec codec, const std::optional<std::string>& hdr,
                                          std::optional<int> bit_depth, bool* keep_hdr,
                                          int* depth) {
  bool deep = codec == VideoCodec::kHevc || codec == VideoCodec::kAv1;
  if (hdr) {
    if (*hdr != "keep" && *hdr != "tonemap")
      return FieldError{"hdr", "must be \"keep\" or \"tonemap\""};
    if (*hdr == "keep" && !deep)
      return FieldError{"hdr", std::string("\"keep\" needs codec hevc or av1, not ") +
                                   VideoCodecName(codec) + " (which is tone-mapped to SDR)"};
    *keep_hdr = *hdr == "keep";
  }
  if (bit_depth) {
    if (*bit_depth != 8 && *bit_depth != 10) return FieldError{"bit_depth", "must be 8 or 10"};
    if (*bit_depth == 10 && !deep)
      return FieldError{"bit_depth",
                        std::string("10 needs codec hevc or av1, not ") + VideoCodecName(codec)};
    if (*bit_depth == 8 && *keep_hdr)
      return FieldError{"bit_depth", "must be 10 with \"hdr\": \"keep\" (HDR is 10-bit)"};
    *depth = *bit_depth;
  }
  if (*keep_hdr) *depth = 10;
  return std::nullopt;
}

std::optional<FieldError> ApplyOverrides(const Overrides& o, Preset* p) {
  constexpr int64_t kMinVideoBitrate = 50'000, kMaxVideoBitrate = 100'000'000;
  if (o.codec && *o.codec != p->video.codec) {
    VideoCodec c = *o.codec;
    bool fits = p->container == Container::kWebm ? c == VideoCodec::kVp9 || c == VideoCodec::kAv1
                : p->container == Container::kMp4
                    ? c == VideoCodec::kH264 || c == VideoCodec::kHevc || c == VideoCodec::kAv1
                    : c != VideoCodec::kFfv1;
    if (!fits)
      return FieldError{"codec", std::string(ContainerName(p->container)) + " cannot hold " +
                                     VideoCodecName(c) +
                                     " here (mp4: h264, hevc, av1; webm: "
                                     "vp9, av1)"};
    p->video.codec = c;
    p->video.profile.clear();
    // Each codec's CRF scale differs: start from its usual value at this size class.
    if (p->video.crf >= 0)
      p->video.crf = c == VideoCodec::kAv1    ? 35
                     : c == VideoCodec::kVp9  ? 33
                     : c == VideoCodec::kHevc ? 26
                                              : 23;
    if (!ValidSpeed(c, p->video.speed)) p->video.speed = DefaultSpeed(c);
  }
  if (o.speed) {
    if (!ValidSpeed(p->video.codec, *o.speed))
      return FieldError{"speed", p->video.codec == VideoCodec::kAv1
                                     ? "must be an SVT-AV1 preset from \"4\" (slow) to \"12\""
                                     : "must be one of ultrafast, superfast, veryfast, faster, "
                                       "fast, medium, slow, slower, veryslow"};
    p->video.speed = *o.speed;
  }
  if (o.profile) {
    if (!ValidProfile(p->video.codec, *o.profile))
      return FieldError{"profile",
                        p->video.codec == VideoCodec::kH264
                            ? "must be baseline, main or high for h264"
                            : std::string("must be main for ") + VideoCodecName(p->video.codec)};
    p->video.profile = *o.profile;
  }
  if (o.hdr || o.bit_depth)
    if (auto err = SetPictureDepth(p->video.codec, o.hdr, o.bit_depth, &p->video.keep_hdr,
                                   &p->video.bit_depth))
      return err;
  if (o.bitrate) {
    if (*o.bitrate < kMinVideoBitrate || *o.bitrate > kMaxVideoBitrate)
      return FieldError{"bitrate", "must be between 50k and 100M bits/s"};
    p->video.bitrate = *o.bitrate;
    p->video.maxrate = *o.bitrate * 3 / 2;
    p->video.bufsize = *o.bitrate * 3;
    p->video.crf = -1;
  }
  if (o.crf) {
    bool wide = p->video.codec == VideoCodec::kVp9 || p->video.codec == VideoCodec::kAv1;
    int max_crf = wide ? 63 : 51;
    // SVT-AV1 through libavcodec reads crf 0 as "not set".
    int min_crf = p->video.codec == VideoCodec::kAv1 ? 1 : 0;
    if (*o.crf < min_crf || *o.crf > max_crf)
      return FieldError{"crf", "must be between " + std::to_string(min_crf) + " and " +
                                   std::to_string(max_crf) + " for " +
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
