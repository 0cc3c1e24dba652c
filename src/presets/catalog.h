// Ladders, rungs and presets as data: parsed from JSON (a job's inline ladder, the `--presets`
// file) with every value bounded and every error naming its field, and listed back as JSON
// (GET /v1/presets, `reel presets`).
#pragma once

#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"
#include "presets/presets.h"

namespace reel::presets {

inline constexpr size_t kMaxRungs = 12;

// A job's "ladder": a name (built in or from the presets file), an inline array of rungs
// ({"height": 720, "bitrate": "3M", "codec": "hevc", ...}), or an object naming either with
// per-title options: {"name": "default", "per_title": true, "target_psnr": 40} or
// {"rungs": [...], "per_title": true}. Errors name the field under `path`
// ("outputs[0].ladder[2].bitrate", "outputs[0].ladder.target_psnr").
Result<Ladder> ParseLadder(const nlohmann::json& value, const std::string& path,
                           FieldError* error = nullptr);

// The presets file, YAML or JSON (by its extension, else its content: common/yaml.h), of the
// same shape: {"ladders": {"name": [rungs] or {"rungs": [...], "segment_seconds": 6,
// "audio_bitrate": "128k", "per_title": true, "target_psnr": 40, "description": "..."}},
// "presets": {"name": {"container": "mp4", "codec": "hevc", "bitrate"|"crf", "maxrate", "width",
// "height", "fps", "speed", "profile", "audio_bitrate", "description"}}}. Errors give the line and
// the field:
// "presets.json:12: ladders.phone.rungs[1].crf: must be between 1 and 51 for h264".
struct UserCatalog {
  std::vector<Preset> presets;
  std::vector<Ladder> ladders;
};
Result<UserCatalog> ParseCatalogFile(const std::string& text, const std::string& file_name);
// Reads, parses and installs (InstallUserCatalog) the file.
Status LoadCatalogFile(const std::string& path);

// {"presets": [...], "ladders": [...]}: every preset and ladder with its rungs and codecs.
nlohmann::json CatalogJson();

}  // namespace reel::presets
