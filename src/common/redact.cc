#include "common/redact.h"

#include <algorithm>

namespace reel {

namespace {

// "?token=abc&x=1#f" as "?token=[redacted]&x=[redacted]#f": query values are often credentials
// (tokens, presigned signatures).
std::string RedactQuery(const std::string& url) {
  size_t q = url.find('?');
  if (q == std::string::npos) return url;
  size_t hash = url.find('#', q);
  std::string query =
      url.substr(q + 1, hash == std::string::npos ? std::string::npos : hash - q - 1);
  std::string out = url.substr(0, q + 1);
  size_t pos = 0;
  while (pos <= query.size()) {
    size_t amp = query.find('&', pos);
    std::string part = query.substr(pos, amp == std::string::npos ? std::string::npos : amp - pos);
    size_t eq = part.find('=');
    out += eq == std::string::npos || eq + 1 == part.size() ? part
                                                            : part.substr(0, eq + 1) + "[redacted]";
    if (amp == std::string::npos) break;
    out += '&';
    pos = amp + 1;
  }
  if (hash != std::string::npos) out += url.substr(hash);
  return out;
}

}  // namespace

std::string RedactUrl(const std::string& url) {
  size_t scheme = url.find("://");
  if (scheme == std::string::npos) return url;
  // libcurl skips extra slashes ("https:///user:pw@host/" has host "host"): so does this.
  size_t start = std::min(url.find_first_not_of('/', scheme + 3), url.size());
  size_t end = url.find_first_of("/?#", start);
  size_t at = url.rfind('@', end == std::string::npos ? url.size() : end);
  if (at == std::string::npos || at < start) return RedactQuery(url);
  size_t colon = url.find(':', start);
  // "https://TOKEN@host/" carries a credential as the user name alone (GitHub-style tokens,
  // Basic auth with an empty password): the whole user part goes. But in "s3://name@bucket/" it
  // names one of the server's profiles, which the stored spec must keep to be read back.
  bool user_only = colon == std::string::npos || colon > at;
  if (user_only && url.compare(0, scheme, "s3") == 0) return RedactQuery(url);
  if (user_only) return RedactQuery(url.substr(0, start) + "[redacted]" + url.substr(at));
  return RedactQuery(url.substr(0, colon + 1) + "[redacted]" + url.substr(at));
}

nlohmann::json RedactSecrets(const nlohmann::json& j) {
  if (j.is_object()) {
    nlohmann::json out = nlohmann::json::object();
    for (auto it = j.begin(); it != j.end(); ++it) {
      std::string k = it.key();
      bool secret = k.find("secret") != std::string::npos ||
                    k.find("password") != std::string::npos || k == "access_key" ||
                    k == "credentials" || k == "token";
      if (k == "inline" && it->is_string()) {
        // Inline media (up to 14 MiB of base64) is not echoed in every view, list and event.
        std::string shown = "[";
        shown += std::to_string(it->get<std::string>().size());
        shown += " bytes of base64]";
        out[k] = std::move(shown);
        continue;
      }
      out[k] = secret ? nlohmann::json("[redacted]") : RedactSecrets(*it);
    }
    return out;
  }
  if (j.is_array()) {
    nlohmann::json out = nlohmann::json::array();
    for (const auto& v : j) out.push_back(RedactSecrets(v));
    return out;
  }
  if (j.is_string()) return RedactUrl(j.get<std::string>());
  return j;
}

}  // namespace reel
