// `reel serve --tls-cert --tls-key` as an operator runs it: certificates made here by the openssl
// CLI under a CA of the test's own, clients that verify against that CA (reel's CLI client and
// a bare OpenSSL handshake that reads the certificate served), and SIGHUP reloads that change
// what new connections see while an event stream opened before keeps going.
#include <poll.h>
#include <signal.h>
#include <sys/socket.h>
#include <sys/stat.h>

#include <utility>  // first: Boost.Asio 1.74's awaitable.hpp uses std::exchange without it

#include <algorithm>
#include <boost/asio.hpp>
#include <boost/asio/ssl.hpp>
#include <chrono>
#include <filesystem>
#include <mutex>
#include <thread>

#include <gtest/gtest.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <nlohmann/json.hpp>

#include "client/http_client.h"
#include "testing/media_fixtures.h"

namespace reel {
namespace {

namespace fs = std::filesystem;
namespace net = boost::asio;
namespace ssl = net::ssl;
using tcp = net::ip::tcp;
using nlohmann::json;
using testing::CommandResult;
using testing::RunCommand;
using testing::TempDir;

const std::string kAdminKey = "tls-admin-0123456789abcdefghijklmnopqrstuvwxyz";

void OpenSsl(const std::vector<std::string>& args) {
  std::vector<std::string> argv = {"openssl"};
  argv.insert(argv.end(), args.begin(), args.end());
  CommandResult r = RunCommand(argv);
  ASSERT_EQ(r.exit_code, 0) << r.output;
}

// A CA (ca.crt, ca.key) in `dir`.
void MakeCa(const TempDir& dir) {
  OpenSsl({"req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", dir / "ca.key", "-out", dir / "ca.crt", "-days", "2", "-subj",
           "/CN=reel test CA"});
}

// NAME.crt and NAME.key in `dir`: a server certificate for 127.0.0.1 and localhost, signed by
// the CA, whose subject's common name is `name`.
void MakeServerCert(const TempDir& dir, const std::string& name) {
  testing::WriteFile(dir / "server.ext",
                     "subjectAltName=IP:127.0.0.1,DNS:localhost\n"
                     "basicConstraints=critical,CA:FALSE\nextendedKeyUsage=serverAuth\n");
  OpenSsl({"req", "-new", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
           "-keyout", dir / (name + ".key"), "-out", dir / (name + ".csr"), "-subj",
           "/CN=" + name});
  OpenSsl({"x509", "-req", "-in", dir / (name + ".csr"), "-CA", dir / "ca.crt", "-CAkey",
           dir / "ca.key", "-CAcreateserial", "-days", "2", "-extfile", dir / "server.ext", "-out",
           dir / (name + ".crt")});
}

// The common name of the certificate the server on `port` shows to a client that trusts
// `ca_file` and offers TLS versions up to `max_version` (0: any); "handshake failed: ..." if
// there is no TLS session.
std::string PeerName(int port, const std::string& ca_file, int max_version = 0) {
  net::io_context ioc;
  ssl::context ctx(ssl::context::tls_client);
  ctx.load_verify_file(ca_file);
  ctx.set_verify_mode(ssl::verify_peer);
  if (max_version) {
    SSL_CTX_set_min_proto_version(ctx.native_handle(), 0);
    SSL_CTX_set_max_proto_version(ctx.native_handle(), max_version);
    SSL_CTX_set_cipher_list(ctx.native_handle(), "ALL:@SECLEVEL=0");  // let old versions try
  }
  ssl::stream<tcp::socket> stream(ioc, ctx);
  stream.set_verify_callback(ssl::host_name_verification("127.0.0.1"));
  boost::system::error_code ec;
  stream.next_layer().connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)), ec);
  if (ec) return "connect failed: " + ec.message();
  stream.handshake(ssl::stream_base::client, ec);
  if (ec) return "handshake failed: " + ec.message();
  X509* cert = SSL_get1_peer_certificate(stream.native_handle());
  if (!cert) return "no certificate";
  char name[256] = {0};
  X509_NAME_get_text_by_NID(X509_get_subject_name(cert), NID_commonName, name, sizeof(name) - 1);
  X509_free(cert);
  stream.shutdown(ec);
  return name;
}

// Waits until the server's output has `text` (after `from` bytes of it).
bool WaitForOutput(testing::BackgroundCommand& srv, const std::string& text, size_t from = 0) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(60);
  while (std::chrono::steady_clock::now() < deadline && srv.Running()) {
    std::string out = srv.OutputSoFar();
    if (out.size() > from && out.find(text, from) != std::string::npos) return true;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  return false;
}

int PortOf(const std::string& url) { return std::stoi(url.substr(url.rfind(':') + 1)); }

CommandResult ReelClient(const std::vector<std::string>& env, std::vector<std::string> args) {
  std::vector<std::string> argv = {"env", "-u", "REEL_CA_FILE", "-u", "SSL_CERT_FILE"};
  argv.insert(argv.end(), env.begin(), env.end());
  argv.push_back(testing::ReelBinary());
  argv.insert(argv.end(), args.begin(), args.end());
  return RunCommand(argv);
}

// Missing, unreadable, unparsable or mismatched files stop `reel serve` at once with one line
// that names the file.
TEST(Tls, BadFilesAreRefusedAtStartNamingTheFile) {
  TempDir dir;
  MakeCa(dir);
  MakeServerCert(dir, "a");
  MakeServerCert(dir, "b");
  testing::WriteFile(dir / "garbage.crt", "not a certificate\n");
  auto serve = [&](const std::string& cert, const std::string& key) {
    std::vector<std::string> args = {
        testing::ReelBinary(), "serve",     "--workers", "0",
        "--data-dir",          dir / "var", "--listen",  "127.0.0.1:0"};
    if (!cert.empty()) args.insert(args.end(), {"--tls-cert", cert});
    if (!key.empty()) args.insert(args.end(), {"--tls-key", key});
    return RunCommand(args);
  };
  struct Case {
    std::string cert, key, message;
  } cases[] = {
      {dir / "missing.crt", dir / "a.key",
       "TLS certificate " + (dir / "missing.crt") + ": cannot read: No such file or directory"},
      {dir / "a.crt", dir / "missing.key", "TLS key " + (dir / "missing.key") + ": cannot read"},
      {dir / "garbage.crt", dir / "a.key",
       "TLS certificate " + (dir / "garbage.crt") + ": not a PEM certificate chain"},
      {dir / "a.crt", dir / "garbage.crt",
       "TLS key " + (dir / "garbage.crt") + ": not an unencrypted PEM private key"},
      {dir / "a.crt", dir / "b.key",
       "TLS key " + (dir / "b.key") + " is not the key of the certificate in " + (dir / "a.crt")},
      {dir / "a.crt", "", "TLS needs both a certificate and its key"},
  };
  for (const Case& c : cases) {
    CommandResult r = serve(c.cert, c.key);
    EXPECT_NE(r.exit_code, 0) << c.message;
    EXPECT_NE(r.output.find("reel: error: " + c.message), std::string::npos) << r.output;
    EXPECT_EQ(r.output.find("listening"), std::string::npos) << r.output;
  }
}

// The whole life of a TLS server: HTTPS for the API, its event streams and output downloads
// (with ranges), verified by reel's client against the test CA; plain HTTP and old TLS refused;
// a silent client dropped without holding up others; SIGHUP swaps the certificate for new
// connections, keeps the old one when the new files are bad, and never cuts an open stream.
TEST(Tls, ServesHttpsAndReloadsOnSighupWithoutDroppingAStream) {
  TempDir dir, media;
  MakeCa(dir);
  MakeServerCert(dir, "reel-a");
  MakeServerCert(dir, "reel-b");
  const std::string cert = dir / "server.crt", key = dir / "server.key", ca = dir / "ca.crt";
  fs::copy_file(dir / "reel-a.crt", cert);
  fs::copy_file(dir / "reel-a.key", key);
  chmod(key.c_str(), 0644);  // warned about
  fs::copy_file(testing::Clip(320, 240, 1, 30), media / "small.mp4");

  testing::BackgroundCommand srv({"env", "-u", "PORT", "REEL_ADMIN_KEY=" + kAdminKey,
                                  "REEL_TLS_CERT=" + cert, testing::ReelBinary(), "serve",
                                  "--tls-key", key, "--workers", "1", "--data-dir", dir / "var",
                                  "--allow-path", media.path(), "--listen", "127.0.0.1:0"});
  ASSERT_TRUE(WaitForOutput(srv, "(dashboard at /")) << srv.OutputSoFar();
  std::string out = srv.OutputSoFar();
  const std::string marker = "reel: listening on ";
  size_t at = out.find(marker);
  ASSERT_NE(at, std::string::npos) << out;
  const std::string url =
      out.substr(at + marker.size(), out.find(' ', at + marker.size()) - at - marker.size());
  ASSERT_EQ(url.rfind("https://127.0.0.1:", 0), 0u) << url;
  const int port = PortOf(url);
  EXPECT_NE(out.find("TLS certificate: /CN=reel-a, expires"), std::string::npos) << out;
  EXPECT_NE(out.find("the TLS key " + key + " is readable by every user (mode 644)"),
            std::string::npos)
      << out;

  // The CLI client verifies the server against --ca-file (REEL_CA_FILE); the system's CAs do
  // not know the test CA.
  const std::vector<std::string> env = {"REEL_URL=" + url, "REEL_API_KEY=" + kAdminKey};
  std::vector<std::string> with_ca = env;
  with_ca.push_back("REEL_CA_FILE=" + ca);
  CommandResult listed = ReelClient(with_ca, {"jobs"});
  EXPECT_EQ(listed.exit_code, 0) << listed.output;
  CommandResult unverified = ReelClient(env, {"jobs"});
  EXPECT_NE(unverified.exit_code, 0);
  EXPECT_NE(unverified.output.find("certificate verify failed"), std::string::npos)
      << unverified.output;
  EXPECT_EQ(ReelClient(env, {"jobs", "--ca-file", ca}).exit_code, 0);
  EXPECT_EQ(PeerName(port, ca), "reel-a");
  // TLS 1.1 and older are refused, whatever the client offers.
  EXPECT_EQ(PeerName(port, ca, TLS1_1_VERSION).rfind("handshake failed", 0), 0u);

  // Plain HTTP to the HTTPS port is told so, in plain HTTP.
  Result<client::HttpResponse> plain =
      client::Fetch("GET", "http://127.0.0.1:" + std::to_string(port) + "/healthz");
  ASSERT_TRUE(plain.ok()) << plain.status().ToString();
  EXPECT_EQ(plain->status, 400);
  EXPECT_NE(plain->body.find("https_required"), std::string::npos) << plain->body;

  const client::TlsOptions tls{ca};
  const client::Headers auth = {{"Authorization", "Bearer " + kAdminKey}};
  auto call = [&](const std::string& method, const std::string& path, const json& body = nullptr,
                  client::Headers headers = {}) {
    headers.insert(auth.begin(), auth.end());
    Result<client::HttpResponse> r =
        client::Fetch(method, url + path, body.is_null() ? "" : body.dump(), headers, 30, tls);
    EXPECT_TRUE(r.ok()) << method << " " << path << ": " << r.status().ToString();
    return r.ok() ? *r : client::HttpResponse{};
  };

  // A client that connects and says nothing holds up no one, and is dropped after the request
  // deadline (10 s).
  net::io_context ioc;
  tcp::socket quiet(ioc);
  quiet.connect(
      tcp::endpoint(net::ip::make_address("127.0.0.1"), static_cast<unsigned short>(port)));
  auto opened = std::chrono::steady_clock::now();
  EXPECT_EQ(call("GET", "/healthz").status, 200);
  EXPECT_EQ(call("GET", "/").status, 200);  // the dashboard

  // An output file, whole and by range, over TLS.
  json spec = {
      {"source", {{"url", media / "small.mp4"}}},
      {"outputs",
       {{{"kind", "mp4"}, {"preset", "h264-360p"}, {"destination", media / "out/small.mp4"}}}}};
  client::HttpResponse submitted = call("POST", "/v1/jobs", spec);
  ASSERT_EQ(submitted.status, 202) << submitted.body;
  const std::string done_id = json::parse(submitted.body)["id"];

  // While the job runs: the server closes the silent connection when its deadline passes.
  pollfd pfd{quiet.native_handle(), POLLIN, 0};
  ASSERT_EQ(poll(&pfd, 1, 20000), 1) << "the silent connection was not closed";
  char byte;
  EXPECT_EQ(recv(quiet.native_handle(), &byte, 1, 0), 0);
  double held = std::chrono::duration<double>(std::chrono::steady_clock::now() - opened).count();
  EXPECT_GE(held, 9.0);
  EXPECT_LE(held, 20.0);

  for (int i = 0; i < 1200; ++i) {
    json job = json::parse(call("GET", "/v1/jobs/" + done_id).body, nullptr, false);
    if (job.is_object() && job.value("state", "") == "succeeded") break;
    ASSERT_TRUE(job.is_object() && job.value("state", "") != "failed") << job.dump();
    std::this_thread::sleep_for(std::chrono::milliseconds(100));
  }
  std::string file = testing::ReadFile(media / "out/small.mp4");
  ASSERT_GT(file.size(), 1000u);
  client::HttpResponse whole = call("GET", "/v1/jobs/" + done_id + "/outputs/0/small.mp4");
  EXPECT_EQ(whole.status, 200);
  EXPECT_TRUE(whole.body == file) << whole.body.size() << " of " << file.size() << " bytes";
  client::HttpResponse part = call("GET", "/v1/jobs/" + done_id + "/outputs/0/small.mp4", nullptr,
                                   {{"Range", "bytes=100-599"}});
  EXPECT_EQ(part.status, 206);
  EXPECT_TRUE(part.body == file.substr(100, 500)) << part.body.size();

  // An event stream of a job no worker here takes (its tag), opened before the reloads.
  json waiting = spec;
  waiting["tags"] = {"elsewhere"};
  client::HttpResponse queued = call("POST", "/v1/jobs", waiting);
  ASSERT_EQ(queued.status, 202) << queued.body;
  const std::string id = json::parse(queued.body)["id"];
  std::mutex mu;
  std::vector<std::string> states;
  Status streamed;
  std::thread reader([&] {
    Status s = client::StreamEvents(
        url + "/v1/jobs/" + id + "/events", auth,
        [&](const std::string& event, const std::string& data) {
          if (event == "state") {
            std::lock_guard<std::mutex> lock(mu);
            states.push_back(json::parse(data).value("state", ""));
          }
          return true;  // to the end of the stream, which the server closes
        },
        120, tls);
    std::lock_guard<std::mutex> lock(mu);
    streamed = s;
  });
  auto seen = [&](const std::string& state) {
    for (int i = 0; i < 600; ++i) {
      {
        std::lock_guard<std::mutex> lock(mu);
        if (std::find(states.begin(), states.end(), state) != states.end()) return true;
      }
      std::this_thread::sleep_for(std::chrono::milliseconds(50));
    }
    return false;
  };
  ASSERT_TRUE(seen("queued"));

  // A bad certificate at reload is refused and the old one kept.
  size_t before = srv.OutputSoFar().size();
  testing::WriteFile(cert, "-----BEGIN CERTIFICATE-----\nbroken\n-----END CERTIFICATE-----\n");
  srv.Signal(SIGHUP);
  ASSERT_TRUE(WaitForOutput(srv, "TLS reload refused, still serving /CN=reel-a", before))
      << srv.OutputSoFar();
  EXPECT_NE(
      srv.OutputSoFar().find("TLS certificate " + cert + ": not a PEM certificate chain", before),
      std::string::npos);
  EXPECT_EQ(PeerName(port, ca), "reel-a");

  // New files: new connections see the new certificate.
  before = srv.OutputSoFar().size();
  fs::copy_file(dir / "reel-b.crt", cert, fs::copy_options::overwrite_existing);
  fs::copy_file(dir / "reel-b.key", key, fs::copy_options::overwrite_existing);
  chmod(key.c_str(), 0600);
  srv.Signal(SIGHUP);
  ASSERT_TRUE(WaitForOutput(srv, "TLS certificate reloaded: /CN=reel-b", before))
      << srv.OutputSoFar();
  EXPECT_EQ(srv.OutputSoFar().find("readable by every user", before), std::string::npos);
  EXPECT_EQ(PeerName(port, ca), "reel-b");
  EXPECT_EQ(ReelClient(with_ca, {"status", id}).exit_code, 0);

  // The stream opened before both reloads is still there and receives the job's end.
  int canceled = call("POST", "/v1/jobs/" + id + "/cancel").status;
  EXPECT_TRUE(canceled == 200 || canceled == 202) << canceled;
  EXPECT_TRUE(seen("canceled"));
  reader.join();
  EXPECT_TRUE(streamed.ok()) << streamed.ToString();  // ended by the server, with close_notify

  srv.Signal(SIGTERM);
  EXPECT_EQ(srv.Wait().exit_code, 0);
}

}  // namespace
}  // namespace reel
