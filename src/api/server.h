// The HTTP API of `reel serve` (Boost.Beast on Asio): jobs, live events (SSE), queue, workers,
// presets, health and metrics, over plain HTTP or HTTPS. See README "HTTP API" for the routes.
#pragma once

#include <memory>
#include <string>
#include <vector>

#include "api/metrics.h"
#include "common/status.h"
#include "events/job_events.h"
#include "net/http.h"
#include "service/local_runner.h"
#include "storage/s3.h"
#include "store/job_store.h"

namespace reel::api {

struct ServerOptions {
  std::string address = "127.0.0.1";
  int port = 8080;  // 0: any free port
  int threads = 2;
  size_t body_limit = 16 << 20;   // bytes of a request body (inline sources take up to 14 MiB)
  double header_timeout = 10;     // seconds to send a whole request
  double idle_timeout = 60;       // keep-alive connections idle this long are closed
  double sse_heartbeat = 15;      // comment lines that keep proxies from closing event streams
  double stream_idle = 3600;      // an event stream without an event for this long is closed
  int max_streams = 10000;        // open event streams in all (503 beyond)
  int max_streams_per_key = 100;  // open event streams per API key (429 beyond)
  double store_deadline = 5;      // seconds a request waits for the store before a 503
  int store_threads = 4;          // store calls of requests at once, off the I/O threads
  int max_attempts = 3;
  int max_retries = 5;           // manual retries per job (POST /v1/jobs/{id}/retry), 409 beyond
  int max_jobs_per_key = 10000;  // jobs queued or running per non-admin key (429 beyond); 0: none
  int max_priority = 100;        // the highest priority a non-admin key may give a job
  std::vector<std::string> allow_paths;
  std::vector<std::string> forbidden_paths;  // the server's own files: never a destination
  net::AddressPolicy address_policy;         // what webhooks, sources and destinations may reach
  std::map<std::string, storage::S3Profile> s3_profiles;
  std::string secret_key;       // 32 bytes: seals per-job credentials at rest
  std::string default_webhook;  // for jobs that name none
  std::string scratch_dir;      // where files read from object stores wait to be sent
  // PEM files: HTTPS with this certificate (and its chain) and key. Both empty: plain HTTP.
  std::string tls_cert, tls_key;
};

class ApiServer {
 public:
  // `runner` may be null (an API-only node).
  ApiServer(ServerOptions options, store::JobStore* store, service::LocalRunner* runner,
            events::JobEvents* hub, Metrics* metrics);
  ~ApiServer();
  Status Start();  // binds and starts serving on background threads
  int port() const;
  bool tls() const;  // serving HTTPS
  // Reads the TLS files again for the connections accepted from now on; open ones keep theirs.
  // A bad pair is refused (and logged) and the certificate in use kept.
  Status ReloadTls();
  void Stop();

 private:
  struct Impl;
  std::unique_ptr<Impl> impl_;
};

}  // namespace reel::api
