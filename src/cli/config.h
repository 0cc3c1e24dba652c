// Configuration of reel's long-running and client commands from the environment and a file:
// every long flag `--some-flag` of a bound command may also be given as REEL_SOME_FLAG or as the
// key "some-flag" of a YAML or JSON file named by --config (or REEL_CONFIG). Precedence: flag > env
// > file > default. List flags take comma-separated values everywhere. `--print-config` shows the
// result with secrets redacted and where each value came from.
#pragma once

#include <map>
#include <string>

#include <nlohmann/json.hpp>

namespace CLI {
class App;
}

namespace reel::cli {

class Configuration {
 public:
  // Gives every long option of `cmd` (and of its subcommands) its REEL_ variable, makes list
  // options comma-separated, and adds --config FILE.
  void Bind(CLI::App* cmd);

  // Before parsing: honours PORT for `serve` (as REEL_LISTEN=0.0.0.0:PORT, when neither
  // --listen nor REEL_LISTEN is given) and loads the --config file of the command argv names into
  // that command's options, as their defaults. "" when fine, else the one-line error
  // ("reel.json:3: unknown key \"listn\"").
  std::string Load(CLI::App* app, int argc, char** argv);

  // After parsing: `cmd`'s effective options as {"config": {flag: value}, "sources": {flag:
  // "flag" | "env REEL_X" | "file PATH" | "default"}}; secrets are redacted.
  nlohmann::json Effective(CLI::App* cmd, int argc, char** argv) const;

 private:
  std::string file_;                                 // the --config file loaded, if any
  std::map<std::string, nlohmann::json> from_file_;  // flag name -> the file's value
  bool listen_from_port_ = false;                    // REEL_LISTEN was made from PORT
};

// Environment variable of a long flag: "--allow-path" -> "REEL_ALLOW_PATH".
std::string EnvName(const std::string& long_flag);

// A value fit for printing: URLs' userinfo ("postgres://u:pw@h/db") and conninfo passwords
// replaced by "***".
std::string RedactUrl(const std::string& value);

}  // namespace reel::cli
