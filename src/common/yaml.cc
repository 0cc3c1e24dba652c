// YAML and JSON configuration documents with the line of every field (see yaml.h).
#include "common/yaml.h"

#include <yaml.h>

#include <algorithm>
#include <cerrno>
#include <cmath>
#include <cstdlib>
#include <cstring>
#include <regex>
#include <variant>
#include <vector>

namespace reel {
namespace {

using nlohmann::json;

// Paths the validators print: "ladders.phone.rungs[1].crf".
std::string Child(const std::string& path, const std::string& key) {
  return path.empty() ? key : path + "." + key;
}

// A user's text in an error message: short, without control characters.
std::string Shown(std::string s) {
  if (s.size() > 64) s = s.substr(0, 64) + "...";
  for (char& c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = '?';
  return s;
}

// The line of the value `field` names in a JSON text, or of the deepest part of it that is
// there (a missing field: its object). nlohmann keeps no positions, so the text is walked again
// along the path.
class JsonLineFinder {
 public:
  JsonLineFinder(const std::string& text, const std::string& field) : t_(text) {
    std::string part;
    for (size_t i = 0; i <= field.size(); ++i) {
      char c = i < field.size() ? field[i] : '.';
      if (c == '.' || c == '[') {
        if (!part.empty()) path_.emplace_back(part);
        part.clear();
        if (c == '[') {
          size_t close = field.find(']', i);
          if (close == std::string::npos) break;
          path_.emplace_back(std::atoi(field.substr(i + 1, close - i - 1).c_str()));
          i = close;
        }
      } else {
        part += c;
      }
    }
  }
  int Find() {
    Value(0, true);
    return found_;
  }

 private:
  void Space() {
    while (i_ < t_.size() && std::isspace(static_cast<unsigned char>(t_[i_]))) {
      if (t_[i_] == '\n') ++line_;
      ++i_;
    }
  }
  std::string Str() {  // at the opening quote
    std::string s;
    for (++i_; i_ < t_.size() && t_[i_] != '"'; ++i_) {
      if (t_[i_] == '\\') ++i_;
      if (i_ < t_.size()) s += t_[i_];
    }
    ++i_;
    return s;
  }
  void Value(size_t depth, bool on_path) {
    Space();
    if (on_path) found_ = line_;
    bool deeper = on_path && depth < path_.size();
    if (i_ >= t_.size() || depth > 512) return;
    char c = t_[i_];
    if (c == '{' || c == '[') {
      ++i_;
      for (int index = 0;; ++index) {
        Space();
        if (i_ >= t_.size() || t_[i_] == '}' || t_[i_] == ']') break;
        bool match = false;
        if (c == '{') {
          std::string key = Str();
          Space();
          ++i_;  // ':'
          const auto* want = deeper ? std::get_if<std::string>(&path_[depth]) : nullptr;
          match = want && *want == key;
        } else {
          const auto* want = deeper ? std::get_if<int>(&path_[depth]) : nullptr;
          match = want && *want == index;
        }
        Value(depth + 1, match);
        Space();
        if (i_ < t_.size() && t_[i_] == ',') ++i_;
      }
      ++i_;
    } else if (c == '"') {
      Str();
    } else {
      while (i_ < t_.size() && !std::strchr(",]} \t\r\n", t_[i_])) ++i_;
    }
  }

  const std::string& t_;
  std::vector<std::variant<std::string, int>> path_;
  size_t i_ = 0;
  int line_ = 1, found_ = 1;
};

// Raised inside the YAML reader, caught in ParseYaml; never leaves this file.
struct YamlError {
  int line;
  std::string message;
};

// A plain (unquoted) scalar under YAML 1.2's core schema: null, booleans, integers and floats;
// everything else is a string. Quoted scalars are always strings.
json PlainScalar(const std::string& s, int line, const std::string& path) {
  static const std::regex null_re("~|null|Null|NULL");
  static const std::regex bool_re("true|True|TRUE|false|False|FALSE");
  static const std::regex int_re("[-+]?[0-9]+");
  static const std::regex octal_re("0o[0-7]+");
  static const std::regex hex_re("0x[0-9a-fA-F]+");
  static const std::regex float_re(R"([-+]?(\.[0-9]+|[0-9]+(\.[0-9]*)?)([eE][-+]?[0-9]+)?)");
  static const std::regex special_re(R"([-+]?\.(inf|Inf|INF)|\.nan|\.NaN|\.NAN)");
  auto where = [&](const std::string& m) { return path.empty() ? m : path + ": " + m; };
  if (s.empty() || std::regex_match(s, null_re)) return nullptr;
  if (std::regex_match(s, bool_re)) return s[0] == 't' || s[0] == 'T';
  bool octal = std::regex_match(s, octal_re), hex = std::regex_match(s, hex_re);
  if (std::regex_match(s, int_re) || octal || hex) {
    errno = 0;
    const char* digits = s.c_str() + (octal || hex ? 2 : 0);
    int base = octal ? 8 : hex ? 16 : 10;
    if (s[0] != '-') {
      unsigned long long u = std::strtoull(digits, nullptr, base);
      if (errno == 0 && u <= uint64_t(INT64_MAX)) return int64_t(u);
      if (errno == 0) return uint64_t(u);
    } else {
      long long v = std::strtoll(digits, nullptr, base);
      if (errno == 0) return int64_t(v);
    }
    throw YamlError{line, where("number " + Shown(s) + " is out of range")};
  }
  if (std::regex_match(s, float_re)) {
    double d = std::strtod(s.c_str(), nullptr);
    if (!std::isfinite(d)) throw YamlError{line, where("number " + Shown(s) + " is out of range")};
    return d;
  }
  if (std::regex_match(s, special_re))
    throw YamlError{line, where(s + " has no JSON meaning (use a finite number)")};
  return s;
}

class YamlReader {
 public:
  explicit YamlReader(const std::string& text) {
    yaml_parser_initialize(&parser_);
    yaml_parser_set_input_string(&parser_, reinterpret_cast<const unsigned char*>(text.data()),
                                 text.size());
  }
  ~YamlReader() {
    if (has_event_) yaml_event_delete(&event_);
    yaml_parser_delete(&parser_);
  }
  YamlReader(const YamlReader&) = delete;
  YamlReader& operator=(const YamlReader&) = delete;

  Document Read() {
    Expect(YAML_STREAM_START_EVENT);
    Document doc;
    doc.yaml = true;
    Next();
    if (event_.type == YAML_STREAM_END_EVENT) return doc;  // an empty file: null
    if (event_.type != YAML_DOCUMENT_START_EVENT) Unexpected();
    doc.value = Node(0, "", &doc.lines).value;
    Expect(YAML_DOCUMENT_END_EVENT);
    Next();
    if (event_.type != YAML_STREAM_END_EVENT)
      throw YamlError{Line(), "more than one YAML document (one is expected)"};
    return doc;
  }

 private:
  struct Built {
    json value;
    size_t nodes = 1;
    int height = 1;
  };

  int Line() const { return static_cast<int>(event_.start_mark.line) + 1; }

  void Next() {
    if (peeked_) {  // the event Peek() parsed becomes the current one
      peeked_ = false;
      return;
    }
    if (has_event_) yaml_event_delete(&event_);
    has_event_ = false;
    if (!yaml_parser_parse(&parser_, &event_)) {
      int line = static_cast<int>(parser_.problem_mark.line) + 1;
      std::string what = parser_.problem ? parser_.problem : "not valid YAML";
      if (parser_.context) what = std::string(parser_.context) + ": " + what;
      throw YamlError{line, "not valid YAML: " + what};
    }
    has_event_ = true;
  }
  void Expect(yaml_event_type_t type) {
    Next();
    if (event_.type != type) Unexpected();
  }
  [[noreturn]] void Unexpected() { throw YamlError{Line(), "unexpected YAML structure"}; }

  void Count(size_t nodes, int depth, const std::string& path) {
    nodes_ += nodes;
    if (nodes_ > kMaxDocumentNodes)
      throw YamlError{Line(), (path.empty() ? "" : path + ": ") + "more than " +
                                  std::to_string(kMaxDocumentNodes) + " values (aliases expanded)"};
    if (depth > kMaxDocumentDepth)
      throw YamlError{Line(), (path.empty() ? "" : path + ": ") + "nested deeper than " +
                                  std::to_string(kMaxDocumentDepth) + " levels"};
  }

  void NoTag(const yaml_char_t* tag, const std::string& path) {
    if (tag)
      throw YamlError{Line(), (path.empty() ? "" : path + ": ") + "YAML tags (" +
                                  Shown(reinterpret_cast<const char*>(tag)) +
                                  ") are not supported"};
  }

  // The node at the current event (its first), leaving the reader on its last event.
  Built Node(int depth, const std::string& path, std::map<std::string, int>* lines) {
    Next();
    const int line = Line();
    if (!path.empty()) lines->emplace(path, line);
    Built out;
    const char* anchor = nullptr;
    switch (event_.type) {
      case YAML_ALIAS_EVENT: {
        std::string name = reinterpret_cast<const char*>(event_.data.alias.anchor);
        auto it = anchors_.find(name);
        if (it == anchors_.end()) throw YamlError{line, "unknown alias *" + Shown(name)};
        Count(it->second.nodes, depth + it->second.height, path);
        return it->second;
      }
      case YAML_SCALAR_EVENT: {
        NoTag(event_.data.scalar.tag, path);
        Count(1, depth + 1, path);
        std::string s(reinterpret_cast<const char*>(event_.data.scalar.value),
                      event_.data.scalar.length);
        out.value = event_.data.scalar.style == YAML_PLAIN_SCALAR_STYLE ? PlainScalar(s, line, path)
                                                                        : json(s);
        if (event_.data.scalar.anchor)
          anchor = reinterpret_cast<const char*>(event_.data.scalar.anchor);
        break;
      }
      case YAML_SEQUENCE_START_EVENT: {
        NoTag(event_.data.sequence_start.tag, path);
        Count(1, depth + 1, path);
        std::string name = event_.data.sequence_start.anchor
                               ? reinterpret_cast<const char*>(event_.data.sequence_start.anchor)
                               : "";
        out.value = json::array();
        for (size_t i = 0;; ++i) {
          if (Peek() == YAML_SEQUENCE_END_EVENT) break;
          Built item = Node(depth + 1, path + "[" + std::to_string(i) + "]", lines);
          out.nodes += item.nodes;
          out.height = std::max(out.height, item.height + 1);
          out.value.push_back(std::move(item.value));
        }
        Next();
        if (!name.empty()) anchors_[name] = out;
        return out;
      }
      case YAML_MAPPING_START_EVENT: {
        NoTag(event_.data.mapping_start.tag, path);
        Count(1, depth + 1, path);
        std::string name = event_.data.mapping_start.anchor
                               ? reinterpret_cast<const char*>(event_.data.mapping_start.anchor)
                               : "";
        out.value = json::object();
        while (Peek() != YAML_MAPPING_END_EVENT) {
          Next();
          if (event_.type != YAML_SCALAR_EVENT)
            throw YamlError{Line(), (path.empty() ? "" : path + ": ") +
                                        "keys must be plain strings, not lists, maps or aliases"};
          NoTag(event_.data.scalar.tag, path);
          std::string key(reinterpret_cast<const char*>(event_.data.scalar.value),
                          event_.data.scalar.length);
          if (out.value.contains(key))
            throw YamlError{Line(), Child(path, Shown(key)) + ": duplicate key"};
          // The key's line, not the value's: a nested map's value starts on the next line.
          lines->emplace(Child(path, key), Line());
          Built value = Node(depth + 1, Child(path, key), lines);
          out.nodes += value.nodes;
          out.height = std::max(out.height, value.height + 1);
          out.value[key] = std::move(value.value);
        }
        Next();
        if (!name.empty()) anchors_[name] = out;
        return out;
      }
      default:
        Unexpected();
    }
    if (anchor) anchors_[anchor] = out;
    return out;
  }

  // The type of the next event, which becomes the current one at the next Next().
  yaml_event_type_t Peek() {
    if (!peeked_) {
      // libyaml has no peek: parse the event now and hand it out at the following Next().
      Next();
      peeked_ = true;
    }
    return event_.type;
  }

  yaml_parser_t parser_;
  yaml_event_t event_{};
  bool has_event_ = false;
  bool peeked_ = false;
  size_t nodes_ = 0;
  std::map<std::string, Built> anchors_;
};

}  // namespace

int Document::LineOf(const std::string& field) const {
  if (!yaml) return JsonLineFinder(text, field).Find();
  std::string f = field;
  while (!f.empty()) {
    auto it = lines.find(f);
    if (it != lines.end()) return it->second;
    size_t cut = f.find_last_of(".[");
    f = cut == std::string::npos ? "" : f.substr(0, cut);
  }
  return 1;
}

Result<Document> ParseYaml(const std::string& text, const std::string& file_name) {
  try {
    YamlReader reader(text);
    Document doc = reader.Read();
    doc.text = text;
    return doc;
  } catch (const YamlError& e) {
    return InvalidArgument(file_name + ":" + std::to_string(e.line) + ": " + e.message);
  }
}

Result<Document> ParseDocument(const std::string& text, const std::string& file_name) {
  auto ends = [&](const char* suffix) {
    size_t n = std::strlen(suffix);
    return file_name.size() >= n && file_name.compare(file_name.size() - n, n, suffix) == 0;
  };
  bool yaml = ends(".yaml") || ends(".yml");
  if (!yaml && !ends(".json")) {
    size_t first = text.find_first_not_of(" \t\r\n");
    yaml = first == std::string::npos || text[first] != '{';
  }
  if (yaml) return ParseYaml(text, file_name);
  Document doc;
  try {
    doc.value = json::parse(text);
  } catch (const json::parse_error& e) {
    int line = 1 + static_cast<int>(std::count(text.begin(),
                                               text.begin() + std::min(text.size(), e.byte), '\n'));
    std::string what = e.what();
    return InvalidArgument(file_name + ":" + std::to_string(line) +
                           ": not valid JSON: " + what.substr(what.find(' ') + 1));
  }
  doc.text = text;
  return doc;
}

}  // namespace reel
