// The SQLite driver: one file under the data directory, WAL mode, one connection (the store
// serialises its use). SQLite has one writer at a time, so a write transaction takes the lock at
// BEGIN IMMEDIATE and needs no row locks; tags are matched with json_each.
#include <sqlite3.h>
#include <sys/statvfs.h>

#include <filesystem>

#include "store/sql_driver.h"

namespace reel::store {
namespace {

class SqliteDriver : public SqlDriver {
 public:
  SqliteDriver(sqlite3* db, std::string path) : db_(db), path_(std::move(path)) {}
  ~SqliteDriver() override { sqlite3_close(db_); }

  Status Init() {
    sqlite3_busy_timeout(db_, 5000);
    for (const char* pragma :
         {"PRAGMA journal_mode=WAL", "PRAGMA synchronous=NORMAL", "PRAGMA foreign_keys=ON"})
      REEL_RETURN_IF_ERROR(ExecScript(pragma));
    return Status::Ok();
  }

  SqlDialect dialect() const override { return SqlDialect::kSqlite; }

  Result<SqlRows> Exec(const std::string& sql, const std::vector<SqlValue>& params) override {
    sqlite3_stmt* stmt = nullptr;
    if (sqlite3_prepare_v2(db_, sql.c_str(), -1, &stmt, nullptr) != SQLITE_OK)
      return Error("prepare");
    for (size_t i = 0; i < params.size(); ++i) Bind(stmt, static_cast<int>(i) + 1, params[i]);
    SqlRows out;
    int rc;
    while ((rc = sqlite3_step(stmt)) == SQLITE_ROW) {
      std::vector<SqlCell>& row = out.rows.emplace_back(sqlite3_column_count(stmt));
      for (int c = 0; c < static_cast<int>(row.size()); ++c) {
        if (sqlite3_column_type(stmt, c) == SQLITE_NULL) continue;
        const unsigned char* text = sqlite3_column_text(stmt, c);
        row[c] = {false, text ? reinterpret_cast<const char*>(text) : "",
                  sqlite3_column_int64(stmt, c), sqlite3_column_double(stmt, c)};
      }
    }
    bool writes = !sqlite3_stmt_readonly(stmt);
    sqlite3_finalize(stmt);
    if (rc != SQLITE_DONE) return Error("step");
    if (writes) out.changed = sqlite3_changes(db_);
    return out;
  }

  Status ExecScript(const std::string& sql) override {
    char* err = nullptr;
    if (sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err) == SQLITE_OK) return Status::Ok();
    sqlite3_free(err);
    return Error("exec");
  }

  // Less than this free and the store is taken to be full: a submission (up to 16 MiB of JSON)
  // and the WAL's growth need room, and a disk this full fails them with SQLITE_FULL anyway.
  static constexpr uint64_t kMinFreeBytes = 1 << 20;

  Status CanWrite() override {
    std::filesystem::path dir = std::filesystem::path(path_).parent_path();
    struct statvfs fs {};
    if (statvfs(dir.empty() ? "." : dir.c_str(), &fs) != 0) return Status::Ok();
    uint64_t free_bytes = static_cast<uint64_t>(fs.f_bavail) * fs.f_frsize;
    if (free_bytes >= kMinFreeBytes && fs.f_favail != 0) return Status::Ok();
    return Unavailable("the job store cannot write: the disk holding " + path_ + " is full (" +
                       std::to_string(free_bytes / 1024) + " KiB free)");
  }

  const char* BeginSql() const override { return "BEGIN IMMEDIATE"; }
  const char* ForUpdate() const override { return ""; }
  const char* SkipLocked() const override { return ""; }
  std::string TagsWithin(const std::string& column) const override {
    return "NOT EXISTS (SELECT 1 FROM json_each(" + column +
           ") AS t WHERE t.value NOT IN (SELECT value FROM json_each(?)))";
  }
  std::string JsonAppend(const std::string& column) const override {
    return "json_insert(" + column + ", '$[#]', json(?))";
  }

 private:
  static void Bind(sqlite3_stmt* stmt, int i, const SqlValue& v) {
    switch (v.kind) {
      case SqlValue::Kind::kNull:
        sqlite3_bind_null(stmt, i);
        break;
      case SqlValue::Kind::kText:
        sqlite3_bind_text(stmt, i, v.text.data(), static_cast<int>(v.text.size()),
                          SQLITE_TRANSIENT);
        break;
      case SqlValue::Kind::kInt:
      case SqlValue::Kind::kBool:
        sqlite3_bind_int64(stmt, i, v.integer);
        break;
      case SqlValue::Kind::kReal:
        sqlite3_bind_double(stmt, i, v.real);
        break;
    }
  }

  // Busy, locked and I/O errors are the environment (retry); the rest are bugs.
  Status Error(const char* what) const {
    int code = sqlite3_errcode(db_);
    StatusCode sc = (code == SQLITE_BUSY || code == SQLITE_LOCKED || code == SQLITE_IOERR ||
                     code == SQLITE_FULL || code == SQLITE_CANTOPEN)
                        ? StatusCode::kUnavailable
                        : StatusCode::kInternal;
    if (code == SQLITE_FULL)  // says what to do about it, not only what SQLite saw
      return Unavailable("the job store cannot write: the disk holding " + path_ +
                         " is full; nothing was changed, try again once it has room (sqlite " +
                         what + ": " + sqlite3_errmsg(db_) + ")");
    return Status(sc, std::string("sqlite ") + what + ": " + sqlite3_errmsg(db_) + " (" +
                          std::to_string(code) + ")");
  }

  sqlite3* db_;
  std::string path_;
};

}  // namespace

Result<std::unique_ptr<SqlDriver>> OpenSqliteDriver(const std::string& path) {
  sqlite3* db = nullptr;
  int rc =
      sqlite3_open_v2(path.c_str(), &db,
                      SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE | SQLITE_OPEN_FULLMUTEX, nullptr);
  if (rc != SQLITE_OK) {
    std::string msg = db ? sqlite3_errmsg(db) : "out of memory";
    sqlite3_close(db);
    return Unavailable("cannot open store " + path + ": " + msg);
  }
  auto driver = std::make_unique<SqliteDriver>(db, path);
  Status s = driver->Init();
  if (!s.ok()) return s.WithContext("store " + path);
  return std::unique_ptr<SqlDriver>(std::move(driver));
}

}  // namespace reel::store
