#include "testing/test_network.h"

#include <unistd.h>

#include <filesystem>

#include "testing/media_fixtures.h"

namespace reel::testing {

namespace {

// Runs `ip` with args; "" on success, else what it printed.
std::string Ip(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"ip"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  if (r.exit_code == 0) return "";
  std::string command;
  for (const std::string& a : argv) command.append(a).append(" ");
  return command + ": " + r.output;
}

// Removes the namespaces and bridges of earlier tests whose process is gone (killed on a timeout,
// so their destructor never ran): names are "rl<pid>n<i>", "rl<pid>v<i>" and "rl<pid>br".
void RemoveLeftovers() {
  std::error_code ec;
  auto dead = [](const std::string& name, const std::string& suffix_start) {
    size_t end = name.find_first_not_of("0123456789", 2);
    if (name.rfind("rl", 0) != 0 || end == std::string::npos || end == 2 ||
        name.compare(end, suffix_start.size(), suffix_start) != 0)
      return false;
    return !std::filesystem::exists("/proc/" + name.substr(2, end - 2));
  };
  for (const auto& e : std::filesystem::directory_iterator("/run/netns", ec)) {
    std::string name = e.path().filename().string();
    if (dead(name, "n")) Ip({"netns", "del", name});
  }
  for (const auto& e : std::filesystem::directory_iterator("/sys/class/net", ec)) {
    std::string name = e.path().filename().string();
    if (dead(name, "br") || dead(name, "v")) Ip({"link", "del", name});  // a veth takes its peer
  }
}

}  // namespace

std::string TestNetwork::host_name(int i) { return "host" + std::to_string(i + 1); }

std::string TestNetwork::host_address(int i) const {
  return "10.77." + std::to_string(octet_) + "." + std::to_string(10 + i);
}

std::vector<std::string> TestNetwork::On(int i) const {
  // ip netns exec and unshare exec the next program; sh execs the command after hostname.
  return {"ip", "netns", "exec", prefix_ + "n" + std::to_string(i), "unshare",   "--uts",
          "--", "sh",    "-c",   "hostname \"$0\" && exec \"$@\"",  host_name(i)};
}

std::unique_ptr<TestNetwork> TestNetwork::Create(int hosts, std::string* why_not) {
  if (geteuid() != 0) {
    *why_not = "not root, so no network namespaces";
    return nullptr;
  }
  RemoveLeftovers();
  std::unique_ptr<TestNetwork> net(new TestNetwork);
  // Names fit IFNAMSIZ (15): "rl" + pid + suffix. The subnet follows the pid, skipping any in use
  // (a run that crashed may have left its network behind).
  net->prefix_ = "rl" + std::to_string(getpid() % 1000000);
  CommandResult in_use = RunCommand({"ip", "-o", "-4", "addr", "show"});
  net->octet_ = getpid() % 200 + 20;
  while (in_use.output.find("10.77." + std::to_string(net->octet_) + ".") != std::string::npos)
    net->octet_ = net->octet_ % 250 + 1;
  std::string base = "10.77." + std::to_string(net->octet_) + ".";
  net->server_address_ = base + "1";
  net->subnet_ = base + "0/24";
  std::string bridge = net->prefix_ + "br";
  std::string error = Ip({"link", "add", bridge, "type", "bridge"});
  if (!error.empty()) {
    *why_not = error;
    return nullptr;
  }
  net->hosts_ = -1;  // from here on the destructor cleans up the bridge at least
  for (std::string e : {Ip({"addr", "add", net->server_address_ + "/24", "dev", bridge}),
                        Ip({"link", "set", bridge, "up"})}) {
    if (!e.empty()) {
      *why_not = e;
      return nullptr;
    }
  }
  for (int i = 0; i < hosts; ++i) {
    std::string ns = net->prefix_ + "n" + std::to_string(i);
    std::string outside = net->prefix_ + "v" + std::to_string(i);
    std::string inside = outside + "p";
    net->hosts_ = i + 1;
    for (const std::vector<std::string>& step : std::vector<std::vector<std::string>>{
             {"netns", "add", ns},
             {"link", "add", outside, "type", "veth", "peer", "name", inside},
             {"link", "set", inside, "netns", ns},
             {"link", "set", outside, "master", bridge},
             {"link", "set", outside, "up"},
             {"-n", ns, "addr", "add", net->host_address(i) + "/24", "dev", inside},
             {"-n", ns, "link", "set", inside, "up"},
             {"-n", ns, "link", "set", "lo", "up"},
             {"-n", ns, "route", "add", "default", "via", net->server_address_}}) {
      std::string e = Ip(step);
      if (!e.empty()) {
        *why_not = e;
        return nullptr;
      }
    }
  }
  return net;
}

TestNetwork::~TestNetwork() {
  if (hosts_ == 0) return;
  for (int i = 0; i < hosts_; ++i) {
    Ip({"link", "del", prefix_ + "v" + std::to_string(i)});  // takes its peer along
    Ip({"netns", "del", prefix_ + "n" + std::to_string(i)});
  }
  Ip({"link", "del", prefix_ + "br"});
}

}  // namespace reel::testing
