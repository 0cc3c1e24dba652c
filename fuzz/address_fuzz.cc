// Fuzz target: AddressPolicy::Parse (the --allow-host entries), Refusal (the connect-time check)
// and CheckUrl (the submission check). Input: 16 bytes of address, then lines: a URL, then allow
// entries. Beyond not crashing: an IPv4 address is judged the same in its IPv4-mapped and NAT64
// forms, and private IPv4 is refused in every form unless allowed.
#include <arpa/inet.h>
#include <netinet/in.h>

#include <cstdint>
#include <cstdio>
#include <cstdlib>
#include <cstring>
#include <sstream>
#include <string>
#include <vector>

#include "net/http.h"

#include "require.h"

namespace {

using reel::net::AddressPolicy;

std::string RefusalV4(const AddressPolicy& p, const uint8_t* ip) {
  sockaddr_in a{};
  a.sin_family = AF_INET;
  std::memcpy(&a.sin_addr, ip, 4);
  return p.Refusal(reinterpret_cast<const sockaddr*>(&a));
}

std::string RefusalV6(const AddressPolicy& p, const uint8_t* prefix12, const uint8_t* ip) {
  sockaddr_in6 a{};
  a.sin6_family = AF_INET6;
  std::memcpy(&a.sin6_addr, prefix12, 12);
  std::memcpy(reinterpret_cast<uint8_t*>(&a.sin6_addr) + 12, ip, 4);
  return p.Refusal(reinterpret_cast<const sockaddr*>(&a));
}

bool PrivateV4(const uint8_t* ip) {
  return ip[0] == 10 || ip[0] == 127 || (ip[0] == 169 && ip[1] == 254) ||
         (ip[0] == 192 && ip[1] == 168) || (ip[0] == 172 && (ip[1] & 0xf0) == 16) || ip[0] == 0;
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  uint8_t address[16] = {0};
  std::memcpy(address, data, size < 16 ? size : 16);
  std::string rest =
      size > 16 ? std::string(reinterpret_cast<const char*>(data) + 16, size - 16) : std::string();
  std::istringstream lines(rest);
  std::string url, line;
  std::getline(lines, url);
  std::vector<std::string> allow;
  while (std::getline(lines, line) && allow.size() < 16) allow.push_back(line);

  reel::Result<AddressPolicy> parsed = AddressPolicy::Parse(allow);
  AddressPolicy none = *AddressPolicy::Parse({});
  static const uint8_t kMapped[12] = {0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0xff, 0xff};
  static const uint8_t kNat64[12] = {0, 0x64, 0xff, 0x9b, 0, 0, 0, 0, 0, 0, 0, 0};
  for (const AddressPolicy* p : {&none, parsed.ok() ? &*parsed : &none}) {
    bool v4 = RefusalV4(*p, address).empty();
    Require(RefusalV6(*p, kMapped, address).empty() == v4);
    Require(RefusalV6(*p, kNat64, address).empty() == v4);
    RefusalV6(*p, address, address + 12);  // any IPv6 address: must not crash
    (void)p->CheckUrl(url);
  }
  if (PrivateV4(address)) {
    Require(!RefusalV4(none, address).empty());
    Require(!RefusalV6(none, kMapped, address).empty());
    static const uint8_t kCompatible[12] = {0};
    Require(!RefusalV6(none, kCompatible, address).empty());
  }
  return 0;
}
