#include "job/spec.h"

#include <cmath>
#include <set>

namespace reel::job {
namespace {

using nlohmann::json;

struct Invalid {
  FieldError error;
};

[[noreturn]] void Fail(std::string field, std::string message) {
  throw Invalid{{std::move(field), std::move(message)}};
}

void OnlyFields(const json& object, const std::string& path, const std::set<std::string>& allowed) {
  for (auto it = object.begin(); it != object.end(); ++it) {
    if (!allowed.count(it.key())) {
      std::string list;
      for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
      Fail(path.empty() ? it.key() : path + "." + it.key(),
           "unknown field (allowed here: " + list + ")");
    }
  }
}

std::string RequireString(const json& object, const std::string& key, const std::string& path) {
  auto it = object.find(key);
  if (it == object.end()) Fail(path, "is required");
  if (!it->is_string()) Fail(path, "must be a string");
  std::string s = it->get<std::string>();
  if (s.empty()) Fail(path, "must not be empty");
  if (s.size() > 4096) Fail(path, "is too long (4096 characters at most)");
  return s;
}

std::optional<int> OptionalInt(const json& object, const std::string& key,
                               const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number_integer()) Fail(path, "must be an integer");
  int64_t v = it->get<int64_t>();
  if (v < INT32_MIN || v > INT32_MAX) Fail(path, "is out of range");
  return static_cast<int>(v);
}

std::optional<double> OptionalNumber(const json& object, const std::string& key,
                                     const std::string& path) {
  auto it = object.find(key);
  if (it == object.end() || it->is_null()) return std::nullopt;
  if (!it->is_number()) Fail(path, "must be a number");
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

OutputSpec ParseOutput(const json& o, const std::string& path) {
  if (!o.is_object()) Fail(path, "must be an object");
  OutputSpec out;
  out.kind = RequireString(o, "kind", path + ".kind");
  if (out.kind == "hls") {
    OnlyFields(o, path, {"kind", "destination", "ladder"});
    std::string name = "default";
    if (o.contains("ladder")) name = RequireString(o, "ladder", path + ".ladder");
    const presets::Ladder* ladder = presets::FindLadder(name);
    if (!ladder) Fail(path + ".ladder", "unknown ladder '" + name + "'");
    out.ladder = *ladder;
  } else if (out.kind == "mp4" || out.kind == "webm") {
    OnlyFields(o, path,
               {"kind", "destination", "preset", "bitrate", "crf", "width", "height", "fps",
                "audio_bitrate"});
    std::string name = out.kind == "mp4" ? "h264-720p" : "vp9-720p";
    if (o.contains("preset")) name = RequireString(o, "preset", path + ".preset");
    const presets::Preset* preset = presets::FindPreset(name);
    if (!preset) Fail(path + ".preset", "unknown preset '" + name + "' (see GET /v1/presets)");
    if (presets::ContainerName(preset->container) != out.kind)
      Fail(path + ".preset", "preset '" + name + "' writes " +
                                 presets::ContainerName(preset->container) + ", not " + out.kind);
    presets::Overrides ov;
    ov.bitrate = OptionalBitrate(o, "bitrate", path + ".bitrate");
    ov.crf = OptionalInt(o, "crf", path + ".crf");
    ov.width = OptionalInt(o, "width", path + ".width");
    ov.height = OptionalInt(o, "height", path + ".height");
    ov.fps = OptionalNumber(o, "fps", path + ".fps");
    ov.audio_bitrate = OptionalBitrate(o, "audio_bitrate", path + ".audio_bitrate");
    out.preset = *preset;
    if (auto err = presets::ApplyOverrides(ov, &out.preset))
      Fail(path + "." + err->field, err->message);
  } else {
    Fail(path + ".kind", "unknown kind '" + out.kind + "' (supported: hls, mp4, webm)");
  }
  out.destination = RequireString(o, "destination", path + ".destination");
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

Result<JobSpec> ParseJobSpec(const json& spec, FieldError* error) {
  try {
    if (!spec.is_object()) Fail("", "the job spec must be a JSON object");
    OnlyFields(spec, "", {"source", "outputs", "metadata"});
    JobSpec job;
    auto src = spec.find("source");
    if (src == spec.end()) Fail("source", "is required");
    if (src->is_string()) {
      job.source = RequireString(spec, "source", "source");
    } else if (src->is_object()) {
      OnlyFields(*src, "source", {"url"});
      job.source = RequireString(*src, "url", "source.url");
    } else {
      Fail("source", "must be an object with a url");
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
      if (!destinations.insert(out.destination).second)
        Fail(path + ".destination", "is used by another output");
      job.outputs.push_back(std::move(out));
    }
    if (auto meta = spec.find("metadata"); meta != spec.end()) {
      if (!meta->is_object()) Fail("metadata", "must be an object");
      if (meta->dump().size() > 16 * 1024) Fail("metadata", "is larger than 16 KiB");
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
