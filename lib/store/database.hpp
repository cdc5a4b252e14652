// Opening the database: pragmas, migrations, figures and online backup.
#pragma once

#include <cstdint>
#include <filesystem>
#include <string>

#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::store {

// WAL, foreign keys, the synchronous mode ("full" or "normal").
void configure_writer(Db& db, std::string_view synchronous);
void configure_reader(Db& db);

// Applies every migration newer than the database's user_version, each in its own transaction.
// Refuses a database made by a newer tourbus. Returns the resulting schema version.
Result<int> migrate(Db& db);
int schema_version(Db& db);

struct Figures {
  int schema_version = 0;
  std::int64_t db_bytes = 0;
  std::int64_t wal_bytes = 0;
  std::int64_t users = 0;
  std::int64_t tokens = 0;
  std::int64_t tours = 0;
};
Figures figures(Db& db, const std::filesystem::path& path);

// Consistent copy of the live database into `target` (SQLite online backup API).
Status backup(Db& source, const std::filesystem::path& target);

}  // namespace tourbus::store
