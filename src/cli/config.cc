// Environment variables, --config files and --print-config for reel's commands (see config.h).
#include "cli/config.h"

#include <CLI/CLI.hpp>
#include <cstdlib>
#include <fstream>
#include <regex>
#include <sstream>

#include "common/yaml.h"

namespace reel::cli {
namespace {

using nlohmann::json;

// The long options a user configures: not positionals, --help, --config or --print-config.
std::vector<CLI::Option*> Configurable(CLI::App* cmd) {
  return cmd->get_options([](CLI::Option* o) {
    if (o->get_lnames().empty()) return false;
    const std::string& n = o->get_lnames().front();
    return n != "help" && n != "config" && n != "print-config";
  });
}

bool IsList(const CLI::Option* o) { return o->get_items_expected_max() > 1; }
bool IsFlag(const CLI::Option* o) { return o->get_expected_min() == 0; }

// Options that carry a key, a secret or a URL that authorises by itself (webhooks). Not those
// that name a file holding one (--tls-key): the path is no secret, and an operator checking the
// settings needs to see which file is read.
bool IsSecret(const std::string& name) {
  if (name == "tls-key") return false;
  for (const char* word : {"key", "secret", "token", "password"})
    if (name.find(word) != std::string::npos) return true;
  return name == "default-webhook";
}

// The command argv selects: `reel keys --data-dir d create` -> keys create.
CLI::App* Selected(CLI::App* app, int argc, char** argv) {
  CLI::App* cur = app;
  for (int i = 1; i < argc; ++i) {
    for (CLI::App* sub : cur->get_subcommands([](CLI::App*) { return true; }))
      if (sub->get_name() == argv[i]) {
        cur = sub;
        break;
      }
  }
  return cur;
}

// Whether argv gives the option itself (--name VALUE or --name=VALUE).
bool OnCommandLine(const CLI::Option* o, int argc, char** argv) {
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--") break;
    for (const std::string& n : o->get_lnames())
      if (a == "--" + n || a.rfind("--" + n + "=", 0) == 0) return true;
  }
  return false;
}

json Typed(const CLI::Option* o, const std::string& s) {
  std::string type = o->get_type_name();
  if (IsFlag(o)) return s == "true" || s == "1" || s == "on" || s == "yes";
  bool number =
      type.rfind("INT", 0) == 0 || type.rfind("UINT", 0) == 0 || type.rfind("FLOAT", 0) == 0;
  if (number && !s.empty()) {
    json j = json::parse(s, nullptr, false);
    if (j.is_number()) return j;
  }
  return s;
}

}  // namespace

std::string EnvName(const std::string& long_flag) {
  std::string name = "REEL_";
  for (char c : long_flag.substr(long_flag.rfind("--", 0) == 0 ? 2 : 0))
    name += c == '-' ? '_' : static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return name;
}

std::string RedactUrl(const std::string& value) {
  static const std::regex userinfo(R"(([A-Za-z][A-Za-z0-9+.-]*://)[^/?#@\s]*@)");
  static const std::regex password(R"((password\s*=\s*)('[^']*'|\S+))");
  std::string out = std::regex_replace(value, userinfo, "$1***@");
  return std::regex_replace(out, password, "$1***");
}

void Configuration::Bind(CLI::App* cmd) {
  for (CLI::Option* o : Configurable(cmd)) {
    o->envname(EnvName(o->get_lnames().front()));
    if (IsList(o)) o->delimiter(',');
  }
  if (!cmd->get_option_no_throw("--config"))
    cmd->add_option("--config", file_,
                    "YAML or JSON file of settings (flag-name: value); flags and REEL_ "
                    "variables override it")
        ->envname("REEL_CONFIG");
  for (CLI::App* sub : cmd->get_subcommands([](CLI::App*) { return true; })) Bind(sub);
}

std::string Configuration::Load(CLI::App* app, int argc, char** argv) {
  CLI::App* cmd = Selected(app, argc, argv);
  CLI::Option* listen = cmd->get_option_no_throw("--listen");
  if (listen && cmd->get_name() == "serve" && std::getenv("PORT") && !std::getenv("REEL_LISTEN") &&
      !OnCommandLine(listen, argc, argv)) {
    std::string port = std::getenv("PORT");
    if (port.empty() || port.size() > 5 || port.find_first_not_of("0123456789") != port.npos ||
        std::stoi(port) < 1 || std::stoi(port) > 65535)
      return "PORT: must be a port number (1-65535), not \"" + port.substr(0, 16) + "\"";
    // The platforms that set PORT route to it from outside the container: every interface.
    setenv("REEL_LISTEN", ("0.0.0.0:" + port).c_str(), 1);
    listen_from_port_ = true;
  }

  CLI::Option* config = cmd->get_option_no_throw("--config");
  if (!config) return "";
  std::string path;
  for (int i = 1; i < argc; ++i) {
    std::string a = argv[i];
    if (a == "--config" && i + 1 < argc) path = argv[i + 1];
    if (a.rfind("--config=", 0) == 0) path = a.substr(9);
  }
  if (path.empty() && std::getenv("REEL_CONFIG")) path = std::getenv("REEL_CONFIG");
  if (path.empty()) return "";
  std::ifstream in(path);
  if (!in) return "--config: cannot read " + path;
  std::stringstream buf;
  buf << in.rdbuf();
  const std::string text = buf.str();
  if (text.size() > (1 << 20)) return path + ": larger than 1 MiB";
  // YAML or JSON (common/yaml.h), with the line of every key for the errors below.
  Result<Document> parsed = ParseDocument(text, path);
  if (!parsed.ok()) return parsed.status().message();
  const json& doc = parsed->value;
  if (!doc.is_object()) return path + ":1: must be a map of flag names to values";
  for (const auto& [key, value] : doc.items()) {
    std::string at = path + ":" + std::to_string(parsed->LineOf(key)) + ": ";
    CLI::Option* o = key.rfind("-", 0) == 0 ? nullptr : cmd->get_option_no_throw("--" + key);
    if (!o || key == "config" || key == "print-config" || key == "help")
      return at + "unknown key \"" + key.substr(0, 64) + "\" for reel " + cmd->get_name();
    std::vector<std::string> values;
    auto scalar = [&](const json& v) -> bool {
      if (v.is_string())
        values.push_back(v.get<std::string>());
      else if (v.is_boolean())
        values.push_back(v.get<bool>() ? "true" : "false");
      else if (v.is_number())
        values.push_back(v.dump());
      else
        return false;
      return true;
    };
    if (value.is_array() && IsList(o)) {
      for (const json& v : value)
        if (!scalar(v)) return at + key + ": list items must be strings or numbers";
    } else if (!scalar(value)) {
      return at + key + (IsList(o) ? ": must be a list or a string" : ": must be a single value");
    }
    if (IsFlag(o) && !value.is_boolean()) return at + key + ": must be true or false";
    try {
      o->add_result(values);
      o->run_callback();  // sets the variable, through the option's checks
    } catch (const CLI::Error& e) {
      return at + key + ": " + e.what();
    }
    o->clear();  // a default now: the environment and the command line still override it
    o->required(false);
    from_file_[key] = value;
  }
  file_ = path;
  return "";
}

json Configuration::Effective(CLI::App* cmd, int argc, char** argv) const {
  json config = json::object(), sources = json::object();
  for (CLI::Option* o : Configurable(cmd)) {
    const std::string name = o->get_lnames().front();
    json value;
    std::string source;
    if (o->count() > 0) {
      source = OnCommandLine(o, argc, argv)              ? "flag"
               : (name == "listen" && listen_from_port_) ? "env PORT"
                                                         : "env " + o->get_envname();
      if (IsList(o)) {
        value = json::array();
        for (const std::string& s : o->results()) value.push_back(s);
      } else {
        value = Typed(o, o->results().empty() ? "" : o->results().back());
      }
    } else if (from_file_.count(name)) {
      source = "file " + file_;
      value = from_file_.at(name);
      if (IsList(o) && value.is_string()) {
        std::stringstream in(value.get<std::string>());
        value = json::array();
        for (std::string item; std::getline(in, item, ',');) value.push_back(item);
      }
    } else {
      source = "default";
      o->capture_default_str();  // the variable's value now: the file's or the built-in one
      std::string s = o->get_default_str();
      if (IsList(o)) {
        value = json::array();
        std::string items = s.size() >= 2 && s.front() == '[' ? s.substr(1, s.size() - 2) : s;
        std::stringstream in(items);
        for (std::string item; std::getline(in, item, ',');) value.push_back(item);
      } else {
        value = Typed(o, s);
      }
    }
    auto redact = [&](json& v) {
      if (!v.is_string()) return;
      std::string s = v.get<std::string>();
      v = IsSecret(name) && !s.empty() ? "(redacted)" : RedactUrl(s);
    };
    if (value.is_array())
      for (json& v : value) redact(v);
    else
      redact(value);
    config[name] = value;
    sources[name] = source;
  }
  return {{"config", config}, {"sources", sources}};
}

}  // namespace reel::cli
