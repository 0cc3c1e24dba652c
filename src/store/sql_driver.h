// The seam between the job store and a database: a driver runs SQL on one connection and says
// what its dialect spells differently; it decides nothing. Every rule of the queue (states,
// leases, retries, webhooks) lives once in SqlJobStore, which writes its statements with `?`
// placeholders and the few fragments below, as River does with riverdriver. Upserts, RETURNING
// and timestamps (unix seconds from the store's clock) are spelled alike by both databases
// (SQLite 3.35 on), so they need no hook.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <vector>

#include "common/status.h"

namespace reel::store {

// A statement parameter: text, integer, real, boolean or NULL.
struct SqlValue {
  enum class Kind { kNull, kText, kInt, kReal, kBool };
  Kind kind = Kind::kNull;
  std::string text;
  int64_t integer = 0;
  double real = 0;

  SqlValue() = default;
  SqlValue(std::string v) : kind(Kind::kText), text(std::move(v)) {}  // NOLINT: implicit
  SqlValue(const char* v) : kind(Kind::kText), text(v) {}             // NOLINT
  SqlValue(int v) : kind(Kind::kInt), integer(v) {}                   // NOLINT
  SqlValue(int64_t v) : kind(Kind::kInt), integer(v) {}               // NOLINT
  SqlValue(double v) : kind(Kind::kReal), real(v) {}                  // NOLINT
  SqlValue(bool v) : kind(Kind::kBool), integer(v ? 1 : 0) {}         // NOLINT
  // Empty text is stored as NULL (optional columns).
  static SqlValue OrNull(const std::string& v) { return v.empty() ? SqlValue() : SqlValue(v); }
};

// One value of a result, read by the driver into every form the core may ask for.
struct SqlCell {
  bool null = true;
  std::string text;
  int64_t integer = 0;  // booleans are 0 or 1
  double real = 0;
};

// The rows a statement returned, and how many rows it changed.
struct SqlRows {
  std::vector<std::vector<SqlCell>> rows;
  int64_t changed = 0;

  size_t size() const { return rows.size(); }
  bool empty() const { return rows.empty(); }
  const std::string& Text(size_t row, size_t col) const { return rows[row][col].text; }
  int64_t Int(size_t row, size_t col) const { return rows[row][col].integer; }
  double Double(size_t row, size_t col) const { return rows[row][col].real; }
  bool Bool(size_t row, size_t col) const { return rows[row][col].integer != 0; }
};

enum class SqlDialect { kSqlite, kPostgres };

class SqlDriver {
 public:
  virtual ~SqlDriver() = default;

  virtual SqlDialect dialect() const = 0;
  // One statement; its `?` placeholders take `params` in order.
  virtual Result<SqlRows> Exec(const std::string& sql, const std::vector<SqlValue>& params) = 0;
  Result<SqlRows> Exec(const std::string& sql) { return Exec(sql, {}); }
  // Several statements without parameters: a migration step.
  virtual Status ExecScript(const std::string& sql) = 0;

  // Dialect hooks: the fragments the core splices into its statements.
  // Opens a transaction that may write (SQLite takes the single writer's lock at once).
  virtual const char* BeginSql() const = 0;
  // Appended to a SELECT whose rows the transaction will change: row locks where there are any.
  virtual const char* ForUpdate() const = 0;
  // Appended to a pick (lease, expiry, webhook claim): rows another transaction holds are passed
  // over instead of waited for. Empty where one writer at a time makes it moot.
  virtual const char* SkipLocked() const = 0;
  // True when every element of the JSON array in `column` is in the JSON array bound to its `?`.
  virtual std::string TagsWithin(const std::string& column) const = 0;
  // `column` (a JSON array as text) with the JSON value bound to its `?` appended.
  virtual std::string JsonAppend(const std::string& column) const = 0;

  // Keeps other processes out while migrations run, beyond the migration's own transaction.
  virtual Status LockMigrations() { return Status::Ok(); }
  virtual void UnlockMigrations() {}
  // Inside the transaction that queues a job: wakes workers waiting elsewhere (PostgreSQL NOTIFY).
  virtual Status NotifyWork() { return Status::Ok(); }
  // Whether a write would find room. SQLite answers reads on a full disk and fails only the
  // writes, so it checks the free space where its file lives; PostgreSQL's server is judged by
  // its own answers.
  virtual Status CanWrite() { return Status::Ok(); }
  // See JobStore::WaitForWork; the default sleeps.
  virtual bool WaitForWork(double seconds);
};

// A transaction on a driver, rolled back unless committed.
class SqlTransaction {
 public:
  explicit SqlTransaction(SqlDriver& db) : db_(db) { status_ = db_.Exec(db_.BeginSql()).status(); }
  ~SqlTransaction() {
    if (status_.ok() && !done_) db_.Exec("ROLLBACK");
  }
  SqlTransaction(const SqlTransaction&) = delete;
  SqlTransaction& operator=(const SqlTransaction&) = delete;
  const Status& status() const { return status_; }
  Status Commit() {
    done_ = true;
    return db_.Exec("COMMIT").status();
  }

 private:
  SqlDriver& db_;
  Status status_;
  bool done_ = false;
};

// Connections, for the store and for tests that wrap a driver of their own.
Result<std::unique_ptr<SqlDriver>> OpenSqliteDriver(const std::string& path);
// `connect_attempts`: tries with backoff (6: about 15 s) before the first connection gives up.
Result<std::unique_ptr<SqlDriver>> OpenPostgresDriver(const std::string& url,
                                                      int connect_attempts = 6);

}  // namespace reel::store
