// The web dashboard `reel serve` shows at `/` (and the API reference at `/docs`, with its
// OpenAPI document at `/v1/openapi.json`): static files compiled into the binary (see
// embed.cmake). The page talks to the same /v1 API as any client, with the API key the user
// types in; it has no access of its own.
#pragma once

#include <string_view>
#include <vector>

namespace reel::dashboard {

struct Asset {
  std::string_view path;          // as requested, e.g. "/" or "/dashboard.js"
  std::string_view content_type;  // e.g. "text/html; charset=utf-8"
  std::string_view body;
};

const std::vector<Asset>& Assets();

// The asset served at `path`, or nullptr.
const Asset* FindAsset(std::string_view path);

}  // namespace reel::dashboard
