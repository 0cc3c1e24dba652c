// Routing: a request in, a reply (or an event stream to open) out. No I/O here: the connections
// (server.cc) call HandleWithoutStore on their I/O thread and Handle off it, through the store
// gate, since Handle reads and writes the store.
#pragma once

#include <memory>
#include <optional>
#include <string>

#include "api/metrics.h"
#include "api/reply.h"
#include "api/server.h"
#include "api/store_gate.h"
#include "service/local_runner.h"
#include "store/job_store.h"

namespace reel::api {

class Router {
 public:
  Router(const ServerOptions& options, store::JobStore* store, service::LocalRunner* runner,
         Metrics* metrics, const StoreGate* gate);
  ~Router();

  // The replies that need no store, answered on the I/O thread: health, the dashboard, unknown
  // paths, and metrics (without the store's gauges) while the store is unavailable. Sets
  // `*route` (a fixed name, for metrics) either way.
  std::optional<Reply> HandleWithoutStore(const Request& req, std::string* route);
  // Every other request; it may block on the store.
  Reply Handle(const Request& req);

 private:
  class Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::api
