// What the store tests share: a raw connection to the database under the store, and the fixture
// that runs each test on both drivers.
#pragma once

#include <gtest/gtest.h>
#include <libpq-fe.h>
#include <sqlite3.h>

#include <chrono>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <thread>

#include <nlohmann/json.hpp>

#include "store/job_store.h"
#include "testing/media_fixtures.h"
#include "testing/postgres_server.h"

namespace reel::store {

// A second, raw connection to the store's database, as another process would have: for races
// and for faults injected with triggers, without the store's own code in the way.
class RawConnection {
 public:
  explicit RawConnection(const std::string& location) : pg_(location.rfind("postgres", 0) == 0) {
    if (pg_)
      conn_ = PQconnectdb(location.c_str());
    else
      sqlite3_open(location.c_str(), &db_);
  }
  ~RawConnection() {
    if (conn_) PQfinish(conn_);
    if (db_) sqlite3_close(db_);
  }
  bool postgres() const { return pg_; }
  // Runs `sql` (several statements allowed); the error text, or "" on success.
  std::string Exec(const std::string& sql) {
    if (pg_) {
      PGresult* r = PQexec(conn_, sql.c_str());
      std::string err =
          PQresultStatus(r) == PGRES_COMMAND_OK || PQresultStatus(r) == PGRES_TUPLES_OK
              ? ""
              : PQresultErrorMessage(r);
      PQclear(r);
      return err;
    }
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return "";
    std::string message = err ? err : "error";
    sqlite3_free(err);
    return message;
  }
  // The write lock a transaction takes at once on SQLite and on its first write on PostgreSQL.
  std::string Begin() { return Exec(pg_ ? "BEGIN" : "BEGIN IMMEDIATE"); }
  // The first column of the first row, as text ("" for none).
  std::string Value(const std::string& sql) {
    std::string value;
    if (pg_) {
      PGresult* r = PQexec(conn_, sql.c_str());
      if (PQresultStatus(r) == PGRES_TUPLES_OK && PQntuples(r) > 0) value = PQgetvalue(r, 0, 0);
      PQclear(r);
      return value;
    }
    sqlite3_stmt* stmt = nullptr;
    sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr);
    if (stmt && sqlite3_step(stmt) == SQLITE_ROW && sqlite3_column_text(stmt, 0))
      value = reinterpret_cast<const char*>(sqlite3_column_text(stmt, 0));
    sqlite3_finalize(stmt);
    return value;
  }

 private:
  bool pg_;
  PGconn* conn_ = nullptr;
  sqlite3* db_ = nullptr;
};

// The store queues the webhook it is given for a job's event; the format is notify's (tested
// there). This one says which event, the state after the change and the job's metadata.
inline std::optional<OutgoingWebhook> ComposeForTest(const Job& job, const std::string& event) {
  if (!job.spec.contains("webhook")) return std::nullopt;
  nlohmann::json payload = {{"event", event},
                            {"job",
                             {{"state", StateName(job.state)},
                              {"metadata", job.spec.value("metadata", nlohmann::json::object())}}}};
  return OutgoingWebhook{job.spec["webhook"]["url"].get<std::string>(), payload.dump()};
}
// Every test runs on both stores: SQLite, and a real PostgreSQL started by the test.
class StoreTest : public ::testing::TestWithParam<std::string> {
 protected:
  void SetUp() override {
    location_ = GetParam() == "sqlite" ? dir_ / "reel.db"
                                       : testing::PostgresServer::Instance().NewDatabase();
    ASSERT_FALSE(location_.empty());
    Result<std::unique_ptr<JobStore>> s = OpenStore(location_);
    ASSERT_TRUE(s.ok()) << s.status().ToString();
    store_ = std::move(s).value();
    store_->SetWebhookComposer(ComposeForTest);
  }
  Job Create(const std::string& owner = "key_a", int max_attempts = 3) {
    bool existed = false;
    Result<Job> j = store_->CreateJob(
        {owner, nlohmann::json{{"n", counter_++}}, max_attempts, "", "", 0, {}}, &existed);
    EXPECT_TRUE(j.ok()) << j.status().ToString();
    return *j;
  }
  // Runs `call` while another connection holds the uncommitted `update`, committed 300 ms in:
  // `call` must wait for it or see through it, not act on what was there before.
  void WhileAnotherWriterCommits(const std::string& update, const std::function<void()>& call) {
    RawConnection raw(location_);
    ASSERT_EQ(raw.Begin(), "");
    ASSERT_EQ(raw.Exec(update), "");
    std::thread racer(call);
    std::this_thread::sleep_for(std::chrono::milliseconds(300));
    EXPECT_EQ(raw.Exec("COMMIT"), "");
    racer.join();
  }
  Job Lease(const std::string& worker = "w1", double seconds = 30) {
    Result<std::optional<Job>> j = store_->Lease(worker, "host1", seconds);
    EXPECT_TRUE(j.ok() && j->has_value());
    return j.ok() && j->has_value() ? **j : Job{};
  }

  testing::TempDir dir_;
  std::string location_;
  std::unique_ptr<JobStore> store_;
  int counter_ = 0;
};

}  // namespace reel::store
