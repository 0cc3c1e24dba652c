#include "api/service_test_support.h"

#include <mutex>
#include <regex>
#include <sstream>
#include <thread>

#include <boost/asio.hpp>
#include <boost/beast.hpp>

#include "common/crypto.h"

namespace reel {

namespace fs = std::filesystem;
using nlohmann::json;

Server::Server(const std::string& data_dir, const std::string& media_dir,
               std::vector<std::string> extra, std::vector<std::string> prefix) {
  std::vector<std::string> argv = {
      testing::ReelBinary(), "serve",        "--data-dir", data_dir, "--listen",
      "127.0.0.1:0",         "--allow-path", media_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  argv.insert(argv.begin(), prefix.begin(), prefix.end());
  cmd_ = std::make_unique<testing::BackgroundCommand>(argv);
  std::regex re("listening on http://127\\.0\\.0\\.1:(\\d+)");
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(20);
  std::smatch m;
  std::string out;
  while (std::chrono::steady_clock::now() < deadline) {
    out = cmd_->OutputSoFar();
    if (std::regex_search(out, m, re)) break;
    if (!cmd_->Running()) break;
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  }
  if (!std::regex_search(out, m, re)) {
    ADD_FAILURE() << "server did not start: " << out;
    return;
  }
  url_ = "http://127.0.0.1:" + m[1].str();
  admin_key_ = ReadTrimmed(data_dir + "/admin.key");
}

ApiReply Server::Call(const std::string& method, const std::string& path, const std::string& key,
                      const std::string& body, client::Headers headers) {
  if (!key.empty()) headers["Authorization"] = "Bearer " + key;
  Result<client::HttpResponse> r = client::Fetch(method, url_ + path, body, headers, 30);
  if (!r.ok()) {
    ADD_FAILURE() << method << " " << path << ": " << r.status().ToString();
    return {};
  }
  ApiReply a{r->status, json::parse(r->body, nullptr, false)};
  if (a.body.is_discarded()) a.body = r->body;
  return a;
}

json Server::WaitFor(const std::string& id, const std::function<bool(const json&)>& done,
                     double seconds) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::duration<double>(seconds);
  json job;
  while (std::chrono::steady_clock::now() < deadline) {
    job = Get("/v1/jobs/" + id).body;
    if (done(job)) return job;
    std::this_thread::sleep_for(std::chrono::milliseconds(50));
  }
  ADD_FAILURE() << "timed out waiting on " << id << ": " << job.dump();
  return job;
}

json Server::WaitForState(const std::string& id, const std::string& state, double seconds) {
  return WaitFor(
      id, [&](const json& j) { return j.value("state", "") == state; }, seconds);
}

json Server::WaitFinished(const std::string& id, double seconds) {
  return WaitFor(
      id,
      [](const json& j) {
        std::string s = j.value("state", "");
        return s == "succeeded" || s == "failed" || s == "canceled";
      },
      seconds);
}

std::string Server::CreateKey(const std::string& data_dir, const std::string& name,
                              const std::vector<std::string>& extra) {
  std::vector<std::string> argv = {testing::ReelBinary(), "keys",  "create", "--name", name,
                                   "--data-dir",          data_dir};
  argv.insert(argv.end(), extra.begin(), extra.end());
  testing::CommandResult r = testing::RunCommand(argv);
  EXPECT_EQ(r.exit_code, 0) << r.output;
  std::string key = r.stdout_text;
  while (!key.empty() && key.back() == '\n') key.pop_back();
  return key;
}

void ServiceTest::SetUp() {
  setenv("REEL_TEST_HOOKS", "1", 1);
  fs::copy_file(testing::Clip(320, 240, 2, 30), media_ / "small.mp4");
}

json ServiceTest::HlsJob(const std::string& source, const std::string& dest, json metadata) {
  json spec = {{"source", {{"url", media_ / source}}},
               {"outputs",
                {{{"kind", "hls"}, {"destination", media_ / (dest + "/hls/")}},
                 {{"kind", "mp4"},
                  {"preset", "h264-360p"},
                  {"destination", media_ / (dest + "/small.mp4")}}}}};
  if (!metadata.is_null()) spec["metadata"] = metadata;
  return spec;
}

void ServiceTest::AddLongSource() {
  fs::copy_file(testing::Clip(1280, 720, 13, 30), media_ / "long.mp4");
}

std::vector<std::string> ServiceTest::Leftovers(const std::string& dir) {
  std::vector<std::string> names;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator(media_ / dir, ec))
    names.push_back(e.path().filename().string());
  return names;
}

struct Receiver::Impl {
  explicit Impl(int fail_first) : fail_first(fail_first), acceptor(ioc) {}

  void Accept() {
    acceptor.async_accept([this](boost::system::error_code ec, boost::asio::ip::tcp::socket sock) {
      if (ec) return;
      Answer(sock);
      Accept();
    });
  }

  void Answer(boost::asio::ip::tcp::socket& sock) {
    namespace http = boost::beast::http;
    boost::system::error_code ec;
    boost::beast::flat_buffer buffer;
    http::request<http::string_body> req;
    http::read(sock, buffer, req, ec);
    if (ec) return;
    Request r;
    r.method = std::string(req.method_string());
    r.target = std::string(req.target());
    for (const auto& f : req) r.headers[std::string(f.name_string())] = std::string(f.value());
    r.body = req.body();
    r.at = std::chrono::steady_clock::now();
    http::response<http::string_body> res{http::status::ok, 11};
    res.body() = "ok";
    {
      std::lock_guard lock(mu);
      if (r.method == "GET") {
        if (redirects.count(r.target)) {
          res.result(http::status::found);
          res.set(http::field::location, redirects[r.target]);
        } else if (files.count(r.target)) {
          res.body() = files[r.target];
        } else {
          res.result(http::status::not_found);
        }
      } else {
        stored[r.target] = r.body;
        if (static_cast<int>(requests.size()) < fail_first)
          res.result(http::status::internal_server_error);
      }
      requests.push_back(std::move(r));
    }
    res.prepare_payload();
    http::write(sock, res, ec);
  }

  int fail_first;
  boost::asio::io_context ioc;
  boost::asio::ip::tcp::acceptor acceptor;
  int port = 0;
  std::thread thread;
  std::mutex mu;
  std::vector<Request> requests;
  std::map<std::string, std::string> files, redirects, stored;
};

Receiver::Receiver(int fail_first) : impl_(std::make_unique<Impl>(fail_first)) {
  namespace net = boost::asio;
  net::ip::tcp::endpoint ep(net::ip::make_address("127.0.0.1"), 0);
  impl_->acceptor.open(ep.protocol());
  impl_->acceptor.bind(ep);
  impl_->acceptor.listen();
  impl_->port = impl_->acceptor.local_endpoint().port();
  impl_->Accept();
  impl_->thread = std::thread([this] { impl_->ioc.run(); });
}

Receiver::~Receiver() {
  impl_->ioc.stop();
  impl_->thread.join();
}

void Receiver::Serve(const std::string& path, std::string bytes) {
  std::lock_guard lock(impl_->mu);
  impl_->files[path] = std::move(bytes);
}

void Receiver::Redirect(const std::string& path, const std::string& location) {
  std::lock_guard lock(impl_->mu);
  impl_->redirects[path] = location;
}

std::string Receiver::Stored(const std::string& path) {
  std::lock_guard lock(impl_->mu);
  auto it = impl_->stored.find(path);
  return it == impl_->stored.end() ? "" : it->second;
}

std::string Receiver::Base() const { return "http://127.0.0.1:" + std::to_string(impl_->port); }

std::vector<Receiver::Request> Receiver::requests() {
  std::lock_guard lock(impl_->mu);
  return impl_->requests;
}

std::vector<Receiver::Request> Receiver::WaitFor(size_t n) {
  auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(30);
  while (requests().size() < n && std::chrono::steady_clock::now() < deadline)
    std::this_thread::sleep_for(std::chrono::milliseconds(20));
  return requests();
}

bool SignatureValid(const Receiver::Request& r, const std::string& secret) {
  auto it = r.headers.find("Reel-Signature");
  if (it == r.headers.end()) return false;
  std::smatch m;
  if (!std::regex_match(it->second, m, std::regex("t=(\\d+),v1=([0-9a-f]{64})"))) return false;
  return ConstantTimeEquals(HmacSha256Hex(secret, m[1].str() + "." + r.body), m[2].str());
}

std::vector<int> ChildrenOf(int parent) {
  std::vector<int> children;
  std::error_code ec;
  for (const auto& e : fs::directory_iterator("/proc", ec)) {
    std::string stat = testing::ReadFile(e.path() / "stat");
    size_t close = stat.rfind(')');
    if (close == std::string::npos) continue;
    std::istringstream rest(stat.substr(close + 2));
    std::string state;
    int ppid = 0;
    rest >> state >> ppid;
    if (ppid == parent) children.push_back(std::stoi(e.path().filename().string()));
  }
  return children;
}

std::string ReadTrimmed(const std::string& path) {
  std::string s = testing::ReadFile(path);
  while (!s.empty() && s.back() == '\n') s.pop_back();
  return s;
}

}  // namespace reel
