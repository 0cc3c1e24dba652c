#include "presets/catalog.h"

#include <algorithm>
#include <cctype>
#include <cmath>
#include <cstring>
#include <fstream>
#include <set>
#include <sstream>

#include "common/yaml.h"

namespace reel::presets {
namespace {

using nlohmann::json;

// Parse errors unwind to the public functions, which turn them into a Status; they never leave
// this file.
struct Invalid {
  FieldError error;
};

[[noreturn]] void Fail(std::string field, std::string message) {
  throw Invalid{{std::move(field), std::move(message)}};
}

void OnlyFields(const json& object, const std::string& path, const std::set<std::string>& allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (allowed.count(it.key())) continue;
    std::string list;
    for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
    std::string key = it.key().substr(0, 64);
    for (char& c : key)
      if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
    Fail(path.empty() ? key : path + "." + key, "unknown field (allowed here: " + list + ")");
  }
}

std::optional<int> Int(const json& o, const char* key, const std::string& path, int lo, int hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::string field = path + "." + key;
  if (!it->is_number_integer()) Fail(field, "must be an integer");
  // nlohmann keeps non-negative numbers unsigned; above INT64_MAX get<int64_t> would wrap.
  bool in = it->is_number_unsigned()
                ? it->get<uint64_t>() <= uint64_t(hi) && int64_t(it->get<uint64_t>()) >= lo
                : it->get<int64_t>() >= lo && it->get<int64_t>() <= hi;
  if (!in) Fail(field, "must be between " + std::to_string(lo) + " and " + std::to_string(hi));
  return static_cast<int>(it->get<int64_t>());
}

std::optional<double> Number(const json& o, const char* key, const std::string& path, double lo,
                             double hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::string field = path + "." + key;
  if (!it->is_number() || !std::isfinite(it->get<double>())) Fail(field, "must be a number");
  double v = it->get<double>();
  if (!(v >= lo && v <= hi)) {
    std::ostringstream msg;
    msg << "must be between " << lo << " and " << hi;
    Fail(field, msg.str());
  }
  return v;
}

std::optional<std::string> String(const json& o, const char* key, const std::string& path,
                                  size_t max = 64) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::string field = path + "." + key;
  if (!it->is_string() || it->get<std::string>().empty()) Fail(field, "must be a string");
  std::string s = it->get<std::string>();
  if (s.size() > max) Fail(field, "is longer than " + std::to_string(max) + " characters");
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f)
      Fail(field, "must not contain control characters");
  return s;
}

// Bits/s as a number or "2500k"/"5M", within [lo, hi].
std::optional<int64_t> Bitrate(const json& o, const char* key, const std::string& path, int64_t lo,
                               int64_t hi) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::string field = path + "." + key;
  std::optional<int64_t> v;
  if (it->is_number() && std::isfinite(it->get<double>()) && it->get<double>() > 0 &&
      it->get<double>() < 1e12)
    v = std::llround(it->get<double>());
  if (it->is_string())
    if (Result<int64_t> r = ParseBitrate(it->get<std::string>()); r.ok()) v = *r;
  if (!v) Fail(field, "must be a bitrate in bits/s or a string like \"2500k\" or \"5M\"");
  if (*v < lo || *v > hi)
    Fail(field, "must be between " + std::to_string(lo / 1000) + "k and " +
                    std::to_string(hi / 1000000) + "M bits/s");
  return v;
}

// SVT-AV1 presets are numbers; x264/x265 speeds are names. A rung may give either form.
std::optional<std::string> Speed(const json& o, const std::string& path, VideoCodec codec) {
  auto it = o.find("speed");
  if (it == o.end() || it->is_null()) return std::nullopt;
  std::string s = it->is_number_integer() ? std::to_string(it->get<int64_t>())
                  : it->is_string()       ? it->get<std::string>()
                                          : "";
  if (!ValidSpeed(codec, s))
    Fail(path + ".speed", codec == VideoCodec::kAv1
                              ? "must be an SVT-AV1 preset from 4 (slow) to 12 (fast)"
                              : "must be one of ultrafast, superfast, veryfast, faster, fast, "
                                "medium, slow, slower, veryslow");
  return s;
}

VideoCodec Codec(const json& o, const std::string& path, bool webm_too) {
  std::optional<std::string> name = String(o, "codec", path);
  if (!name) return VideoCodec::kH264;
  std::optional<VideoCodec> c = VideoCodecByName(*name);
  if (!c || (!webm_too && *c == VideoCodec::kVp9))
    Fail(path + ".codec",
         webm_too ? "must be h264, hevc, av1 or vp9" : "must be h264, hevc or av1");
  return *c;
}

int MaxCrf(VideoCodec c) { return c == VideoCodec::kAv1 || c == VideoCodec::kVp9 ? 63 : 51; }

int EvenLines(int width) {
  return std::max(2, static_cast<int>(std::lround(width * 9.0 / 32)) * 2);
}

Rung ParseRung(const json& r, const std::string& path) {
  if (!r.is_object()) Fail(path, "must be an object (a rung: height, bitrate, codec...)");
  OnlyFields(r, path,
             {"height", "width", "bitrate", "crf", "maxrate", "codec", "fps", "profile", "speed",
              "hdr", "bit_depth"});
  Rung rung;
  rung.codec = Codec(r, path, false);
  std::optional<int> height = Int(r, "height", path, 16, 4320);
  std::optional<int> width = Int(r, "width", path, 16, 7680);
  if (height && width) Fail(path + ".width", "give height or width, not both");
  if (!height && !width) Fail(path + ".height", "is required (or width)");
  if ((height && *height % 2) || (width && *width % 2))
    Fail(path + (height ? ".height" : ".width"), "must be even");
  // A width names the 16:9 box of that width: "width": 1280 is the 720p class.
  rung.lines = height ? *height : EvenLines(*width);
  rung.name = std::to_string(rung.lines) + "p";
  std::optional<int64_t> bitrate = Bitrate(r, "bitrate", path, 50'000, 100'000'000);
  std::optional<int> crf = Int(r, "crf", path, 1, MaxCrf(rung.codec));
  std::optional<int64_t> maxrate = Bitrate(r, "maxrate", path, 50'000, 200'000'000);
  if (bitrate && crf) Fail(path + ".crf", "give bitrate or crf, not both");
  if (!bitrate && !crf) Fail(path + ".bitrate", "is required (or crf with maxrate)");
  if (crf && !maxrate)
    Fail(path + ".maxrate", "is required with crf (the cap the playlist declares)");
  if (bitrate && maxrate && *maxrate < *bitrate) Fail(path + ".maxrate", "must be >= bitrate");
  rung.bitrate = bitrate.value_or(0);
  rung.crf = crf.value_or(-1);
  rung.maxrate = maxrate.value_or(0);
  rung.fps = Number(r, "fps", path, 1, kMaxFps).value_or(0);
  if (std::optional<std::string> profile = String(r, "profile", path)) {
    if (!ValidProfile(rung.codec, *profile))
      Fail(path + ".profile", rung.codec == VideoCodec::kH264
                                  ? "must be baseline, main or high for h264"
                                  : std::string("must be main for ") + VideoCodecName(rung.codec));
    rung.profile = *profile;
  }
  rung.speed = Speed(r, path, rung.codec).value_or("");
  if (auto err = SetPictureDepth(rung.codec, String(r, "hdr", path, 16),
                                 Int(r, "bit_depth", path, 8, 10), &rung.keep_hdr, &rung.bit_depth))
    Fail(path + "." + err->field, err->message);
  return rung;
}

std::vector<Rung> ParseRungs(const json& rungs, const std::string& path) {
  if (!rungs.is_array() || rungs.empty()) Fail(path, "must be a non-empty array of rungs");
  if (rungs.size() > kMaxRungs) Fail(path, "has more than " + std::to_string(kMaxRungs) + " rungs");
  std::vector<Rung> out;
  for (size_t i = 0; i < rungs.size(); ++i) {
    std::string at = path + "[" + std::to_string(i) + "]";
    Rung r = ParseRung(rungs[i], at);
    for (const Rung& o : out)
      if (o.codec == r.codec && o.lines == r.lines)
        Fail(at, "repeats a " + r.name + " " + VideoCodecName(r.codec) + " rung");
    out.push_back(std::move(r));
  }
  // Highest first, as SelectRungs expects; the codecs keep the order they first appear in.
  // (A strict weak order: by the codec's first appearance, then lines, highest first.)
  auto first_seen = [&out](VideoCodec c) {
    for (size_t i = 0; i < out.size(); ++i)
      if (out[i].codec == c) return i;
    return out.size();
  };
  std::vector<size_t> order(out.size());
  for (size_t i = 0; i < out.size(); ++i) order[i] = first_seen(out[i].codec);
  std::vector<size_t> index(out.size());
  for (size_t i = 0; i < index.size(); ++i) index[i] = i;
  std::stable_sort(index.begin(), index.end(), [&](size_t a, size_t b) {
    if (order[a] != order[b]) return order[a] < order[b];
    return out[a].lines > out[b].lines;
  });
  std::vector<Rung> sorted;
  for (size_t i : index) sorted.push_back(std::move(out[i]));
  return sorted;
}

std::optional<bool> Bool(const json& o, const char* key, const std::string& path) {
  auto it = o.find(key);
  if (it == o.end() || it->is_null()) return std::nullopt;
  if (!it->is_boolean()) Fail(path + "." + key, "must be true or false");
  return it->get<bool>();
}

// `per_title` and `target_psnr` of a ladder object; a target alone does not turn per-title on.
void PerTitle(const json& v, const std::string& path, Ladder* l) {
  l->per_title = Bool(v, "per_title", path).value_or(l->per_title);
  l->target_psnr =
      Number(v, "target_psnr", path, kMinTargetPsnr, kMaxTargetPsnr).value_or(l->target_psnr);
}

// A ladder made of `rungs` on the default ladder's shared settings.
Ladder InlineLadder(std::vector<Rung> rungs, std::string name) {
  Ladder l = *FindLadder("default");
  l.name = std::move(name);
  l.rungs = std::move(rungs);
  l.video.codec = l.rungs.front().codec;
  return l;
}

void CheckName(const std::string& name, const std::string& path) {
  bool ok = !name.empty() && name.size() <= 32;
  for (char c : name)
    ok &= (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '-' || c == '_';
  if (!ok) Fail(path, "names are 1 to 32 of a-z, 0-9, - and _");
}

Ladder ParseUserLadder(const std::string& name, const json& v, const std::string& path) {
  if (v.is_array()) return InlineLadder(ParseRungs(v, path), name);
  if (!v.is_object()) Fail(path, "must be an array of rungs or an object with rungs");
  OnlyFields(
      v, path,
      {"rungs", "segment_seconds", "audio_bitrate", "description", "per_title", "target_psnr"});
  if (!v.contains("rungs")) Fail(path + ".rungs", "is required");
  Ladder l = InlineLadder(ParseRungs(v["rungs"], path + ".rungs"), name);
  l.segment_seconds = Number(v, "segment_seconds", path, 1, 20).value_or(l.segment_seconds);
  l.audio.bitrate = Bitrate(v, "audio_bitrate", path, 32'000, 512'000).value_or(l.audio.bitrate);
  String(v, "description", path, 200);
  PerTitle(v, path, &l);
  return l;
}

Preset ParseUserPreset(const std::string& name, const json& v, const std::string& path) {
  if (!v.is_object()) Fail(path, "must be an object");
  OnlyFields(v, path,
             {"container", "codec", "bitrate", "crf", "maxrate", "width", "height", "fps", "speed",
              "profile", "audio_bitrate", "description", "hdr", "bit_depth"});
  std::string container = String(v, "container", path).value_or("mp4");
  const Preset* base = container == "mp4"    ? FindPreset("h264-720p")
                       : container == "webm" ? FindPreset("vp9-720p")
                                             : nullptr;
  if (!base) Fail(path + ".container", "must be mp4 or webm");
  Preset p = *base;
  p.name = name;
  p.video.lines = 0;
  Overrides o;
  if (v.contains("codec")) o.codec = Codec(v, path, true);
  o.bitrate = Bitrate(v, "bitrate", path, 50'000, 100'000'000);
  o.crf = Int(v, "crf", path, 0, 63);
  o.width = Int(v, "width", path, 16, 7680);
  o.height = Int(v, "height", path, 16, 4320);
  o.fps = Number(v, "fps", path, 1, kMaxFps);
  o.audio_bitrate = Bitrate(v, "audio_bitrate", path, 32'000, 512'000);
  if (auto s = v.find("speed"); s != v.end() && s->is_number_integer())
    o.speed = std::to_string(s->get<int64_t>());
  else
    o.speed = String(v, "speed", path);
  o.profile = String(v, "profile", path);
  o.hdr = String(v, "hdr", path, 16);
  o.bit_depth = Int(v, "bit_depth", path, 8, 10);
  if (!o.width && !o.height) p.video.lines = 720;
  if (auto err = ApplyOverrides(o, &p)) Fail(path + "." + err->field, err->message);
  if (auto maxrate = Bitrate(v, "maxrate", path, 50'000, 200'000'000)) {
    p.video.maxrate = *maxrate;
    p.video.bufsize = *maxrate * 2;
  }
  p.description = String(v, "description", path, 200)
                      .value_or(std::string("user preset: ") + VideoCodecName(p.video.codec));
  return p;
}

json RungJson(const Rung& r) {
  json j = {{"name", r.name}, {"lines", r.lines}, {"codec", VideoCodecName(r.codec)}};
  if (r.crf >= 0) {
    j["crf"] = r.crf;
    j["maxrate"] = r.maxrate;
  } else {
    j["bitrate"] = r.bitrate;
  }
  if (r.fps > 0) j["fps"] = r.fps;
  if (!r.profile.empty()) j["profile"] = r.profile;
  if (!r.speed.empty()) j["speed"] = r.speed;
  if (r.keep_hdr) j["hdr"] = "keep";
  if (r.bit_depth != 8) j["bit_depth"] = r.bit_depth;
  return j;
}

}  // namespace

Result<Ladder> ParseLadder(const json& value, const std::string& path, FieldError* error) {
  try {
    if (value.is_string()) {
      const Ladder* l = FindLadder(value.get<std::string>());
      if (!l) {
        std::string names;
        for (const Ladder& a : AllLadders()) names += (names.empty() ? "" : ", ") + a.name;
        Fail(path, "unknown ladder (known: " + names + "; or an array of rungs)");
      }
      return *l;
    }
    if (value.is_object()) {
      // {"name": "default" | "rungs": [...], "per_title": true, "target_psnr": 40}
      OnlyFields(value, path, {"name", "rungs", "per_title", "target_psnr"});
      if (value.contains("name") == value.contains("rungs"))
        Fail(path + ".name", "give a ladder name or rungs (one of them)");
      Result<Ladder> base = value.contains("name")
                                ? ParseLadder(value["name"], path + ".name", error)
                                : ParseLadder(value["rungs"], path + ".rungs", error);
      if (!base.ok()) return base;
      PerTitle(value, path, &*base);
      return base;
    }
    if (!value.is_array())
      Fail(path, "must be a ladder name, an array of rungs or an object with name or rungs");
    return InlineLadder(ParseRungs(value, path), "inline");
  } catch (const Invalid& e) {
    if (error) *error = e.error;
    return InvalidArgument(e.error.field + ": " + e.error.message);
  }
}

Result<UserCatalog> ParseCatalogFile(const std::string& text, const std::string& file_name) {
  // YAML or JSON into one JSON value: the same validation below for both.
  Result<Document> parsed = ParseDocument(text, file_name);
  if (!parsed.ok()) return parsed.status();
  const json& doc = parsed->value;
  UserCatalog out;
  try {
    if (!doc.is_object()) Fail("", "must be an object with ladders and presets");
    OnlyFields(doc, "", {"ladders", "presets"});
    for (const char* section : {"ladders", "presets"}) {
      auto it = doc.find(section);
      if (it == doc.end()) continue;
      if (!it->is_object()) Fail(section, "must be an object of named entries");
      for (auto e = it->begin(); e != it->end(); ++e) {
        std::string path = std::string(section) + "." + e.key();
        CheckName(e.key(), path);
        if (std::string(section) == "ladders")
          out.ladders.push_back(ParseUserLadder(e.key(), e.value(), path));
        else
          out.presets.push_back(ParseUserPreset(e.key(), e.value(), path));
      }
    }
  } catch (const Invalid& e) {
    int line = parsed->LineOf(e.error.field);
    std::string field = e.error.field.empty() ? "" : e.error.field + ": ";
    return InvalidArgument(file_name + ":" + std::to_string(line) + ": " + field + e.error.message);
  }
  return out;
}

Status LoadCatalogFile(const std::string& path) {
  std::ifstream in(path);
  if (!in) return NotFound("cannot open presets file " + path);
  std::stringstream text;
  text << in.rdbuf();
  if (text.str().size() > (1 << 20)) return InvalidArgument(path + ": larger than 1 MiB");
  Result<UserCatalog> c = ParseCatalogFile(text.str(), path);
  if (!c.ok()) return c.status();
  return InstallUserCatalog(std::move(c->presets), std::move(c->ladders));
}

json CatalogJson() {
  json presets = json::array();
  for (const Preset& p : AllPresets()) {
    json j = {{"name", p.name},
              {"description", p.description},
              {"container", ContainerName(p.container)},
              {"video_codec", VideoCodecName(p.video.codec)},
              {"audio_codec", AudioCodecName(p.audio.codec)},
              {"speed", p.video.speed}};
    if (p.video.crf >= 0) j["crf"] = p.video.crf;
    if (p.video.bitrate > 0) j["bitrate"] = p.video.bitrate;
    if (p.video.maxrate > 0) j["maxrate"] = p.video.maxrate;
    presets.push_back(std::move(j));
  }
  json ladders = json::array();
  for (const Ladder& l : AllLadders()) {
    json rungs = json::array();
    std::set<std::string> codecs;
    for (const Rung& r : l.rungs) {
      rungs.push_back(RungJson(r));
      codecs.insert(VideoCodecName(r.codec));
    }
    ladders.push_back({{"name", l.name},
                       {"rungs", rungs},
                       {"codecs", codecs},
                       {"video_codec", VideoCodecName(l.video.codec)},
                       {"segment_seconds", l.segment_seconds},
                       {"audio_bitrate", l.audio.bitrate},
                       {"per_title", l.per_title},
                       {"target_psnr", l.target_psnr}});
  }
  return {{"presets", presets}, {"ladders", ladders}};
}

}  // namespace reel::presets
