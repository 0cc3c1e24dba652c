#include "client/http_client.h"

#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <boost/beast.hpp>
#include <boost/beast/ssl.hpp>
#include <chrono>

#include <openssl/ssl.h>

namespace reel::client {
namespace {

namespace beast = boost::beast;
namespace http = beast::http;
namespace net = boost::asio;
using tcp = net::ip::tcp;
namespace ssl = net::ssl;

struct Url {
  std::string host, port, target;
  bool tls = false;
};

Result<Url> ParseUrl(const std::string& url) {
  Url u;
  u.tls = url.rfind("https://", 0) == 0;
  if (!u.tls && url.rfind("http://", 0) != 0)
    return InvalidArgument("only http:// and https:// URLs are supported: " + url);
  std::string rest = url.substr(u.tls ? 8 : 7);
  size_t slash = rest.find('/');
  std::string authority = rest.substr(0, slash);
  u.target = slash == std::string::npos ? "/" : rest.substr(slash);
  size_t colon = authority.rfind(':');
  u.host = authority.substr(0, colon);
  u.port = colon == std::string::npos ? (u.tls ? "443" : "80") : authority.substr(colon + 1);
  if (u.host.empty()) return InvalidArgument("no host in " + url);
  return u;
}

std::chrono::steady_clock::duration Seconds(double s) {
  return std::chrono::duration_cast<std::chrono::steady_clock::duration>(
      std::chrono::duration<double>(s));
}

Status Connect(net::io_context& ioc, beast::tcp_stream& stream, const Url& u, double timeout) {
  beast::error_code ec;
  tcp::resolver resolver(ioc);
  auto results = resolver.resolve(u.host, u.port, ec);
  if (ec) return Unavailable("cannot resolve " + u.host + ": " + ec.message());
  stream.expires_after(Seconds(timeout));
  stream.connect(results, ec);
  if (ec) return Unavailable("cannot connect to " + u.host + ":" + u.port + ": " + ec.message());
  return Status::Ok();
}

// Calls `use` with a stream connected to `u`: a beast::tcp_stream, or for https:// an ssl_stream
// over one whose server has shown a certificate that chains to the CA and names the URL's host.
template <class R, class F>
R WithStream(const Url& u, double timeout, const TlsOptions& tls, F&& use) {
  net::io_context ioc;
  if (!u.tls) {
    beast::tcp_stream stream(ioc);
    if (Status ok = Connect(ioc, stream, u, timeout); !ok.ok()) return ok;
    return use(stream);
  }
  beast::error_code ec;
  ssl::context ctx(ssl::context::tls_client);
  SSL_CTX_set_min_proto_version(ctx.native_handle(), TLS1_2_VERSION);
  ctx.set_verify_mode(ssl::verify_peer);
  if (tls.ca_file.empty())
    ctx.set_default_verify_paths(ec);
  else
    ctx.load_verify_file(tls.ca_file, ec);
  if (ec)
    return InvalidArgument("cannot load the CA certificates " +
                           (tls.ca_file.empty() ? "of the system" : "in " + tls.ca_file) + ": " +
                           ec.message());
  beast::ssl_stream<beast::tcp_stream> stream(ioc, ctx);
  if (Status ok = Connect(ioc, beast::get_lowest_layer(stream), u, timeout); !ok.ok()) return ok;
  // SNI names hosts only; an address is checked against the certificate's IP entries.
  net::ip::make_address(u.host, ec);
  if (ec && !SSL_set_tlsext_host_name(stream.native_handle(), u.host.c_str()))
    return InvalidArgument("bad TLS host name " + u.host);
  stream.set_verify_callback(ssl::host_name_verification(u.host));
  stream.handshake(ssl::stream_base::client, ec);
  if (ec)
    return Unavailable("TLS handshake with " + u.host + ":" + u.port + " failed: " + ec.message());
  return use(stream);
}

http::request<http::string_body> MakeRequest(http::verb verb, const Url& u, const std::string& body,
                                             const Headers& headers) {
  http::request<http::string_body> req{verb, u.target, 11};
  req.set(http::field::host, u.host + ":" + u.port);
  req.set(http::field::user_agent, "reel-client");
  for (const auto& [k, v] : headers) req.set(k, v);
  if (!body.empty() || verb == http::verb::post) {
    if (req.find(http::field::content_type) == req.end())
      req.set(http::field::content_type, "application/json");
    req.body() = body;
  }
  req.prepare_payload();
  return req;
}

// One request and its response on a connected stream.
template <class Stream>
Result<HttpResponse> Exchange(Stream& stream, http::verb verb, const Url& u, const std::string& url,
                              const std::string& method, const std::string& body,
                              const Headers& headers, double timeout_seconds) {
  beast::error_code ec;
  auto req = MakeRequest(verb, u, body, headers);
  beast::get_lowest_layer(stream).expires_after(Seconds(timeout_seconds));
  http::write(stream, req, ec);
  // A server may answer before reading the whole body (413) and stop reading: the answer is
  // still worth reading.
  beast::error_code write_error = ec;
  beast::flat_buffer buffer;
  http::response_parser<http::string_body> parser;
  parser.body_limit(256 * 1024 * 1024);
  parser.skip(method == "HEAD");  // a HEAD answer has no body, whatever Content-Length says
  http::read(stream, buffer, parser, ec);
  if (ec && write_error)
    return Unavailable("cannot send request to " + url + ": " + write_error.message());
  if (ec) return Unavailable("no response from " + url + ": " + ec.message());
  HttpResponse r;
  r.status = static_cast<int>(parser.get().result_int());
  for (const auto& f : parser.get()) {
    std::string name(f.name_string());
    for (char& c : name) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
    r.headers[name] = std::string(f.value());
  }
  r.body = parser.get().body();
  beast::get_lowest_layer(stream).socket().shutdown(tcp::socket::shutdown_both, ec);
  return r;
}

// Reads a Server-Sent Events stream from a connected stream (see StreamEvents).
template <class Stream>
Status ReadEvents(Stream& stream, const Url& u, const Headers& headers,
                  const std::function<bool(const std::string&, const std::string&)>& on_event,
                  double timeout_seconds) {
  beast::error_code ec;
  Headers h = headers;
  h["Accept"] = "text/event-stream";
  auto req = MakeRequest(http::verb::get, u, "", h);
  beast::get_lowest_layer(stream).expires_after(Seconds(timeout_seconds));
  http::write(stream, req, ec);
  if (ec) return Unavailable("cannot send request: " + ec.message());
  beast::flat_buffer buffer;
  http::response_parser<http::buffer_body> parser;
  parser.body_limit(boost::none);
  http::read_header(stream, buffer, parser, ec);
  if (ec) return Unavailable("no response: " + ec.message());
  if (parser.get().result_int() != 200) {
    std::string body;
    char chunk[4096];
    while (!parser.is_done()) {
      parser.get().body().data = chunk;
      parser.get().body().size = sizeof(chunk);
      http::read(stream, buffer, parser, ec);
      if (ec && ec != http::error::need_buffer) break;
      body.append(chunk, sizeof(chunk) - parser.get().body().size);
    }
    return Status(
        parser.get().result_int() == 404 ? StatusCode::kNotFound : StatusCode::kInvalidArgument,
        "HTTP " + std::to_string(parser.get().result_int()) + ": " + body);
  }
  std::string pending, event = "message", data;
  char chunk[4096];
  while (!parser.is_done()) {
    parser.get().body().data = chunk;
    parser.get().body().size = sizeof(chunk);
    beast::get_lowest_layer(stream).expires_after(Seconds(timeout_seconds));
    http::read_some(stream, buffer, parser, ec);  // an event as soon as it arrives
    if (ec == http::error::need_buffer) ec = {};
    if (ec == http::error::end_of_stream || ec == net::error::eof) break;
    if (ec) return Unavailable("event stream: " + ec.message());
    pending.append(chunk, sizeof(chunk) - parser.get().body().size);
    for (size_t nl; (nl = pending.find('\n')) != std::string::npos;) {
      std::string line = pending.substr(0, nl);
      pending.erase(0, nl + 1);
      if (line.empty()) {
        if (!data.empty() && !on_event(event, data)) return Status::Ok();
        event = "message";
        data.clear();
      } else if (line.rfind("event: ", 0) == 0) {
        event = line.substr(7);
      } else if (line.rfind("data: ", 0) == 0) {
        data += line.substr(6);
      }
    }
  }
  return Status::Ok();
}

}  // namespace

Result<HttpResponse> Fetch(const std::string& method, const std::string& url,
                           const std::string& body, const Headers& headers, double timeout_seconds,
                           const TlsOptions& tls) {
  Result<Url> u = ParseUrl(url);
  if (!u.ok()) return u.status();
  http::verb verb = http::string_to_verb(method);
  if (verb == http::verb::unknown) return InvalidArgument("unknown method " + method);
  return WithStream<Result<HttpResponse>>(*u, timeout_seconds, tls, [&](auto& stream) {
    return Exchange(stream, verb, *u, url, method, body, headers, timeout_seconds);
  });
}

Status StreamEvents(const std::string& url, const Headers& headers,
                    const std::function<bool(const std::string&, const std::string&)>& on_event,
                    double timeout_seconds, const TlsOptions& tls) {
  Result<Url> u = ParseUrl(url);
  if (!u.ok()) return u.status();
  return WithStream<Status>(*u, timeout_seconds, tls, [&](auto& stream) {
    return ReadEvents(stream, *u, headers, on_event, timeout_seconds);
  });
}

}  // namespace reel::client
