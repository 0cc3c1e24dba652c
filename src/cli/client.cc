// `reel submit | jobs | status | cancel | retry | delete`: a small client of the HTTP API.
#include <unistd.h>

#include <cctype>
#include <cstdio>
#include <cstdlib>
#include <fstream>
#include <iostream>
#include <sstream>

#include <nlohmann/json.hpp>

#include "cli/commands.h"
#include "client/http_client.h"
#include "common/log.h"

namespace reel::cli {
namespace {

using nlohmann::json;

std::string BaseUrl() {
  const char* u = std::getenv("REEL_URL");
  std::string url = u && *u ? u : "http://127.0.0.1:8080";
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

client::Headers AuthHeaders() {
  const char* k = std::getenv("REEL_API_KEY");
  if (!k || !*k) return {};
  return {{"Authorization", std::string("Bearer ") + k}};
}

// Prints the API's error body as one line and returns 1.
int ApiError(const client::HttpResponse& r) {
  json body = json::parse(r.body, nullptr, false);
  std::string message = r.body;
  if (body.is_object() && body.contains("error")) {
    message = body["error"].value("message", "");
    if (body["error"].contains("field"))
      message = body["error"]["field"].get<std::string>() + ": " + message;
  }
  return Fail("HTTP " + std::to_string(r.status) + ": " + message);
}

void PrintProgress(const json& job) {
  double fraction = job.contains("progress") ? job["progress"].value("fraction", 0.0) : 0.0;
  double speed = job.contains("progress") ? job["progress"].value("speed", 0.0) : 0.0;
  std::fprintf(stderr, "\r%s %-9s %5.1f%%  %5.2fx ", job.value("id", "").c_str(),
               job.value("state", "").c_str(), fraction * 100, speed);
  std::fflush(stderr);
}

// Follows a job's event stream until it finishes; returns 0 if it succeeded.
int Follow(const std::string& id, const client::TlsOptions& tls) {
  json last;
  Status s = client::StreamEvents(
      BaseUrl() + "/v1/jobs/" + id + "/events", AuthHeaders(),
      [&](const std::string& event, const std::string& data) {
        json d = json::parse(data, nullptr, false);
        if (d.is_discarded()) return true;
        if (event == "state") {
          last = d;
          PrintProgress(d);
        } else if (event == "progress" && d.contains("progress")) {
          json view = last;
          view["progress"] = d["progress"];
          PrintProgress(view);
        }
        return true;
      },
      3600, tls);
  std::fprintf(stderr, "\n");
  if (!s.ok()) return Fail(s.message());
  std::cout << last.dump(2) << std::endl;
  return last.value("state", "") == "succeeded" ? 0 : 1;
}

}  // namespace

int RunClient(const ClientArgs& args) {
  std::string base = BaseUrl();
  client::Headers headers = AuthHeaders();
  if (headers.empty()) return Fail("set REEL_API_KEY (see `reel keys create`)");
  const client::TlsOptions tls{args.ca_file};
  Result<client::HttpResponse> r = InvalidArgument("unknown command");
  if (args.action == "submit") {
    std::ifstream in(args.target);
    if (!in) return Fail(args.target + ": cannot open");
    std::stringstream body;
    body << in.rdbuf();
    r = client::Fetch("POST", base + "/v1/jobs", body.str(), headers, 30, tls);
    if (r.ok() && (r->status == 202 || r->status == 200) && args.wait) {
      json job = json::parse(r->body, nullptr, false);
      return Follow(job.value("id", ""), tls);
    }
  } else if (args.action == "jobs") {
    std::string url = base + "/v1/jobs?limit=" + std::to_string(args.limit);
    if (!args.state.empty()) url += "&state=" + args.state;
    r = client::Fetch("GET", url, "", headers, 30, tls);
    if (r.ok() && r->status == 200) {
      json page = json::parse(r->body);
      for (const json& j : page["jobs"])
        std::printf("%-28s %-10s %5.1f%%  %s\n", j["id"].get<std::string>().c_str(),
                    j["state"].get<std::string>().c_str(),
                    j["progress"].value("fraction", 0.0) * 100, j.value("error", "").c_str());
      return 0;
    }
  } else if (args.action == "status") {
    if (args.wait) return Follow(args.target, tls);
    r = client::Fetch("GET", base + "/v1/jobs/" + args.target, "", headers, 30, tls);
  } else if (args.action == "cancel" || args.action == "retry") {
    r = client::Fetch("POST", base + "/v1/jobs/" + args.target + "/" + args.action, "", headers, 30,
                      tls);
  } else if (args.action == "delete") {
    r = client::Fetch("DELETE", base + "/v1/jobs/" + args.target, "", headers, 30, tls);
    if (r.ok() && r->status == 204) return 0;
  } else if (args.action == "logs") {
    std::string url = base + "/v1/jobs/" + args.target + "/log";
    std::string query;
    if (!args.task.empty()) {
      // Sent escaped, whatever was typed: the server says what a task name is.
      query += "task=";
      for (unsigned char c : args.task) {
        char hex[4];
        std::snprintf(hex, sizeof(hex), "%%%02X", c);
        query += std::isalnum(c) || c == '-' ? std::string(1, char(c)) : std::string(hex);
      }
    }
    if (args.attempt > 0)
      query += (query.empty() ? "" : "&") + std::string("attempt=") + std::to_string(args.attempt);
    if (!query.empty()) url += "?" + query;
    r = client::Fetch("GET", url, "", headers);
    if (r.ok() && r->status == 200) {
      // As the server's text log writes them: escaped, so the terminal shows what was sent.
      json body = json::parse(r->body, nullptr, false);
      if (!body.is_object() || !body["lines"].is_array()) return Fail("not a log: " + r->body);
      for (const json& line : body["lines"])
        if (std::optional<log::Record> record = log::FromJson(line))
          std::cout << log::FormatLine(log::Format::kText, *record) << "\n";
      return 0;
    }
  }
  if (!r.ok()) return Fail(r.status().message());
  if (r->status >= 400) return ApiError(*r);
  json body = json::parse(r->body, nullptr, false);
  std::cout << (body.is_discarded() ? r->body : body.dump(2)) << std::endl;
  return 0;
}

}  // namespace reel::cli
