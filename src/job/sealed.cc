#include "job/sealed.h"

#include <stdexcept>
#include <vector>

#include "common/crypto.h"
#include "common/redact.h"

namespace reel::job {
namespace {

using nlohmann::json;

// JSON pointers to a spec's source, destination and webhook URLs (the dispatcher opens a sealed
// webhook URL; the outbox holds the redacted one).
std::vector<std::string> UrlFields(const json& spec) {
  std::vector<std::string> out;
  auto input = [&](const std::string& at) {
    const json& v = spec[json::json_pointer(at)];
    if (v.is_string()) out.push_back(at);
    if (v.is_object() && v.contains("url") && v["url"].is_string()) out.push_back(at + "/url");
  };
  if (spec.contains("sources"))
    for (size_t i = 0; i < spec["sources"].size(); ++i) input("/sources/" + std::to_string(i));
  if (spec.contains("source")) input("/source");
  for (const char* name : {"audio", "subtitles"})
    if (spec.contains(name)) input(std::string("/") + name);
  if (spec.contains("subtitle_tracks"))
    for (size_t i = 0; i < spec["subtitle_tracks"].size(); ++i)
      input("/subtitle_tracks/" + std::to_string(i));
  if (spec.contains("outputs"))
    for (size_t i = 0; i < spec["outputs"].size(); ++i)
      for (const char* name : {"destination", "image"})
        if (spec["outputs"][i].contains(name) && spec["outputs"][i][name].is_string())
          out.push_back("/outputs/" + std::to_string(i) + "/" + name);
  if (spec.contains("webhook") && spec["webhook"].contains("url")) out.push_back("/webhook/url");
  return out;
}

}  // namespace

json SealSecrets(json spec, const std::string& key) {
  json secrets = spec.value("credentials", json::object());
  for (const std::string& pointer : UrlFields(spec)) {
    std::string url = spec[json::json_pointer(pointer)];
    std::string shown = RedactUrl(url);
    if (shown == url) continue;
    secrets["urls"].push_back({{"at", pointer}, {"url", url}});
    spec[json::json_pointer(pointer)] = shown;
  }
  if (!secrets.empty()) spec["credentials"] = {{"sealed", Seal(key, secrets.dump())}};
  return spec;
}

Result<json> OpenSecrets(const json& stored, const std::string& key) {
  if (!stored.contains("credentials") || !stored["credentials"].contains("sealed") ||
      !stored["credentials"]["sealed"].is_string())
    return json::object();
  Result<std::string> opened = Open(key, stored["credentials"]["sealed"].get<std::string>());
  json secrets = opened.ok() ? json::parse(*opened, nullptr, false) : json();
  if (!secrets.is_object())
    return Internal("the job's credentials cannot be opened with this server's key");
  return secrets;
}

Result<json> OpenSpec(const json& stored, const std::string& key) {
  Result<json> secrets = OpenSecrets(stored, key);
  if (!secrets.ok()) return secrets.status();
  json spec = stored;
  try {
    for (const json& u : secrets->value("urls", json::array())) {
      json::json_pointer at(u.at("at").get<std::string>());
      if (at.empty() || !spec.at(at).is_string()) throw std::invalid_argument("not a URL");
      spec[at] = u.at("url").get<std::string>();
    }
  } catch (const std::exception& e) {
    return Internal(std::string("the job's sealed URLs do not fit its spec: ") + e.what());
  }
  secrets->erase("urls");
  if (secrets->empty())
    spec.erase("credentials");
  else
    spec["credentials"] = *secrets;
  return spec;
}

}  // namespace reel::job
