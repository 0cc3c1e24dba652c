// Outbound HTTP for reel (webhooks now, storage later) on libcurl, behind an SSRF guard: the
// address actually connected to, after DNS and on every connection, must be public or allowed.
#pragma once

#include <atomic>
#include <cstdint>
#include <functional>
#include <map>
#include <string>
#include <vector>

#include "common/status.h"

struct sockaddr;

namespace reel::net {

// Which addresses outbound connections may reach. Public addresses always; loopback, private,
// link-local (cloud metadata at 169.254.169.254), unique-local and the like only when an
// entry allows them: an address ("127.0.0.1"), a CIDR ("10.0.0.0/8") or an IPv6 one.
class AddressPolicy {
 public:
  static Result<AddressPolicy> Parse(const std::vector<std::string>& allow);
  // Empty when allowed, else why not ("127.0.0.1 is a loopback address").
  std::string Refusal(const sockaddr* address) const;
  // Resolves the URL's host now and refuses it if any address it has is refused: the early,
  // friendly check at submission (the connect-time check is the one that counts).
  Status CheckUrl(const std::string& url) const;

 private:
  struct Range {
    bool v6 = false;
    uint8_t bytes[16] = {0};
    int prefix = 0;
  };
  std::vector<Range> allowed_;
};

struct HttpResponse {
  long status = 0;
  std::string body;
};

struct TransferOptions {
  double connect_timeout = 10;
  double stall_timeout = 30;  // abort when under low_speed_bytes/s for this long
  int64_t low_speed_bytes = 1024;
  double deadline = 0;  // seconds one transfer may take in all (each retry anew); 0: no limit
  // Too slow or past the deadline is final (kInvalidArgument, never retried) rather than
  // kUnavailable: for sources, where a server that trickles or never ends will not improve.
  bool slow_is_final = false;
  int64_t max_bytes = int64_t{64} << 30;  // downloads larger than this are refused
  int max_redirects = 5;                  // each hop is checked by the address policy
  int attempts = 3;                       // on 5xx, timeouts and connection errors, with backoff
  std::vector<std::string> headers;
};

// Transfers (and their retries) stop with kCanceled once *flag is true: a worker's child sets it
// on SIGTERM, so a cancel or a shutdown does not wait for a download to end.
void SetCancelFlag(const std::atomic<bool>* flag);
// Told, at most once a second per transfer, the bytes all transfers of this process have moved
// (down and up): a worker's child reports them so that a long download is not taken for a stall.
void SetTransferListener(std::function<void(int64_t bytes)> listener);

// GETs an http(s) URL into `path`. A 4xx answer is kInvalidArgument (no retry), other failures
// kUnavailable after the retries.
Status Download(const std::string& url, const std::string& path, const AddressPolicy& policy,
                const TransferOptions& options = {});
// PUTs (or POSTs) the file at `path` to an http(s) URL with a Content-Type.
Status Upload(const std::string& url, const std::string& path, const std::string& method,
              const std::string& content_type, const AddressPolicy& policy,
              const TransferOptions& options = {});

// One request with everything explicit (the S3 client builds its own signed requests).
struct Exchange {
  std::string method;
  std::string url;
  std::vector<std::string> headers;
  std::string body;       // sent when body_file is empty
  std::string body_file;  // or a slice of this file
  int64_t offset = 0;
  int64_t length = -1;        // -1: to the end
  std::string response_file;  // the response body goes here instead of into `body`
};
struct ExchangeResult {
  long status = 0;
  std::string body;
  std::map<std::string, std::string> headers;  // lower-case names
};
Result<ExchangeResult> Send(const Exchange& request, const AddressPolicy& policy,
                            const TransferOptions& options = {});

// POSTs `body` to an http(s) URL without following redirects. Transport failures and refused
// addresses are errors; any HTTP status is a response.
Result<HttpResponse> Post(const std::string& url, const std::string& body,
                          const std::vector<std::string>& headers, double timeout_seconds,
                          const AddressPolicy& policy);

}  // namespace reel::net
