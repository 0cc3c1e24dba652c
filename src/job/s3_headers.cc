#include "job/s3_headers.h"

#include <set>

namespace reel::job {
namespace {

using nlohmann::json;
using presets::FieldError;

// Request header values: printable ASCII only, so nothing can end a header line or need an
// encoding S3 would store differently from what was signed.
bool PrintableAscii(const std::string& s) {
  for (char c : s)
    if (c < 0x20 || c > 0x7e) return false;
  return true;
}

// A string from a closed list; the list is named in the error.
std::optional<FieldError> OneOf(const json& value, const std::string& path,
                                const std::set<std::string>& allowed, std::string* out) {
  if (value.is_string() && allowed.count(value.get<std::string>())) {
    *out = value.get<std::string>();
    return std::nullopt;
  }
  std::string list;
  for (const std::string& a : allowed) list += (list.empty() ? "" : ", ") + a;
  return FieldError{path, "must be one of " + list};
}

std::optional<FieldError> HeaderValue(const json& value, const std::string& path, bool allow_empty,
                                      std::string* out) {
  if (!value.is_string()) return FieldError{path, "must be a string"};
  const std::string& s = value.get_ref<const std::string&>();
  if (s.empty() && !allow_empty) return FieldError{path, "must not be empty"};
  if (s.size() > kMaxS3HeaderValue)
    return FieldError{path, "is longer than " + std::to_string(kMaxS3HeaderValue) + " characters"};
  if (!PrintableAscii(s))
    return FieldError{path, "must be printable ASCII (no control characters)"};
  *out = s;
  return std::nullopt;
}

std::optional<FieldError> Metadata(const json& value, const std::string& path,
                                   std::map<std::string, std::string>* out) {
  if (!value.is_object()) return FieldError{path, "must be an object of strings"};
  if (value.size() > kMaxS3Metadata)
    return FieldError{path, "has more than " + std::to_string(kMaxS3Metadata) + " entries"};
  size_t total = 0;
  for (auto it = value.begin(); it != value.end(); ++it) {
    const std::string& key = it.key();
    bool valid =
        !key.empty() && key.size() <= 64 &&
        key.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789-") == std::string::npos;
    // The key goes into a header name (x-amz-meta-KEY): only what every store keeps as is.
    if (!valid) {
      std::string shown;
      for (char c : key.substr(0, 64)) shown += PrintableAscii(std::string(1, c)) ? c : '?';
      return FieldError{path + "." + shown, "a metadata name is 1-64 of a-z, 0-9 and '-'"};
    }
    std::string v;
    if (auto e = HeaderValue(it.value(), path + "." + key, true, &v)) return e;
    total += key.size() + v.size();
    (*out)[key] = std::move(v);
  }
  if (total > kMaxS3MetadataBytes)
    return FieldError{path, "is larger than " + std::to_string(kMaxS3MetadataBytes) +
                                " bytes (names and values together), S3's limit"};
  return std::nullopt;
}

}  // namespace

std::string S3ObjectHeaders::FirstField() const {
  if (!acl.empty()) return "acl";
  if (!storage_class.empty()) return "storage_class";
  if (!cache_control.empty()) return "cache_control";
  return metadata.empty() ? "" : "metadata";
}

std::optional<FieldError> TakeS3Headers(json* o, const std::string& path, S3ObjectHeaders* out) {
  // S3's canned ACLs for objects (log-delivery-write is for buckets only).
  static const std::set<std::string> kAcls = {
      "private",       "public-read",       "public-read-write",        "authenticated-read",
      "aws-exec-read", "bucket-owner-read", "bucket-owner-full-control"};
  static const std::set<std::string> kStorageClasses = {
      "STANDARD", "REDUCED_REDUNDANCY", "STANDARD_IA", "ONEZONE_IA", "INTELLIGENT_TIERING",
      "GLACIER",  "GLACIER_IR",         "DEEP_ARCHIVE"};
  std::optional<FieldError> error;
  if (auto it = o->find("acl"); it != o->end() && !error)
    error = OneOf(*it, path + ".acl", kAcls, &out->acl);
  if (auto it = o->find("storage_class"); it != o->end() && !error)
    error = OneOf(*it, path + ".storage_class", kStorageClasses, &out->storage_class);
  if (auto it = o->find("cache_control"); it != o->end() && !error)
    error = HeaderValue(*it, path + ".cache_control", false, &out->cache_control);
  if (auto it = o->find("metadata"); it != o->end() && !error)
    error = Metadata(*it, path + ".metadata", &out->metadata);
  for (const char* field : {"acl", "storage_class", "cache_control", "metadata"}) o->erase(field);
  return error;
}

}  // namespace reel::job
