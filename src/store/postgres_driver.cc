// The PostgreSQL driver, for workers on many hosts sharing one queue. Picks take rows with
// FOR UPDATE SKIP LOCKED, so concurrent workers never block each other or take the same job; a
// NOTIFY on every queued job wakes idle workers (LISTEN on a connection of their own) at once.
// The connection is re-made with backoff when it drops.
#include <libpq-fe.h>
#include <sys/select.h>

#include <chrono>
#include <cstdio>
#include <cstdlib>
#include <mutex>
#include <thread>

#include "store/sql_driver.h"

namespace reel::store {
namespace {

constexpr Oid kBoolOid = 16;
constexpr int64_t kMigrationLock = 1919247724;

// `?` placeholders as $1, $2, ... (outside quoted text).
std::string Numbered(const std::string& sql) {
  std::string out;
  int n = 0;
  bool quoted = false;
  for (char c : sql) {
    if (c == '\'') quoted = !quoted;
    if (c == '?' && !quoted) {
      out += '$';  // appended: GCC 12 misreports "$" + str (-Wrestrict)
      out += std::to_string(++n);
    } else {
      out += c;
    }
  }
  return out;
}

std::string ParamText(const SqlValue& v) {
  switch (v.kind) {
    case SqlValue::Kind::kBool:
      return v.integer ? "true" : "false";
    case SqlValue::Kind::kInt:
      return std::to_string(v.integer);
    case SqlValue::Kind::kReal: {
      char buf[64];
      std::snprintf(buf, sizeof(buf), "%.17g", v.real);
      return buf;
    }
    default:
      return v.text;
  }
}

class PostgresDriver : public SqlDriver {
 public:
  explicit PostgresDriver(std::string url) : url_(std::move(url)) {}
  ~PostgresDriver() override {
    if (conn_) PQfinish(conn_);
    if (listen_) PQfinish(listen_);
  }

  using SqlDriver::Exec;
  SqlDialect dialect() const override { return SqlDialect::kPostgres; }

  Status Connect(int attempts = 6) {
    // A lost connection is re-made with backoff (about 15 s in all) before giving up.
    for (int attempt = 0; attempt < attempts; ++attempt) {
      if (conn_) PQfinish(conn_);
      conn_ = PQconnectdb(url_.c_str());
      if (PQstatus(conn_) == CONNECTION_OK) {
        PQclear(PQexec(conn_, "SET client_min_messages = warning"));
        return Status::Ok();
      }
      if (attempt + 1 < attempts)
        std::this_thread::sleep_for(std::chrono::milliseconds(250 << attempt));
    }
    // libpq's message runs over lines ("...: Connection refused\n\tIs the server running..."):
    // one line, for one log line per attempt.
    std::string why;
    for (char c : std::string(PQerrorMessage(conn_))) {
      if (c == '\n' || c == '\t') c = ' ';
      if (c != ' ' || (!why.empty() && why.back() != ' ')) why += c;
    }
    while (!why.empty() && why.back() == ' ') why.pop_back();
    return Unavailable("postgres: cannot connect: " + why);
  }

  Result<SqlRows> Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    std::string numbered = Numbered(sql);
    std::vector<std::string> texts;
    for (const SqlValue& p : params) texts.push_back(ParamText(p));
    std::vector<const char*> values;
    for (size_t i = 0; i < params.size(); ++i)
      values.push_back(params[i].kind == SqlValue::Kind::kNull ? nullptr : texts[i].c_str());
    for (int round = 0; round < 2; ++round) {
      PGresult* r = PQexecParams(conn_, numbered.c_str(), static_cast<int>(values.size()), nullptr,
                                 values.data(), nullptr, nullptr, 0);
      ExecStatusType st = PQresultStatus(r);
      if (st == PGRES_COMMAND_OK || st == PGRES_TUPLES_OK) return Read(r);
      std::string message = PQresultErrorMessage(r);
      PQclear(r);
      // The connection dropped: reconnect once. Only a BEGIN is run again; inside a transaction
      // its work is gone with the connection (the caller's transaction fails and is retried
      // whole), a ROLLBACK has nothing left to undo, and a COMMIT run again on the new
      // connection would answer OK for work that may be lost.
      if (PQstatus(conn_) != CONNECTION_OK && round == 0) {
        REEL_RETURN_IF_ERROR(Connect());
        if (sql == "ROLLBACK") return Status::Ok();
        if (sql != "BEGIN")
          return Unavailable("postgres: connection lost and re-made; retry: " + message);
        continue;
      }
      return Failed(message);
    }
    return Unavailable("postgres: connection lost");
  }

  Status ExecScript(const std::string& sql) override {
    PGresult* r = PQexec(conn_, sql.c_str());
    bool ok = PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK;
    std::string message = PQresultErrorMessage(r);
    PQclear(r);
    return ok ? Status::Ok() : Failed(message);
  }

  const char* BeginSql() const override { return "BEGIN"; }
  const char* ForUpdate() const override { return " FOR UPDATE"; }
  const char* SkipLocked() const override { return " FOR UPDATE SKIP LOCKED"; }
  std::string TagsWithin(const std::string& column) const override {
    return column + "::jsonb <@ ?::jsonb";
  }
  std::string JsonAppend(const std::string& column) const override {
    return "(" + column + "::jsonb || jsonb_build_array(?::jsonb))::text";
  }

  // Several processes may start at once: one migrates, the others wait for it.
  Status LockMigrations() override {
    return Exec("SELECT pg_advisory_lock(?)", {kMigrationLock}).status();
  }
  void UnlockMigrations() override { Exec("SELECT pg_advisory_unlock(?)", {kMigrationLock}); }
  // Delivered at commit, so a woken worker finds the job.
  Status NotifyWork() override { return Exec("NOTIFY reel_jobs").status(); }

  // LISTEN on a connection of its own; select() on its socket until a NOTIFY or the timeout.
  bool WaitForWork(double seconds) override {
    // bench/scale.sh measures what LISTEN/NOTIFY saves by turning it off.
    static const bool polling_only = std::getenv("REEL_BENCH_NO_LISTEN") != nullptr;
    if (polling_only) return SqlDriver::WaitForWork(seconds);
    std::lock_guard lock(listen_mu_);
    if (!listen_ || PQstatus(listen_) != CONNECTION_OK) {
      if (listen_) PQfinish(listen_);
      listen_ = PQconnectdb(url_.c_str());
      if (PQstatus(listen_) != CONNECTION_OK) return SqlDriver::WaitForWork(seconds);
      PQclear(PQexec(listen_, "LISTEN reel_jobs"));
    }
    int fd = PQsocket(listen_);
    fd_set set;
    FD_ZERO(&set);
    FD_SET(fd, &set);
    timeval tv{static_cast<time_t>(seconds),
               static_cast<suseconds_t>((seconds - static_cast<int>(seconds)) * 1e6)};
    if (select(fd + 1, &set, nullptr, nullptr, &tv) <= 0) return false;
    PQconsumeInput(listen_);
    bool notified = false;
    while (PGnotify* n = PQnotifies(listen_)) {
      notified = true;
      PQfreemem(n);
    }
    return notified;
  }

 private:
  static SqlRows Read(PGresult* r) {
    SqlRows out;
    int rows = PQntuples(r), cols = PQnfields(r);
    for (int i = 0; i < rows; ++i) {
      std::vector<SqlCell>& row = out.rows.emplace_back(cols);
      for (int c = 0; c < cols; ++c) {
        if (PQgetisnull(r, i, c)) continue;
        std::string text = PQgetvalue(r, i, c);
        int64_t integer =
            PQftype(r, c) == kBoolOid ? (text == "t") : std::strtoll(text.c_str(), nullptr, 10);
        row[c] = {false, text, integer, std::strtod(text.c_str(), nullptr)};
      }
    }
    const char* changed = PQcmdTuples(r);
    out.changed = changed && *changed ? std::atoll(changed) : 0;
    PQclear(r);
    return out;
  }

  // A broken connection is the environment failing (retry); anything else is a bug.
  Status Failed(std::string message) const {
    while (!message.empty() && message.back() == '\n') message.pop_back();
    StatusCode code =
        PQstatus(conn_) == CONNECTION_OK ? StatusCode::kInternal : StatusCode::kUnavailable;
    return Status(code, "postgres: " + message);
  }

  std::string url_;
  PGconn* conn_ = nullptr;
  std::mutex listen_mu_;
  PGconn* listen_ = nullptr;
};

}  // namespace

Result<std::unique_ptr<SqlDriver>> OpenPostgresDriver(const std::string& url,
                                                      int connect_attempts) {
  auto driver = std::make_unique<PostgresDriver>(url);
  REEL_RETURN_IF_ERROR(driver->Connect(connect_attempts));
  return std::unique_ptr<SqlDriver>(std::move(driver));
}

}  // namespace reel::store
