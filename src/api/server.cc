#include "api/server.h"

#include <sys/stat.h>
#include <unistd.h>

#include <array>
#include <boost/asio.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>
#include <deque>
#include <filesystem>
#include <functional>
#include <optional>
#include <thread>

#include <spdlog/spdlog.h>

#include "api/event_streams.h"
#include "api/file_range_body.h"
#include "api/output_files.h"
#include "api/reply.h"
#include "api/router.h"
#include "api/store_gate.h"
#include "api/tls.h"
#include "common/crypto.h"
#include "common/log.h"
#include "common/redact.h"
#include "dashboard/dashboard.h"
#include "job/spec.h"
#include "presets/presets.h"
#include "storage/storage.h"
#include "store/job_view.h"

namespace reel::api {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;

// The access log, at debug: the route's template (never the path as sent, which may carry a
// file name of the user's) and never a header, so never the key.
void AccessLog(const std::string& method, const std::string& route, int status, double seconds) {
  if (!log::Enabled(log::Level::kDebug)) return;
  log::Debug("request", {{"method", method},
                         {"route", route},
                         {"status", status},
                         {"us", static_cast<int64_t>(seconds * 1e6)}});
}
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;
using TlsStream = beast::ssl_stream<beast::tcp_stream>;
using nlohmann::json;
namespace fs = std::filesystem;

std::string SseEvent(const std::string& event, const json& data) {
  return "event: " + event + "\ndata: " + data.dump() + "\n\n";
}

// What every connection shares.
struct Shared {
  const ServerOptions& options;
  Router* router;
  Metrics* metrics;
  std::shared_ptr<EventStreams> streams;
  StoreGate* gate;
  net::thread_pool* blocking;
};

Reply StoreUnavailable(const std::string& message) {
  Reply r = ErrorReply(503, "unavailable", message);
  r.headers.push_back({"Retry-After", "1"});
  return r;
}

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

// One connection: plain HTTP (Stream = beast::tcp_stream) or HTTPS (TlsStream, over the context
// current when it was accepted, which it keeps through reloads).
template <class Stream>
class Session : public std::enable_shared_from_this<Session<Stream>> {
  static constexpr bool kTls = std::is_same_v<Stream, TlsStream>;
  using std::enable_shared_from_this<Session<Stream>>::shared_from_this;

 public:
  Session(tcp::socket socket, Shared* shared, std::shared_ptr<ssl::context> tls)
      : tls_(std::move(tls)),
        stream_(Open(std::move(socket), tls_.get())),
        timer_(stream_.get_executor()),
        shared_(shared),
        streams_(shared->streams) {}

  // Sessions may outlive the server's other parts (destroyed with its I/O context): the streams
  // registry is kept alive by each.
  ~Session() {
    if (token_) streams_->Close(token_);
  }

  void Run() {
    net::dispatch(stream_.get_executor(), [self = shared_from_this()] {
      if constexpr (kTls)
        self->Handshake();
      else
        self->Read();
    });
  }

 private:
  // What answering a request needs to remember while its reply is made elsewhere.
  struct Context {
    std::string route, method;
    std::chrono::steady_clock::time_point started;
    bool keep_alive = false, head = false;
    unsigned version = 11;
  };

  static Stream Open(tcp::socket socket, ssl::context* tls) {
    if constexpr (kTls)
      return Stream(std::move(socket), *tls);
    else
      return Stream(std::move(socket));
  }

  beast::tcp_stream& tcp_layer() { return beast::get_lowest_layer(stream_); }

  // On the connection's own strand, like everything else: a slow or silent client holds no
  // thread, and is dropped when a request's deadline (header_timeout) passes before the handshake
  // ends.
  void Handshake() {
    tcp_layer().expires_after(Seconds(shared_->options.header_timeout));
    beast::async_detect_ssl(
        tcp_layer(), buffer_, [self = shared_from_this()](beast::error_code ec, bool tls) {
          if (ec) return self->Close();
          if (!tls) return self->RefusePlainHttp();
          self->stream_.async_handshake(ssl::stream_base::server, self->buffer_.data(),
                                        [self](beast::error_code ec, size_t used) {
                                          if (ec) return self->Close();
                                          self->buffer_.consume(used);
                                          self->handshaken_ = true;
                                          self->Read();
                                        });
        });
  }

  // A plain-HTTP request to the HTTPS port is told so in plain HTTP, then closed.
  void RefusePlainHttp() {
    std::string body =
        ErrorReply(400, "https_required", "this port speaks HTTPS: use an https:// URL").body;
    auto text = std::make_shared<std::string>(
        "HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\nConnection: "
        "close\r\nServer: reel\r\nContent-Length: " +
        std::to_string(body.size()) + "\r\n\r\n" + body);
    net::async_write(tcp_layer(), net::buffer(*text),
                     [self = shared_from_this(), text](beast::error_code ec, size_t) {
                       if (ec) return self->Close();
                       self->LingeringClose();
                     });
  }

  void Read() {
    parser_.emplace();
    parser_->body_limit(shared_->options.body_limit);
    parser_->header_limit(16 * 1024);
    tcp_layer().expires_after(Seconds(shared_->options.header_timeout));
    http::async_read(
        stream_, buffer_, *parser_,
        [self = shared_from_this()](beast::error_code ec, size_t) { self->OnRead(ec); });
  }

  // A request Beast refused to parse gets an answer rather than a closed connection.
  static bool Malformed(beast::error_code ec) {
    static const auto& category = http::make_error_code(http::error::bad_field).category();
    return ec.category() == category && ec != http::error::end_of_stream &&
           ec != http::error::partial_message && ec != http::error::need_more &&
           ec != http::error::short_read;
  }

  void OnRead(beast::error_code ec) {
    if (ec == http::error::body_limit) {
      Send(ErrorReply(
               413, "payload_too_large",
               "request body exceeds " + std::to_string(shared_->options.body_limit) + " bytes"),
           false, 11, false);
      return;
    }
    if (ec == http::error::header_limit) {
      Send(ErrorReply(431, "headers_too_large", "request headers exceed 16 KiB"), false, 11, false);
      return;
    }
    if (ec && Malformed(ec)) {
      Send(ErrorReply(400, "bad_request", "malformed request: " + ec.message()), false, 11, false);
      return;
    }
    if (ec) return Close();  // closed, timed out, or not HTTP
    auto req = std::make_shared<Request>(parser_->release());
    Context c;
    c.started = std::chrono::steady_clock::now();
    c.keep_alive = req->keep_alive();
    c.head = req->method() == http::verb::head;
    c.version = req->version();
    // Clients choose unknown methods' names: they share one label.
    c.method = req->method() == http::verb::unknown ? "other" : std::string(req->method_string());
    std::optional<Reply> quick;
    try {
      quick = shared_->router->HandleWithoutStore(*req, &c.route);
    } catch (const std::exception& e) {
      spdlog::error("request {} failed: {}", c.route, e.what());
      quick = ErrorReply(500, "internal", "internal error");
    }
    if (quick) return Finish(std::move(*quick), std::move(c));
    // Over the streams cap: refused before any store work, so that a flood of them is cheap.
    if (c.route == "/v1/jobs/{id}/events" &&
        shared_->streams->size() >= static_cast<size_t>(shared_->options.max_streams))
      return RefuseStream(std::move(c));
    Router* router = shared_->router;
    RunOnGate([router, req] { return router->Handle(*req); }, std::move(c));
  }

  // Runs `work` (store work) on the store gate; the reply is whichever comes first of its answer
  // and the deadline. A late answer is dropped; work not yet started when the deadline passes is
  // skipped (`phase` 0: waiting, 1: started, 2: skipped).
  void RunOnGate(std::function<Reply()> work, Context c) {
    if (shared_->gate->open())
      return Finish(StoreUnavailable("the job store is unavailable; try again shortly"),
                    std::move(c));
    auto done = std::make_shared<std::atomic<bool>>(false);
    auto phase = std::make_shared<std::atomic<int>>(0);
    auto deadline = std::make_shared<net::steady_timer>(stream_.get_executor());
    deadline->expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(shared_->options.store_deadline)));
    bool posted = shared_->gate->Post(
        [self = shared_from_this(), work = std::move(work), done, phase, deadline, c] {
          int waiting = 0;
          if (!phase->compare_exchange_strong(waiting, 1)) return;
          Reply r;
          try {
            r = work();
          } catch (const std::exception& e) {
            spdlog::error("request {} {} failed: {}", c.method, c.route, e.what());
            r = ErrorReply(500, "internal", "internal error");
          }
          net::post(self->stream_.get_executor(),
                    [self, done, deadline, c, r = std::move(r)]() mutable {
                      if (done->exchange(true)) return;
                      deadline->cancel();
                      self->Finish(std::move(r), std::move(c));
                    });
        });
    if (!posted)
      return Finish(
          StoreUnavailable(shared_->gate->open() ? "the job store is unavailable; try again shortly"
                                                 : "too many requests wait for the job store"),
          std::move(c));
    deadline->async_wait([self = shared_from_this(), done, phase, c](beast::error_code ec) mutable {
      if (ec || done->exchange(true)) return;
      int waiting = 0;
      bool skipped = phase->compare_exchange_strong(waiting, 2);
      self->shared_->gate->Trip("a request waited " +
                                std::to_string(self->shared_->options.store_deadline) +
                                " s for it");
      // A change that started may still be written after this answer: "try again" could submit
      // a job twice, so say that the outcome is unknown instead.
      if (!skipped && c.method != "GET" && c.method != "HEAD")
        return self->Finish(
            ErrorReply(504, "outcome_unknown",
                       "the job store did not answer in time and the change may still be made: "
                       "check before trying again, or send the same Idempotency-Key"),
            std::move(c));
      self->Finish(StoreUnavailable("the job store did not answer in time; try again shortly"),
                   std::move(c));
    });
  }

  // On this connection's strand: answers, opens an event stream, hands the reply's work that
  // may block (an object store read, a submission's DNS lookups) to the blocking pool, or its
  // store work to the gate; what those return is finished here in turn.
  void Finish(Reply reply, Context c) {
    if (reply.events_for) return StartEvents(std::move(reply), c);
    if (reply.deferred) {
      auto work = std::move(reply.deferred);
      net::post(*shared_->blocking, [self = shared_from_this(), work = std::move(work), c]() {
        Reply r;
        try {
          r = work();
        } catch (const std::exception& e) {
          spdlog::error("request {} {} failed: {}", c.method, c.route, e.what());
          r = ErrorReply(500, "internal", "internal error");
        }
        net::post(self->stream_.get_executor(), [self, r = std::move(r), c]() mutable {
          self->Finish(std::move(r), std::move(c));
        });
      });
      return;
    }
    if (reply.store_work) return RunOnGate(std::move(reply.store_work), std::move(c));
    reply_done(this, std::move(reply), c);
  }

  static void reply_done(Session* self, Reply r, const Context& c) {
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
    self->shared_->metrics->CountRequest(c.route, c.method, r.status, s);
    AccessLog(c.method, c.route, r.status, s);
    self->Send(std::move(r), c.keep_alive, c.version, c.head);
  }

  void Send(Reply reply, bool keep_alive, unsigned version, bool head) {
    uint64_t size = reply.body.size();
    FileRangeBody::value_type file;
    if (reply.file) {
      struct stat st;
      if (fstat(reply.file->fd, &st) != 0 || reply.file_offset > st.st_size)
        return Send(ErrorReply(404, "not_found", "the file went away"), keep_alive, version, head);
      file.file = reply.file;
      file.offset = static_cast<uint64_t>(reply.file_offset);
      file.length = reply.file_length >= 0 ? static_cast<uint64_t>(reply.file_length)
                                           : static_cast<uint64_t>(st.st_size) - file.offset;
      size = file.length;
    }
    if (head) {
      auto res = std::make_shared<http::response<http::empty_body>>(
          static_cast<http::status>(reply.status), version);
      res->content_length(size);
      return Write(std::move(res), std::move(reply), keep_alive, 0);
    }
    if (reply.file) {
      auto res = std::make_shared<http::response<FileRangeBody>>(
          std::piecewise_construct, std::make_tuple(std::move(file)),
          std::make_tuple(static_cast<http::status>(reply.status), version));
      res->prepare_payload();
      return Write(std::move(res), std::move(reply), keep_alive, size);
    }
    auto res = std::make_shared<http::response<http::string_body>>(
        static_cast<http::status>(reply.status), version);
    res->body() = std::move(reply.body);
    res->prepare_payload();
    Write(std::move(res), std::move(reply), keep_alive, size);
  }

  template <class Body>
  void Write(std::shared_ptr<http::response<Body>> res, Reply reply, bool keep_alive,
             uint64_t size) {
    res->set(http::field::server, "reel");
    if (reply.status != 204) res->set(http::field::content_type, reply.content_type);
    for (const auto& [k, v] : reply.headers) res->set(k, v);
    res->keep_alive(keep_alive);
    // The read's deadline does not fit a large body: allow 30 s plus 64 KiB/s.
    tcp_layer().expires_after(std::chrono::seconds(30 + size / (64 * 1024)));
    http::async_write(stream_, *res,
                      [self = shared_from_this(), res](beast::error_code ec, size_t) {
                        if (ec) return self->Close();
                        if (!res->keep_alive()) return self->LingeringClose();
                        self->Read();
                      });
  }

  // Closing with unread request bytes makes the kernel reset the connection, and a client still
  // sending (a body over the limit) would lose the response. Stop sending, then read and drop
  // what is still coming for a moment, then close.
  // Over TLS, Close() sends close_notify instead.
  void LingeringClose() {
    if (kTls && handshaken_) return Close();
    beast::error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_layer().expires_after(std::chrono::seconds(2));
    Discard();
  }

  void Discard() {
    auto buf = std::make_shared<std::array<char, 16384>>();
    tcp_layer().async_read_some(net::buffer(*buf),
                                [self = shared_from_this(), buf](beast::error_code ec, size_t) {
                                  if (ec) return self->Close();
                                  self->Discard();
                                });
  }

  // Server-Sent Events: the current state first, then every event of the job as it happens,
  // until the job finishes, the key is revoked, the stream idles too long or the client goes.
  void StartEvents(Reply reply, const Context& c) {
    std::weak_ptr<Session> weak = shared_from_this();
    auto executor = stream_.get_executor();
    EventStreams::Sink sink;
    sink.deliver = [weak, executor](std::shared_ptr<const StreamEvent> e) {
      net::post(executor, [weak, e] {
        if (auto self = weak.lock()) self->OnEvent(*e);
      });
    };
    sink.close = [weak, executor] {
      net::post(executor, [weak] {
        if (auto self = weak.lock()) self->EndStream("the API key was revoked");
      });
    };
    std::string job_id = reply.events_for->value("id", "");
    EventStreams::OpenResult opened = shared_->streams->Open(
        job_id, reply.key_id, reply.key_hash, *reply.events_for, std::move(sink), &token_);
    if (opened == EventStreams::OpenResult::kKeyCap)
      return reply_done(
          this,
          ErrorReply(429, "too_many_streams",
                     "this key has " + std::to_string(shared_->options.max_streams_per_key) +
                         " event streams open, the most allowed"),
          c);
    if (opened == EventStreams::OpenResult::kGlobalCap) return RefuseStream(c);
    double s = std::chrono::duration<double>(std::chrono::steady_clock::now() - c.started).count();
    shared_->metrics->CountRequest(c.route, "GET", 200, s);
    AccessLog("GET", c.route, 200, s);
    tcp_layer().expires_never();
    Enqueue(
        "HTTP/1.1 200 OK\r\nContent-Type: text/event-stream\r\nCache-Control: no-cache\r\n"
        "Connection: close\r\nX-Accel-Buffering: no\r\nServer: reel\r\n\r\n");
    OnEvent(StreamEvent{"state", *reply.events_for, false});
    Heartbeat();
  }

  // Refused streams close their connection: a client opening them by the thousand must not
  // keep the descriptors that others need.
  void RefuseStream(Context c) {
    c.keep_alive = false;
    reply_done(this, StoreUnavailable("the server has as many event streams open as it takes"), c);
  }

  void OnEvent(const StreamEvent& e) {
    if (closing_) return;
    // What the node's poll read from the store: only news (the store lags local events).
    if (e.polled && e.name == "progress" &&
        e.data["progress"].value("fraction", 0.0) <= last_fraction_)
      return;
    if (e.polled && e.name == "state" && e.data.value("state", "") == last_state_) return;
    last_event_ = std::chrono::steady_clock::now();
    if (e.name == "state") last_state_ = e.data.value("state", "");
    if (e.name == "progress" && e.data.contains("progress"))
      last_fraction_ = std::max(last_fraction_, e.data["progress"].value("fraction", 0.0));
    Enqueue(SseEvent(e.name, e.data));
    if (e.name == "state" && e.data.contains("state")) {
      auto st = store::ParseState(e.data["state"].get<std::string>());
      if (st && store::IsFinished(*st)) closing_ = true;
    }
  }

  void EndStream(const std::string& why) {
    if (closing_ || closed_) return;
    Enqueue(SseEvent("error", {{"message", why}}));
    closing_ = true;
  }

  // A comment line now and then keeps proxies from closing the stream; a stream without an
  // event for `stream_idle` is ended (the client may reconnect).
  void Heartbeat() {
    timer_.expires_after(std::chrono::duration_cast<std::chrono::steady_clock::duration>(
        std::chrono::duration<double>(std::max(0.05, shared_->options.sse_heartbeat))));
    timer_.async_wait([self = shared_from_this()](beast::error_code ec) {
      if (ec || self->closed_) return;
      double idle =
          std::chrono::duration<double>(std::chrono::steady_clock::now() - self->last_event_)
              .count();
      if (idle >= self->shared_->options.stream_idle)
        return self->EndStream("no event for " + std::to_string(static_cast<int>(idle)) + " s");
      self->Enqueue(": heartbeat\n\n");
      self->Heartbeat();
    });
  }

  void Enqueue(std::string message) {
    queue_.push_back(std::make_shared<std::string>(std::move(message)));
    if (!writing_) WriteNext();
  }

  void WriteNext() {
    if (queue_.empty()) {
      writing_ = false;
      if (closing_) Close();
      return;
    }
    writing_ = true;
    auto msg = queue_.front();
    net::async_write(stream_, net::buffer(*msg),
                     [self = shared_from_this(), msg](beast::error_code ec, size_t) {
                       self->queue_.pop_front();
                       if (ec) return self->Close();
                       self->WriteNext();
                     });
  }

  void Close() {
    if (closed_) return;
    closed_ = true;
    if (token_) {
      shared_->streams->Close(token_);
      token_ = 0;
    }
    timer_.cancel();
    if constexpr (kTls) {
      // close_notify first: a client reading an event stream to its end can tell that end from
      // a cut connection. A peer that does not answer it gets 2 s.
      if (handshaken_) {
        tcp_layer().expires_after(std::chrono::seconds(2));
        stream_.async_shutdown(
            [self = shared_from_this()](beast::error_code) { self->CloseSocket(); });
        return;
      }
    }
    CloseSocket();
  }

  void CloseSocket() {
    beast::error_code ec;
    tcp_layer().socket().shutdown(tcp::socket::shutdown_send, ec);
    tcp_layer().socket().close(ec);
  }

  std::shared_ptr<ssl::context> tls_;  // before stream_, which uses it
  Stream stream_;
  bool handshaken_ = false;
  net::steady_timer timer_;
  beast::flat_buffer buffer_;
  std::optional<http::request_parser<http::string_body>> parser_;
  Shared* shared_;
  std::shared_ptr<EventStreams> streams_;
  uint64_t token_ = 0;
  std::string last_state_;
  double last_fraction_ = -1;
  std::chrono::steady_clock::time_point last_event_;
  std::deque<std::shared_ptr<std::string>> queue_;
  bool writing_ = false;
  bool closing_ = false;
  bool closed_ = false;
};

}  // namespace

struct ApiServer::Impl {
  Impl(ServerOptions o, store::JobStore* s, service::LocalRunner* r, events::JobEvents* h,
       Metrics* m)
      : options(std::move(o)),
        gate(s, StoreGateOptions{options.store_threads, 16384, options.store_deadline, 0.5}),
        streams(std::make_shared<EventStreams>(
            s, h, &gate, EventStreamOptions{options.max_streams, options.max_streams_per_key, 1})),
        router(options, s, r, m, &gate),
        shared{options, &router, m, streams, &gate, &blocking},
        acceptor(net::make_strand(ioc)),
        accept_retry(acceptor.get_executor()) {}

  ~Impl() {
    streams->Stop();
    gate.Stop();
  }

  void Accept() {
    acceptor.async_accept(net::make_strand(ioc), [this](beast::error_code ec, tcp::socket socket) {
      if (ec == net::error::operation_aborted) return;
      if (ec) {
        // Out of file descriptors, most likely: retrying at once would spin on the backlog.
        accept_retry.expires_after(std::chrono::milliseconds(50));
        accept_retry.async_wait([this](beast::error_code e) {
          if (!e) Accept();
        });
        return;
      }
      if (tls)
        std::make_shared<Session<TlsStream>>(std::move(socket), &shared, tls->current())->Run();
      else
        std::make_shared<Session<beast::tcp_stream>>(std::move(socket), &shared, nullptr)->Run();
      Accept();
    });
  }

  ServerOptions options;
  // First, so destroyed last: the pools below hold sessions whose sockets belong to it.
  net::io_context ioc;
  StoreGate gate;
  std::shared_ptr<EventStreams> streams;
  Router router;
  net::thread_pool blocking{4};  // requests that wait on an object store
  Shared shared;
  tcp::acceptor acceptor;
  net::steady_timer accept_retry;
  std::unique_ptr<TlsCertificate> tls;  // null: plain HTTP
  std::vector<std::thread> threads;
  int port = 0;
};

ApiServer::ApiServer(ServerOptions options, store::JobStore* store, service::LocalRunner* runner,
                     events::JobEvents* hub, Metrics* metrics)
    : impl_(std::make_unique<Impl>(std::move(options), store, runner, hub, metrics)) {}

ApiServer::~ApiServer() { Stop(); }

Status ApiServer::Start() {
  if (!impl_->options.tls_cert.empty() || !impl_->options.tls_key.empty()) {
    if (impl_->options.tls_cert.empty() || impl_->options.tls_key.empty())
      return InvalidArgument("TLS needs both a certificate and its key (--tls-cert, --tls-key)");
    Result<std::unique_ptr<TlsCertificate>> tls =
        TlsCertificate::Load(impl_->options.tls_cert, impl_->options.tls_key);
    if (!tls.ok()) return tls.status();
    impl_->tls = std::move(*tls);
    spdlog::info("TLS certificate: {}", impl_->tls->Describe());
  }
  beast::error_code ec;
  auto address = net::ip::make_address(impl_->options.address, ec);
  if (ec) return InvalidArgument("bad listen address '" + impl_->options.address + "'");
  tcp::endpoint endpoint(address, static_cast<unsigned short>(impl_->options.port));
  tcp::acceptor& a = impl_->acceptor;
  a.open(endpoint.protocol(), ec);
  if (!ec) a.set_option(net::socket_base::reuse_address(true), ec);
  if (!ec) a.bind(endpoint, ec);
  if (!ec) a.listen(net::socket_base::max_listen_connections, ec);
  if (ec)
    return Unavailable("cannot listen on " + impl_->options.address + ":" +
                       std::to_string(impl_->options.port) + ": " + ec.message());
  impl_->port = a.local_endpoint().port();
  impl_->Accept();
  for (int i = 0; i < std::max(1, impl_->options.threads); ++i)
    impl_->threads.emplace_back([this] { impl_->ioc.run(); });
  return Status::Ok();
}

int ApiServer::port() const { return impl_->port; }

bool ApiServer::tls() const { return impl_->tls != nullptr; }

Status ApiServer::ReloadTls() {
  if (!impl_->tls)
    return FailedPrecondition("the API serves plain HTTP: there is no TLS to reload");
  return impl_->tls->Reload();
}

void ApiServer::Stop() {
  if (impl_->threads.empty()) return;
  impl_->ioc.stop();
  for (std::thread& t : impl_->threads) t.join();
  impl_->threads.clear();
  impl_->blocking.stop();
  impl_->blocking.join();
  impl_->streams->Stop();
  impl_->gate.Stop();
}

}  // namespace reel::api
