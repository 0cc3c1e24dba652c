// Fuzz target: an HTTP request from raw bytes, read as a connection of the API reads it (Beast's
// parser with the server's body and header limits) and routed as it routes it
// (Router::HandleWithoutStore on the I/O thread, else Router::Handle), against a real SQLite
// store in a temporary directory and an admin key the seeds carry. No network: nothing listens,
// and names resolve only when numeric (numeric_dns.cc). Beyond not crashing, the promises of
// the hardening are checked: every answer is one of the statuses the API documents (never a 500,
// which is a bug), a JSON answer parses, and no answer echoes a control character (a forged log
// or header line) in its JSON.
#include <stdlib.h>
#include <unistd.h>

#include <cstdint>
#include <filesystem>
#include <set>
#include <string>

#include <boost/asio/buffer.hpp>
#include <boost/beast/http.hpp>
#include <nlohmann/json.hpp>

#include "api/metrics.h"
#include "api/router.h"
#include "api/server.h"
#include "api/store_gate.h"
#include "common/crypto.h"
#include "store/job_store.h"

#include "require.h"

namespace {

namespace fs = std::filesystem;
namespace http = boost::beast::http;

// The key in the seed corpus's Authorization headers: "Bearer reel_fuzz".
constexpr const char* kKey = "reel_fuzz";

// What one process keeps between inputs: the store grows with accepted jobs, as a server's does.
// Never destroyed: libFuzzer exits without running destructors, and the gate's threads would
// outlive the store otherwise.
struct World {
  World() {
    char tmpl[] = "/tmp/reel-http-fuzz-XXXXXX";
    Require(mkdtemp(tmpl) != nullptr);
    dir = tmpl;
    fs::create_directories(dir / "media");
    fs::create_directories(dir / "data");
    store = std::move(reel::store::OpenStore((dir / "data" / "reel.db").string())).value();
    std::string secret_key(32, 'k');
    Require(store
                ->CreateKey("fuzz", reel::Sha256Hex(kKey), true,
                            reel::SealValue(secret_key, "whsec_fuzz"))
                .ok());
    options.allow_paths = {(dir / "media").string()};
    options.forbidden_paths = {(dir / "data").string()};
    options.secret_key = secret_key;
    options.scratch_dir = (dir / "data" / "work").string();
    options.store_deadline = 5;
    reel::api::StoreGateOptions go;
    go.threads = 1;
    gate = std::make_unique<reel::api::StoreGate>(store.get(), go);
    router =
        std::make_unique<reel::api::Router>(options, store.get(), nullptr, &metrics, gate.get());
  }
  fs::path dir;
  std::unique_ptr<reel::store::JobStore> store;
  reel::api::ServerOptions options;
  reel::api::Metrics metrics;
  std::unique_ptr<reel::api::StoreGate> gate;
  std::unique_ptr<reel::api::Router> router;
};

World& TheWorld() {
  static World* world = new World();
  return *world;
}

// The statuses README's HTTP API section documents.
const std::set<int> kStatuses = {200, 201, 202, 204, 206, 304, 400, 401, 403, 404, 405, 409,
                                 410, 411, 413, 415, 416, 422, 429, 431, 502, 503, 504};

bool HasControl(const std::string& s) {
  for (char c : s)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) return true;
  return false;
}

void CheckStrings(const nlohmann::json& j) {
  if (j.is_string()) Require(!HasControl(j.get<std::string>()));
  if (j.is_object())
    for (auto it = j.begin(); it != j.end(); ++it) {
      Require(!HasControl(it.key()));
      CheckStrings(*it);
    }
  if (j.is_array())
    for (const auto& v : j) CheckStrings(v);
}

void Check(const reel::api::Reply& r) {
  if (!kStatuses.count(r.status)) std::fprintf(stderr, "status %d: %s\n", r.status, r.body.c_str());
  Require(kStatuses.count(r.status));
  for (const auto& [name, value] : r.headers) Require(!HasControl(name) && !HasControl(value));
  if (r.content_type == "application/json" && !r.file && !r.deferred && !r.body.empty()) {
    nlohmann::json j = nlohmann::json::parse(r.body, nullptr, false);
    Require(!j.is_discarded());
    CheckStrings(j);
  }
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const uint8_t* data, size_t size) {
  World& world = TheWorld();
  // As server.cc reads a request: its body limit, 16 KiB of headers.
  http::request_parser<http::string_body> parser;
  parser.eager(true);
  parser.body_limit(world.options.body_limit);
  parser.header_limit(16 * 1024);
  boost::beast::error_code ec;
  size_t used = 0;
  while (!ec && !parser.is_done() && used < size) {
    size_t n = parser.put(boost::asio::buffer(data + used, size - used), ec);
    if (ec == http::error::need_more) ec = {};
    if (n == 0) break;
    used += n;
  }
  if (!ec && !parser.is_done()) parser.put_eof(ec);
  if (ec || !parser.is_done()) return 0;  // the server answers 400/413/431 or closes
  reel::api::Request req = parser.release();
  std::string route;
  std::optional<reel::api::Reply> quick = world.router->HandleWithoutStore(req, &route);
  Require(!route.empty() && route.size() < 64 && !HasControl(route));
  Check(quick ? *quick : world.router->Handle(req));
  return 0;
}
