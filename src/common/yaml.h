// Configuration documents (the --presets and --config files) in YAML or JSON, read into the
// nlohmann::json value the validators take, with the line of every field so that their errors
// can say "FILE:LINE: field: message". YAML goes through libyaml's event parser, restricted to
// what has a JSON meaning: one document, string keys without duplicates, no tags, no .inf/.nan;
// aliases are expanded within a bound on nodes and depth, so an alias bomb is refused at once.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

#include "common/status.h"

namespace reel {

inline constexpr size_t kMaxDocumentNodes = 100000;  // after alias expansion
inline constexpr int kMaxDocumentDepth = 64;

struct Document {
  nlohmann::json value;
  // Line (1-based) of each field, by the path the validators name it with: "ladders",
  // "ladders.phone.rungs[1].crf". Filled for YAML; empty for JSON (see LineOf).
  std::map<std::string, int> lines;
  bool yaml = false;
  std::string text;  // the file's text, for the line of a JSON field

  // The line of `field`, or of its nearest enclosing field that has one; 1 when none.
  int LineOf(const std::string& field) const;
};

// YAML when the name ends in .yaml/.yml, JSON when in .json, otherwise JSON if the text starts
// with '{' and YAML if not. Errors are "FILE:LINE: message".
Result<Document> ParseDocument(const std::string& text, const std::string& file_name);

// Only YAML, whatever the name.
Result<Document> ParseYaml(const std::string& text, const std::string& file_name);

}  // namespace reel
