// Several hosts on one machine, for tests of what crosses a network: a bridge in the machine's
// own network namespace (the "server" host: database, object store, API) and one network
// namespace per worker host, each joined to the bridge by a veth pair and given its own hostname.
// A process on a worker host reaches the server host only through the bridge address, never
// loopback. Names carry the test's pid; what a killed test left behind is removed by the next.
//
// Needs root (CAP_NET_ADMIN) and iproute2. Where either is missing, Create() says why and the
// test runs its "hosts" as plain processes on loopback instead.
#pragma once

#include <memory>
#include <string>
#include <vector>

namespace reel::testing {

class TestNetwork {
 public:
  // A network with `hosts` worker hosts, or nullptr with `why_not` set.
  static std::unique_ptr<TestNetwork> Create(int hosts, std::string* why_not);
  ~TestNetwork();  // removes the namespaces, the veth pairs and the bridge
  TestNetwork(const TestNetwork&) = delete;
  TestNetwork& operator=(const TestNetwork&) = delete;

  // The server host's address on the bridge, e.g. "10.77.12.1".
  const std::string& server_address() const { return server_address_; }
  // The network, e.g. "10.77.12.0/24" (for allow lists and pg_hba.conf).
  const std::string& subnet() const { return subnet_; }
  // The address of worker host i (0-based).
  std::string host_address(int i) const;
  // The hostname of worker host i ("host1", "host2", ...).
  static std::string host_name(int i);
  // Prepended to an argv, runs it on worker host i: its own network namespace and hostname.
  // The command's pid is the process itself (every wrapper execs), so signals reach it.
  std::vector<std::string> On(int i) const;

 private:
  TestNetwork() = default;
  std::string prefix_;  // names of this network's interfaces and namespaces
  int hosts_ = 0;
  int octet_ = 0;  // the third octet of 10.77.x.0/24
  std::string server_address_;
  std::string subnet_;
};

}  // namespace reel::testing
