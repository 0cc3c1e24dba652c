#include "job/spec.h"

#include "presets/catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstdio>
#include <set>
#include <sstream>

namespace reel::job {
namespace {

using nlohmann::json;

struct Invalid {
  FieldError error;
};

[[noreturn]] void Fail(std::string field, std::string message) {
  throw Invalid{{std::move(field), std::move(message)}};
}

bool IsControl(char c) {
  auto u = static_cast<unsigned char>(c);
  return u < 0x20 || u == 0x7f;
}

// A user's string as it may appear in an error (which the API returns and servers log):
// control characters escaped, so a name cannot forge log lines or drive a terminal, and cut short.
std::string Printable(std::string_view s, size_t max = 64) {
  std::string out;
  for (size_t i = 0; i < s.size() && out.size() < max; ++i) {
    if (IsControl(s[i])) {
      char buf[8];
      std::snprintf(buf, sizeof(buf), "\\x%02x", static_cast<unsigned char>(s[i]));
      out += buf;
    } else {
      out += s[i];
    }
  }
  if (out.size() >= max) out += "...";
  return out;
}

// Strings reach log lines, file names and HTTP requests: no control characters anywhere.
void CheckText(std::string_view s, const std::string& path) {
  for (char c : s)
    if (IsControl(c)) Fail(path, "must not contain control characters (newline, NUL, tab...)");
}

// Linux's limits (NAME_MAX, PATH_MAX): a destination longer would be accepted here and fail
// only when written.
constexpr size_t kMaxName = 255, kMaxPath = 4096;

// A path or URL names files: each name in it at most 255 bytes, the whole at most 4,096. A URL's
// host, query and fragment are not names; data: URLs carry media, not names.
void CheckLocation(std::string_view s, const std::string& path) {
  CheckText(s, path);
  if (s.rfind("data:", 0) == 0) return;
  if (s.size() > kMaxPath) Fail(path, "is longer than 4096 bytes");
  std::string_view names = s;
  if (size_t scheme = names.find("://"); scheme != std::string_view::npos) {
    bool file = names.substr(0, scheme) == "file";
    names.remove_prefix(scheme + 3);
    size_t slash = names.find('/');
    names = slash == std::string_view::npos ? std::string_view() : names.substr(slash);
    if (!file) names = names.substr(0, names.find_first_of("?#"));
  }
  while (!names.empty()) {
    size_t slash = names.find('/');
    if (std::min(slash, names.size()) > kMaxName) Fail(path, "has a name longer than 255 bytes");
    names.remove_prefix(slash == std::string_view::npos ? names.size() : slash + 1);
  }
}

void OnlyFields(const json& object, const std::string& path, const std::set<std::string>& allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      std::string key = Printable(it.key());
      Fail(path.empty() ? key : path + "." + key, "unknown field (allowed here: " + list + ")");
    }
  }
}

std::string RequireString(const json& object, const std::string& key, const std::string& path,
                          size_t max_length = 4096) {
  auto it = object.find(key);
  if (it == object.end()) Fail(path, "is required");
  if (!it->is_string()) Fail(path, "must be a string");
  std::string s = it->get<std::string>();
  if (s.empty()) Fail(path, "must not be empty");
  // A data: URL carries its media (10 MiB, 14 MiB of base64); storage checks its decoded size.
  if (s.rfind("data:", 0) == 0) max_length = std::max<size_t>(max_length, (14 << 20) + 256);
  if (s.size() > max_length)
    Fail(path, "is too long (" + std::to_string(max_length) + " characters at most)");
  CheckText(s, path);
  return s;
}

// A string naming a file or a URL: RequireString and CheckLocation.
std::string RequireLocation(const json& object, const std::string& key, const std::string& path,
                            size_t max_length = 4096) {
  std::string s = RequireString(object, key, path, max_length);
  CheckLocation(s, path);
  return s;
}

// An integer that fits an int. nlohmann keeps numbers above INT64_MAX as unsigned, which
// get<int64_t>() would wrap (18446744073709551615 read as -1).
std::optional<int> OptionalInt(const json& object, const std::string& key,
                               const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) Fail(path, "must be an integer");
  if (it->is_number_unsigned() ? it->get<uint64_t>() > INT32_MAX
                               : it->get<int64_t>() < INT32_MIN || it->get<int64_t>() > INT32_MAX)
    Fail(path, "is out of range");
  return static_cast<int>(it->get<int64_t>());
}

std::optional<double> OptionalNumber(const json& object, const std::string& key,
                                     const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) Fail(path, "must be a number");
  // 1e400 parses as infinity.
  if (!std::isfinite(it->get<double>())) Fail(path, "must be a finite number");
  return it->get<double>();
}

std::optional<int64_t> OptionalBitrate(const json& object, const std::string& key,
                                       const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  std::optional<int64_t> v = JsonBitrate(*it);
  if (!v) Fail(path, "must be a bitrate in bits/s or a string like \"2500k\" or \"5M\"");
  return v;
}

std::optional<double> NumberInRange(const json& object, const std::string& key,
                                    const std::string& path, double lo, double hi) {
  std::optional<double> v = OptionalNumber(object, key, path);
  if (v && !(*v >= lo && *v <= hi)) {
    std::ostringstream msg;
    msg << "must be between " << lo << " and " << hi;
    Fail(path, msg.str());
  }
  return v;
}

std::optional<int> IntInRange(const json& object, const std::string& key, const std::string& path,
                              int lo, int hi) {
  std::optional<int> v = OptionalInt(object, key, path);
  if (v && (*v < lo || *v > hi))
    Fail(path, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return v;
}

// A BCP 47 language tag as players match it: a primary language of 2 or 3 letters, then up to
// three subtags of 1 to 8 letters or digits ("fr", "pt-BR", "zh-Hant-TW", "es-419").
bool IsLanguageTag(std::string_view s) {
  if (s.size() > 35) return false;
  size_t part = 0, length = 0;
  for (size_t i = 0; i <= s.size(); ++i) {
    if (i == s.size() || s[i] == '-') {
      bool fits = part == 0 ? length >= 2 && length <= 3 : length >= 1 && length <= 8;
      if (!fits || ++part > 4) return false;
      length = 0;
      continue;
    }
    auto c = static_cast<unsigned char>(s[i]);
    if (part == 0 ? !std::isalpha(c) : !std::isalnum(c)) return false;
    ++length;
  }
  return true;
}

// "subtitle_tracks": [{"url": ..., "language": "fr", "name": "Français"}]
std::vector<SubtitleTrackSpec> ParseSubtitleTracks(const json& v) {
  if (!v.is_array() || v.empty() || v.size() > kMaxSubtitleTracks)
    Fail("subtitle_tracks",
         "must be an array of 1 to " + std::to_string(kMaxSubtitleTracks) + " objects with a url");
  std::vector<SubtitleTrackSpec> out;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string path = "subtitle_tracks[" + std::to_string(i) + "]";
    if (!v[i].is_object()) Fail(path, "must be an object with a url");
    OnlyFields(v[i], path, {"url", "language", "name"});
    SubtitleTrackSpec t;
    t.url = RequireLocation(v[i], "url", path + ".url");
    if (v[i].contains("language")) {
      t.language = RequireString(v[i], "language", path + ".language", 35);
      if (!IsLanguageTag(t.language))
        Fail(path + ".language", "must be a BCP 47 language tag such as \"fr\" or \"pt-BR\"");
    }
    if (v[i].contains("name")) {
      t.name = RequireString(v[i], "name", path + ".name", 64);
      // The name is quoted in playlists: a quote would end it.
      if (t.name.find('"') != std::string::npos) Fail(path + ".name", "must not contain \"");
    }
    out.push_back(std::move(t));
  }
  return out;
}

// "audio_tracks" of a package: [{"stream": 1, "language": "en", "name": "English", "default":
// true}], the source's audio streams it keeps, in this order (stream counts audio streams only).
std::vector<presets::AudioTrackChoice> ParseAudioTracks(const json& v, const std::string& field) {
  const size_t most = presets::kMaxAudioTracks;
  if (!v.is_array() || v.empty() || v.size() > most)
    Fail(field, "must be an array of 1 to " + std::to_string(most) + " objects with a stream");
  std::vector<presets::AudioTrackChoice> out;
  for (size_t i = 0; i < v.size(); ++i) {
    std::string path = field + "[" + std::to_string(i) + "]";
    if (!v[i].is_object()) Fail(path, "must be an object with a stream");
    OnlyFields(v[i], path, {"stream", "language", "name", "default"});
    presets::AudioTrackChoice t;
    if (!v[i].contains("stream")) Fail(path + ".stream", "is required");
    t.stream = *IntInRange(v[i], "stream", path + ".stream", 0, 63);
    for (const presets::AudioTrackChoice& o : out)
      if (o.stream == t.stream) Fail(path + ".stream", "repeats a stream another track keeps");
    if (v[i].contains("language")) {
      t.language = RequireString(v[i], "language", path + ".language", 35);
      if (!IsLanguageTag(t.language))
        Fail(path + ".language", "must be a BCP 47 language tag such as \"en\" or \"pt-BR\"");
    }
    if (v[i].contains("name")) {
      t.name = RequireString(v[i], "name", path + ".name", 64);
      // Quoted in the master playlist; RequireString lets data: strings be longer.
      if (t.name.size() > 64) Fail(path + ".name", "is too long (64 characters at most)");
      if (t.name.find('"') != std::string::npos) Fail(path + ".name", "must not contain \"");
      for (const presets::AudioTrackChoice& o : out)
        if (o.name == t.name)
          Fail(path + ".name", "is another track's name too; players list both");
    }
    if (auto d = v[i].find("default"); d != v[i].end()) {
      if (!d->is_boolean()) Fail(path + ".default", "must be true or false");
      t.is_default = d->get<bool>();
      for (const presets::AudioTrackChoice& o : out)
        if (t.is_default && o.is_default)
          Fail(path + ".default", "is true on another track too; at most one is the default");
    }
    out.push_back(std::move(t));
  }
  return out;
}

std::string Extension(const std::string& path) {
  size_t slash = path.find_last_of('/');
  size_t dot = path.find_last_of('.');
  if (dot == std::string::npos || (slash != std::string::npos && dot < slash)) return "";
  std::string ext = path.substr(dot + 1);
  for (char& c : ext) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return ext;
}

// No time point or offset is further into a source than this (115 days).
constexpr double kMaxSeconds = 1e7;

// "12.5", 12.5 or "10%".
presets::TimePoint ParseTimePoint(const json& v, const std::string& path) {
  presets::TimePoint t;
  if (v.is_number()) {
    t = {v.get<double>(), false};
  } else if (v.is_string()) {
    std::string s = v.get<std::string>();
    t.percent = !s.empty() && s.back() == '%';
    if (t.percent) s.pop_back();
    char* end = nullptr;
    t.value = std::strtod(s.c_str(), &end);
    if (s.empty() || *end) Fail(path, "must be seconds (12.5) or a percentage (\"10%\")");
  } else {
    Fail(path, "must be seconds (12.5) or a percentage (\"10%\")");
  }
  if (!(t.value >= 0) || (t.percent && t.value > 100))
    Fail(path, t.percent ? "must be between 0% and 100%" : "must not be negative");
  if (!(t.value <= kMaxSeconds)) Fail(path, "must be at most 10000000 seconds");
  return t;
}

void ParseNormalize(const json& o, const std::string& path, presets::AudioSettings* audio) {
  if (auto n = NumberInRange(o, "normalize", path + ".normalize", -70, -5))
    audio->normalize_lufs = *n;
}

void ParseFileOutput(const json& o, const std::string& path, OutputSpec* out) {
  const bool mkv = out->kind == "mkv";
  std::set<std::string> fields = {"kind",  "destination", "preset",  "bitrate",   "crf",
                                  "width", "height",      "fps",     "normalize", "audio_bitrate",
                                  "codec", "speed",       "profile", "hdr",       "bit_depth"};
  if (mkv) fields.insert("audio_codec");
  OnlyFields(o, path, fields);
  std::string name = out->kind == "webm" ? "vp9-720p" : "h264-720p";
  if (o.contains("preset")) name = RequireString(o, "preset", path + ".preset");
  const presets::Preset* preset = presets::FindPreset(name);
  if (!preset)
    Fail(path + ".preset", "unknown preset '" + Printable(name) + "' (see GET /v1/presets)");
  // Matroska holds what MP4 and WebM hold: any of their presets, written as .mkv.
  if (!mkv && presets::ContainerName(preset->container) != out->kind)
    Fail(path + ".preset", "preset '" + Printable(name) + "' writes " +
                               presets::ContainerName(preset->container) + ", not " + out->kind);
  presets::Overrides ov;
  ov.bitrate = OptionalBitrate(o, "bitrate", path + ".bitrate");
  ov.crf = OptionalInt(o, "crf", path + ".crf");
  ov.width = OptionalInt(o, "width", path + ".width");
  ov.height = OptionalInt(o, "height", path + ".height");
  ov.fps = OptionalNumber(o, "fps", path + ".fps");
  ov.audio_bitrate = OptionalBitrate(o, "audio_bitrate", path + ".audio_bitrate");
  if (o.contains("codec")) {
    std::string codec = RequireString(o, "codec", path + ".codec", 16);
    ov.codec = presets::VideoCodecByName(codec);
    if (!ov.codec) Fail(path + ".codec", "must be h264, hevc, av1 or vp9");
  }
  if (auto it = o.find("speed"); it != o.end())  // an SVT-AV1 preset may be a number
    ov.speed = it->is_number_integer() ? std::to_string(it->get<int64_t>())
                                       : RequireString(o, "speed", path + ".speed", 16);
  if (o.contains("profile")) ov.profile = RequireString(o, "profile", path + ".profile", 16);
  if (o.contains("hdr")) ov.hdr = RequireString(o, "hdr", path + ".hdr", 16);
  ov.bit_depth = OptionalInt(o, "bit_depth", path + ".bit_depth");
  out->preset = *preset;
  if (mkv) {
    out->preset.container = presets::Container::kMatroska;
    if (o.contains("audio_codec")) {
      std::string a = RequireString(o, "audio_codec", path + ".audio_codec", 16);
      if (a != "aac" && a != "opus") Fail(path + ".audio_codec", "must be aac or opus");
      out->preset.audio.codec = a == "aac" ? presets::AudioCodec::kAac : presets::AudioCodec::kOpus;
    }
  }
  if (auto err = presets::ApplyOverrides(ov, &out->preset))
    Fail(path + "." + err->field, err->message);
  ParseNormalize(o, path, &out->preset.audio);
}

// Keys name things in the user's own systems and end up in logs and exports; values are free text
// echoed back as JSON. (Depth is bounded by ParseJobDocument.)
void CheckMetadataKeys(const json& value) {
  if (value.is_object())
    for (auto it = value.begin(); it != value.end(); ++it) {
      for (char c : it.key())
        if (IsControl(c)) Fail("metadata", "keys must not contain control characters");
      CheckMetadataKeys(it.value());
    }
  else if (value.is_array())
    for (const json& item : value) CheckMetadataKeys(item);
}

// What an audio-only source is drawn on for the outputs that show a picture (see spec.h).
void ParseBackground(json* o, const std::string& path, OutputSpec* out) {
  static const std::set<std::string> kPictureKinds = {
      "hls", "dash", "mp4", "webm", "mkv", "preview", "mezzanine", "thumbnail", "sprite"};
  auto it = o->find("background");
  if (it == o->end() || !kPictureKinds.count(out->kind)) return;  // others: an unknown field
  std::string b = it->is_string() ? it->get<std::string>() : "";
  bool colour = b.size() == 7 && b[0] == '#' &&
                b.find_first_not_of("0123456789abcdefABCDEF", 1) == std::string::npos;
  if (!colour && b != "waveform" && b != "spectrum")
    Fail(path + ".background", "must be a colour \"#rrggbb\", \"waveform\" or \"spectrum\"");
  for (char& c : b) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  out->background = b;
  o->erase(it);
}

OutputSpec ParseOutput(const json& with_method, const std::string& path) {
  if (!with_method.is_object()) Fail(path, "must be an object");
  OutputSpec out;
  // "method" applies to any output with an http(s) destination; the rest is per kind.
  json o = with_method;
  if (auto m = o.find("method"); m != o.end()) {
    out.method = m->is_string() ? m->get<std::string>() : "";
    if (out.method != "PUT" && out.method != "POST") Fail(path + ".method", "must be PUT or POST");
    o.erase("method");
  }
  if (auto p = o.find("presign"); p != o.end()) {
    if (!p->is_number_integer() || p->get<int64_t>() < 1 || p->get<int64_t>() > 7 * 86400)
      Fail(path + ".presign", "must be seconds between 1 and 604800 (7 days)");
    out.presign_seconds = p->get<int64_t>();
    o.erase("presign");
  }
  if (auto e = TakeS3Headers(&o, path, &out.s3)) Fail(e->field, e->message);
  out.kind = RequireString(o, "kind", path + ".kind");
  const std::string& k = out.kind;
  ParseBackground(&o, path, &out);
  if (auto q = o.find("quality"); q != o.end()) {
    if (k != "hls" && k != "dash" && k != "mp4")
      Fail(path + ".quality", "is for hls, dash and mp4 outputs");
    if (!q->is_boolean()) Fail(path + ".quality", "must be true or false");
    out.quality = q->get<bool>();
    o.erase("quality");
  }
  if (auto p = o.find("publish"); p != o.end()) {
    if (k != "hls") Fail(path + ".publish", "is for hls outputs");
    std::string how = p->is_string() ? p->get<std::string>() : "";
    if (how != "progressive" && how != "end")
      Fail(path + ".publish", "must be \"progressive\" or \"end\"");
    out.progressive = how == "progressive";
    o.erase(p);
  }
  if (k == "hls" || k == "dash") {
    OnlyFields(o, path, {"kind", "destination", "ladder", "dash", "normalize", "audio_tracks"});
    if (auto t = o.find("audio_tracks"); t != o.end())
      out.audio_tracks = ParseAudioTracks(*t, path + ".audio_tracks");
    // A name, or the rungs themselves (presets/catalog.h bounds every field).
    FieldError ladder_error;
    Result<presets::Ladder> ladder = presets::ParseLadder(
        o.contains("ladder") ? o["ladder"] : json("default"), path + ".ladder", &ladder_error);
    if (!ladder.ok()) Fail(ladder_error.field, ladder_error.message);
    out.ladder = std::move(ladder).value();
    out.dash = k == "dash";
    if (auto it = o.find("dash"); it != o.end()) {
      if (!it->is_boolean()) Fail(path + ".dash", "must be true or false");
      out.dash = out.dash || it->get<bool>();
    }
    ParseNormalize(o, path, &out.ladder.audio);
  } else if (k == "mp4" || k == "webm" || k == "mkv") {
    ParseFileOutput(o, path, &out);
  } else if (k == "thumbnail") {
    OnlyFields(o, path, {"kind", "destination", "at", "count", "width", "height", "format"});
    presets::ThumbnailOptions& t = out.thumbnail;
    if (auto it = o.find("at"); it != o.end()) t.at = ParseTimePoint(*it, path + ".at");
    t.count = IntInRange(o, "count", path + ".count", 1, 100).value_or(1);
    t.width = IntInRange(o, "width", path + ".width", 16, 7680).value_or(0);
    t.height = IntInRange(o, "height", path + ".height", 16, 4320).value_or(0);
    std::string dest = RequireLocation(o, "destination", path + ".destination");
    std::string ext = Extension(dest);
    t.format = o.contains("format")           ? RequireString(o, "format", path + ".format")
               : t.count == 1 && !ext.empty() ? ext
                                              : "jpg";
    if (t.format == "jpeg") t.format = "jpg";
    if (t.format != "jpg" && t.format != "png" && t.format != "webp")
      Fail(path + (o.contains("format") ? ".format" : ".destination"),
           "image format must be jpg, png or webp");
  } else if (k == "sprite") {
    OnlyFields(o, path, {"kind", "destination", "interval", "columns", "width"});
    out.sprite.interval = NumberInRange(o, "interval", path + ".interval", 0.5, 600).value_or(10);
    out.sprite.columns = IntInRange(o, "columns", path + ".columns", 1, 50).value_or(10);
    out.sprite.tile_width = IntInRange(o, "width", path + ".width", 16, 1280).value_or(160);
    std::string dest = RequireLocation(o, "destination", path + ".destination");
    if (Extension(dest) != "jpg" && Extension(dest) != "jpeg")
      Fail(path + ".destination", "a sprite sheet is a .jpg (its WebVTT track is written beside)");
  } else if (k == "preview") {
    OnlyFields(o, path,
               {"kind", "destination", "start", "duration", "width", "height", "normalize"});
    presets::PreviewOptions& p = out.preview;
    p.start = NumberInRange(o, "start", path + ".start", 0, kMaxSeconds).value_or(0);
    p.duration = NumberInRange(o, "duration", path + ".duration", 0.5, 3600).value_or(30);
    p.width = IntInRange(o, "width", path + ".width", 16, 3840).value_or(480);
    p.height = IntInRange(o, "height", path + ".height", 16, 2160).value_or(270);
    if (p.width % 2 || p.height % 2) Fail(path + ".width", "preview sizes must be even");
    out.preset = presets::PreviewPreset(p);
    ParseNormalize(o, path, &out.preset.audio);
    std::string dest = RequireLocation(o, "destination", path + ".destination");
    out.preview_hls = dest.back() == '/';
    if (!out.preview_hls && Extension(dest) != "mp4")
      Fail(path + ".destination", "a preview is an .mp4 file, or HLS in a directory ending in /");
  } else if (k == "waveform") {
    OnlyFields(o, path,
               {"kind", "destination", "pixels_per_second", "bits", "image", "image_width",
                "image_height"});
    presets::WaveformOptions& w = out.waveform;
    w.pixels_per_second =
        IntInRange(o, "pixels_per_second", path + ".pixels_per_second", 1, 1000).value_or(100);
    w.bits = IntInRange(o, "bits", path + ".bits", 8, 16).value_or(8);
    if (w.bits != 8 && w.bits != 16) Fail(path + ".bits", "must be 8 or 16");
    if (o.contains("image")) {
      w.image = RequireLocation(o, "image", path + ".image");
      if (Extension(w.image) != "png") Fail(path + ".image", "the waveform image is a .png");
    }
    w.image_width = IntInRange(o, "image_width", path + ".image_width", 16, 10000).value_or(1800);
    w.image_height = IntInRange(o, "image_height", path + ".image_height", 16, 2000).value_or(280);
    if (Extension(RequireLocation(o, "destination", path + ".destination")) != "json")
      Fail(path + ".destination", "waveform data is a .json file (audiowaveform format v2)");
  } else if (k == "loudness") {
    OnlyFields(o, path, {"kind", "destination"});
    if (o.contains("destination"))
      out.destination = RequireLocation(o, "destination", path + ".destination");
    return out;  // the figures are in the result; a destination also gets them as JSON
  } else if (k == "mezzanine") {
    OnlyFields(o, path, {"kind", "destination", "codec"});
    std::string codec = o.contains("codec") ? RequireString(o, "codec", path + ".codec") : "h264";
    if (codec != "h264" && codec != "ffv1") Fail(path + ".codec", "must be h264 or ffv1");
    out.preset = presets::MezzaninePreset(codec == "ffv1");
    std::string want = codec == "ffv1" ? "mkv" : "mp4";
    if (Extension(RequireLocation(o, "destination", path + ".destination")) != want)
      Fail(path + ".destination", "a " + codec + " mezzanine is a ." + want + " file");
  } else {
    Fail(path + ".kind",
         "unknown kind '" + Printable(k) +
             "' (supported: hls, dash, mp4, webm, mkv, thumbnail, sprite, preview, waveform, "
             "loudness, mezzanine)");
  }
  out.destination = RequireLocation(o, "destination", path + ".destination");
  return out;
}

}  // namespace

std::optional<int64_t> JsonBitrate(const json& value) {
  if (value.is_number_integer()) {
    int64_t v = value.get<int64_t>();
    return v > 0 ? std::optional<int64_t>(v) : std::nullopt;
  }
  if (value.is_number_float()) {
    double v = value.get<double>();
    return std::isfinite(v) && v > 0 && v < 1e12 ? std::optional<int64_t>(std::llround(v))
                                                 : std::nullopt;
  }
  if (value.is_string()) {
    Result<int64_t> r = presets::ParseBitrate(value.get<std::string>());
    if (r.ok()) return *r;
  }
  return std::nullopt;
}

Result<nlohmann::json> ParseJobDocument(const std::string& text) {
  int depth = 0;
  bool in_string = false;
  for (size_t i = 0; i < text.size(); ++i) {
    char c = text[i];
    if (in_string) {
      if (c == '\\')
        ++i;
      else if (c == '"')
        in_string = false;
    } else if (c == '"') {
      in_string = true;
    } else if (c == '{' || c == '[') {
      if (++depth > kMaxJsonDepth)
        return InvalidArgument("JSON nested deeper than " + std::to_string(kMaxJsonDepth) +
                               " levels");
    } else if (c == '}' || c == ']') {
      --depth;
    }
  }
  nlohmann::json doc = nlohmann::json::parse(text, nullptr, false);
  if (doc.is_discarded()) return InvalidArgument("not valid JSON");
  return doc;
}

Result<JobSpec> ParseJobSpec(const json& spec, FieldError* error) {
  try {
    if (!spec.is_object()) Fail("", "the job spec must be a JSON object");
    OnlyFields(spec, "",
               {"source", "sources", "audio", "subtitles", "subtitle_tracks", "outputs", "metadata",
                "webhook", "credentials", "priority", "tags", "deinterlace", "chunking"});
    if (auto hook = spec.find("webhook"); hook != spec.end()) {
      if (!hook->is_object()) Fail("webhook", "must be an object with a url");
      OnlyFields(*hook, "webhook", {"url", "events", "progress_interval"});
      std::string url = RequireLocation(*hook, "url", "webhook.url");
      if (url.rfind("http://", 0) != 0 && url.rfind("https://", 0) != 0)
        Fail("webhook.url", "must be an http:// or https:// URL");
      bool progress = false;
      if (auto events = hook->find("events"); events != hook->end()) {
        if (!events->is_array() || events->empty() || events->size() > 5)
          Fail("webhook.events", "must be a non-empty array of at most 5 events");
        for (const auto& e : *events) {
          std::string name = e.is_string() ? e.get<std::string>() : "";
          progress |= name == "progress";
          if (name != "running" && name != "succeeded" && name != "failed" && name != "canceled" &&
              name != "progress")
            Fail("webhook.events", "events are running, succeeded, failed, canceled and progress");
        }
      }
      // Seconds between two progress deliveries of the job (default 10): at least 5, so that a
      // tenant cannot turn the senders into a firehose.
      if (IntInRange(*hook, "progress_interval", "webhook.progress_interval", 5, 3600) && !progress)
        Fail("webhook.progress_interval", "needs \"progress\" in webhook.events");
    }
    JobSpec job;
    if (auto d = spec.find("deinterlace"); d != spec.end()) {
      static const std::pair<const char*, presets::Deinterlace> kModes[] = {
          {"auto", presets::Deinterlace::kAuto},
          {"off", presets::Deinterlace::kOff},
          {"frame", presets::Deinterlace::kFrame},
          {"field", presets::Deinterlace::kField}};
      bool known = false;
      for (auto [name, mode] : kModes)
        if (d->is_string() && d->get<std::string>() == name) {
          job.deinterlace = mode;
          known = true;
        }
      if (!known) Fail("deinterlace", "must be \"auto\", \"off\", \"frame\" or \"field\"");
    }
    job.priority = IntInRange(spec, "priority", "priority", -100, 100).value_or(0);
    if (auto c = spec.find("chunking"); c != spec.end()) {
      if (c->is_object()) {
        OnlyFields(*c, "chunking", {"seconds"});
        std::optional<int> n =
            IntInRange(*c, "seconds", "chunking.seconds", kMinChunkSeconds, kMaxChunkSeconds);
        if (!n) Fail("chunking.seconds", "is required in a chunking object");
        job.chunking = JobSpec::Chunking::kSeconds;
        job.chunk_seconds = *n;
      } else if (*c == "auto" || *c == "off") {
        job.chunking = *c == "off" ? JobSpec::Chunking::kOff : JobSpec::Chunking::kAuto;
      } else {
        Fail("chunking", "must be \"auto\", \"off\" or {\"seconds\": N}");
      }
    }
    if (auto tags = spec.find("tags"); tags != spec.end()) {
      if (!tags->is_array() || tags->size() > 8) Fail("tags", "must be an array of at most 8 tags");
      for (const json& t : *tags) {
        std::string tag = t.is_string() ? t.get<std::string>() : "";
        bool valid = !tag.empty() && tag.size() <= 32;
        for (char c : tag)
          valid &= std::islower(static_cast<unsigned char>(c)) ||
                   std::isdigit(static_cast<unsigned char>(c)) || c == '-';
        if (!valid) Fail("tags", "tags are 1 to 32 of a-z, 0-9 and -");
        job.tags.push_back(tag);
      }
    }
    auto src = spec.find("source");
    auto many = spec.find("sources");
    if (src != spec.end() && many != spec.end()) Fail("sources", "give either source or sources");
    if (many != spec.end()) {
      if (!many->is_array() || many->size() < 2 || many->size() > 20)
        Fail("sources", "must be an array of 2 to 20 sources (or use \"source\" for one)");
      for (size_t i = 0; i < many->size(); ++i) {
        std::string path = "sources[" + std::to_string(i) + "]";
        const json& item = (*many)[i];
        if (item.is_string() && !item.get<std::string>().empty()) {
          CheckLocation(item.get<std::string>(), path);
          job.sources.push_back(item.get<std::string>());
          continue;
        }
        if (!item.is_object()) Fail(path, "must be a URL or an object with a url");
        OnlyFields(item, path, {"url", "main"});
        job.sources.push_back(RequireLocation(item, "url", path + ".url"));
        if (auto m = item.find("main"); m != item.end()) {
          if (!m->is_boolean()) Fail(path + ".main", "must be true or false");
          if (m->get<bool>()) {
            if (job.main_source >= 0) Fail(path + ".main", "only one source can be the main one");
            job.main_source = static_cast<int>(i);
          }
        }
      }
      job.source = job.sources.front();
    } else if (src == spec.end()) {
      Fail("source", "is required");
    } else if (src->is_string()) {
      job.source = RequireLocation(spec, "source", "source");
    } else if (src->is_object() && src->contains("inline")) {
      OnlyFields(*src, "source", {"inline"});
      // Inline media travels as a data: URL from here on.
      // 10 MiB of media is 14 MiB of base64. Tools end base64 with a newline, which the decoder
      // ignores: dropped here, before control characters are refused.
      json inline_media = *src;
      if (std::string* text = inline_media["inline"].get_ptr<std::string*>())
        while (!text->empty() && (text->back() == '\n' || text->back() == '\r')) text->pop_back();
      job.source = "data:application/octet-stream;base64," +
                   RequireString(inline_media, "inline", "source.inline", 14 << 20);
    } else if (src->is_object()) {
      OnlyFields(*src, "source", {"url"});
      job.source = RequireLocation(*src, "url", "source.url");
    } else {
      Fail("source", "must be an object with a url");
    }
    // "audio" and "subtitles" are inputs like "source": a URL string or {"url": ...}.
    for (const char* input : {"audio", "subtitles"}) {
      auto it = spec.find(input);
      if (it == spec.end()) continue;
      std::string value;
      if (it->is_string()) {
        value = RequireLocation(spec, input, input);
      } else if (it->is_object()) {
        OnlyFields(*it, input, {"url"});
        value = RequireLocation(*it, "url", std::string(input) + ".url");
      } else {
        Fail(input, "must be a URL or an object with a url");
      }
      (std::string(input) == "audio" ? job.audio : job.subtitles) = value;
    }
    if (auto tracks = spec.find("subtitle_tracks"); tracks != spec.end())
      job.subtitle_tracks = ParseSubtitleTracks(*tracks);
    if (auto creds = spec.find("credentials"); creds != spec.end()) {
      if (!creds->is_object()) Fail("credentials", "must be an object");
      OnlyFields(*creds, "credentials", {"s3", "sealed"});
      if (creds->contains("sealed") && !(*creds)["sealed"].is_string())
        Fail("credentials.sealed", "must be a string");
      if (creds->contains("s3")) {
        const json& s3 = (*creds)["s3"];
        if (!s3.is_object()) Fail("credentials.s3", "must be an object");
        OnlyFields(s3, "credentials.s3",
                   {"access_key", "secret_key", "endpoint", "region", "path_style"});
        RequireString(s3, "access_key", "credentials.s3.access_key");
        RequireString(s3, "secret_key", "credentials.s3.secret_key");
        if (s3.contains("endpoint")) RequireString(s3, "endpoint", "credentials.s3.endpoint");
        if (s3.contains("region")) RequireString(s3, "region", "credentials.s3.region");
        // Read as a boolean by the worker: anything else would only fail there.
        if (s3.contains("path_style") && !s3["path_style"].is_boolean())
          Fail("credentials.s3.path_style", "must be true or false");
        job.s3_credentials = s3;
      }
    }
    auto outs = spec.find("outputs");
    if (outs == spec.end()) Fail("outputs", "is required");
    if (!outs->is_array() || outs->empty()) Fail("outputs", "must be a non-empty array");
    if (outs->size() > kMaxOutputs)
      Fail("outputs", "has more than " + std::to_string(kMaxOutputs) + " entries");
    std::set<std::string> destinations;
    for (size_t i = 0; i < outs->size(); ++i) {
      std::string path = "outputs[" + std::to_string(i) + "]";
      OutputSpec out = ParseOutput((*outs)[i], path);
      if (!out.s3.empty() && out.destination.rfind("s3://", 0) != 0)
        Fail(path + "." + out.s3.FirstField(), "is for outputs whose destination is s3://");
      if (!out.audio_tracks.empty() && (!job.audio.empty() || job.sources.size() > 1))
        Fail(path + ".audio_tracks",
             "chooses among one source's own audio streams; not with "
             "\"audio\" or \"sources\"");
      if (!out.destination.empty() && !destinations.insert(out.destination).second)
        Fail(path + ".destination", "is used by another output");
      // One picture is drawn per job, from one decode of the audio.
      for (size_t j = 0; j < job.outputs.size(); ++j)
        if (!out.background.empty() && !job.outputs[j].background.empty() &&
            out.background != job.outputs[j].background)
          Fail(path + ".background", "differs from outputs[" + std::to_string(j) +
                                         "].background; a job draws one picture for all outputs");
      job.outputs.push_back(std::move(out));
    }
    // A package (or thumbnail set) replaces its whole folder: nothing else may be written in it.
    auto folder = [](const OutputSpec& o) -> std::string {
      bool directory = o.kind == "hls" || o.kind == "dash" || o.preview_hls ||
                       (o.kind == "thumbnail" && o.thumbnail.count > 1);
      if (!directory || o.destination.empty()) return "";
      return o.destination.back() == '/' ? o.destination : o.destination + "/";
    };
    for (size_t i = 0; i < job.outputs.size(); ++i)
      for (size_t j = 0; j < job.outputs.size(); ++j) {
        std::string dir = folder(job.outputs[j]);
        const std::string& dest = job.outputs[i].destination;
        if (i != j && !dir.empty() && dest.rfind(dir, 0) == 0)
          Fail("outputs[" + std::to_string(i) + "].destination",
               "is inside outputs[" + std::to_string(j) +
                   "]'s folder, which that output replaces whole; put it beside the folder");
      }
    if (auto meta = spec.find("metadata"); meta != spec.end()) {
      if (!meta->is_object()) Fail("metadata", "must be an object");
      if (meta->dump().size() > 16 * 1024) Fail("metadata", "is larger than 16 KiB");
      CheckMetadataKeys(*meta);
      job.metadata = *meta;
    }
    return job;
  } catch (const Invalid& e) {
    if (error) *error = e.error;
    std::string where = e.error.field.empty() ? "" : e.error.field + ": ";
    return InvalidArgument(where + e.error.message);
  }
}

}  // namespace reel::job
