// Redaction of what users send before it is shown or logged: passwords and query values in
// URLs, and the fields of a job spec that hold credentials. One place, so answers, events and
// logs agree.
#pragma once

#include <string>

#include <nlohmann/json.hpp>

namespace reel {

// "ftp://user:secret@host/x" as "ftp://user:[redacted]@host/x", "https://TOKEN@host/x" as
// "https://[redacted]@host/x", "?token=abc" as "?token=[redacted]": URLs in messages and API
// answers never carry a credential.
std::string RedactUrl(const std::string& url);

// A copy of `j` with credential fields ("secret", "password", "token", ...) as "[redacted]", URLs
// redacted as above, and inline media shown by its size rather than echoed.
nlohmann::json RedactSecrets(const nlohmann::json& j);

}  // namespace reel
