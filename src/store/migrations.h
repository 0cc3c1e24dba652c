// Schema migrations: one numbered list, each step with its SQLite and its PostgreSQL text, so a
// version means the same schema on both. Applied steps are recorded one row each in
// reel_migrations. Databases from before this list (whose count in schema_version meant
// different steps on each database) are recognised and renumbered on first open.
#pragma once

#include "common/status.h"
#include "store/sql_driver.h"

namespace reel::store {

struct Migration {
  int version;
  const char* sqlite;
  const char* postgres;  // "" where the step was already part of an earlier one
};

// Every step, in order; the last one's version is the schema this reel writes.
const std::vector<Migration>& Migrations();

// Brings the database to the latest version, in one transaction, while other processes wait.
// A database newer than this reel is kFailedPrecondition.
Status Migrate(SqlDriver& db);

}  // namespace reel::store
