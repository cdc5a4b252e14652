#include "store/database.hpp"

#include <charconv>
#include <system_error>

#include <sqlite3.h>

#include "core/logging.hpp"
#include "store/migrations.hpp"

namespace tourbus::store {
namespace {

int migration_number(std::string_view name) {
  int n = 0;
  std::from_chars(name.data(), name.data() + name.size(), n);
  return n;
}

}  // namespace

void configure_writer(Db& db, std::string_view synchronous) {
  if (db.dialect() == Dialect::postgres) {
    // Every commit waits for the server's WAL flush, whatever store.synchronous says: an
    // acknowledged write survives the loss of the server process.
    db.exec("SET synchronous_commit = on");
    return;
  }
  db.exec("PRAGMA journal_mode=WAL");
  db.exec(synchronous == "normal" ? "PRAGMA synchronous=NORMAL" : "PRAGMA synchronous=FULL");
  db.exec("PRAGMA foreign_keys=ON");
  db.exec("PRAGMA temp_store=MEMORY");
  // Deleted rows (expired locations, purged jobs) are overwritten in the file, not left in free
  // pages where a copy of the file would still hold them.
  db.exec("PRAGMA secure_delete=ON");
}

void configure_reader(Db& db) {
  if (db.dialect() == Dialect::postgres) return;  // read-only by its connection's default
  db.exec("PRAGMA foreign_keys=ON");
  db.exec("PRAGMA query_only=ON");
}

// PostgreSQL keeps the version in a table of its own (SQLite in the file header's user_version).
int schema_version(Db& db) {
  if (db.dialect() == Dialect::postgres) {
    auto st = db.prepare("SELECT coalesce(max(version), 0) FROM tourbus_schema");
    return st.step() ? static_cast<int>(st.i64(0)) : 0;
  }
  auto st = db.prepare("PRAGMA user_version");
  return st.step() ? static_cast<int>(st.i64(0)) : 0;
}

Result<int> migrate(Db& db) {
  auto log = logging::get("store");
  bool pg = db.dialect() == Dialect::postgres;
  if (pg) {
    // Several nodes may start at once: one migrates while the others wait, then find nothing to do.
    db.exec(
        "BEGIN; SELECT pg_advisory_xact_lock(7461627573); "
        "CREATE TABLE IF NOT EXISTS tourbus_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL); COMMIT");
  }
  auto all = migrations(db.dialect());
  int latest = 0;
  for (const auto& m : all) latest = std::max(latest, migration_number(m.name));
  int current = 0;
  for (const auto& m : all) {
    int n = migration_number(m.name);
    try {
      db.exec(pg ? "BEGIN" : "BEGIN IMMEDIATE");
      if (pg) db.exec("SELECT pg_advisory_xact_lock(7461627573)");  // "tbus": the migration lock
      current = schema_version(db);
      if (current > latest) {
        db.exec("ROLLBACK");
        return Error(Code::internal, "the database has schema version " + std::to_string(current) +
                                         " but this tourbusd knows only up to " + std::to_string(latest) +
                                         "; run a newer tourbusd or restore a backup");
      }
      if (n <= current) {
        db.exec("ROLLBACK");
        continue;
      }
      db.exec(m.sql);
      if (pg)
        db.exec("INSERT INTO tourbus_schema (version, applied_at) VALUES (" + std::to_string(n) +
                ", (extract(epoch FROM clock_timestamp()) * 1000)::bigint)");
      else
        db.exec("PRAGMA user_version=" + std::to_string(n));
      db.exec("COMMIT");
    } catch (const SqlError& e) {
      try { db.exec("ROLLBACK"); } catch (const SqlError&) {}
      return Error(Code::internal, "migration " + std::string(m.name) + " failed: " + e.what());
    }
    log->info("store.migrated version={} file={}", n, m.name);
    current = n;
  }
  if (all.empty()) current = schema_version(db);
  return current;
}

Figures figures(Db& db, const std::filesystem::path& path) {
  Figures f;
  f.schema_version = schema_version(db);
  if (db.dialect() == Dialect::postgres) {
    auto st = db.prepare("SELECT pg_database_size(current_database())");
    if (st.step()) f.db_bytes = st.i64(0);
  }
  std::error_code ec;
  if (db.dialect() == Dialect::sqlite) {
    f.db_bytes = static_cast<std::int64_t>(std::filesystem::file_size(path, ec));
    if (ec) f.db_bytes = 0;
    auto wal = path;
    wal += "-wal";
    f.wal_bytes = static_cast<std::int64_t>(std::filesystem::file_size(wal, ec));
    if (ec) f.wal_bytes = 0;
  }
  auto st = db.prepare(
      "SELECT (SELECT count(*) FROM users), (SELECT count(*) FROM tokens), (SELECT count(*) FROM tours)");
  if (st.step()) {
    f.users = st.i64(0);
    f.tokens = st.i64(1);
    f.tours = st.i64(2);
  }
  return f;
}

Status backup(Db& source, const std::filesystem::path& target) {
  if (source.dialect() == Dialect::postgres)
    return Error(Code::unavailable,
                 "the store is PostgreSQL: back it up with pg_dump or the server's own backups (docs/scaling.md)");
  sqlite3* dest = nullptr;
  int rc = sqlite3_open_v2(target.c_str(), &dest, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, nullptr);
  if (rc != SQLITE_OK) {
    sqlite3_close_v2(dest);
    return Error(Code::internal, "cannot create backup file: " + std::string(sqlite3_errstr(rc)));
  }
  sqlite3_backup* b = sqlite3_backup_init(dest, "main", source.handle(), "main");
  if (!b) {
    std::string msg = sqlite3_errmsg(dest);
    sqlite3_close_v2(dest);
    return Error(Code::internal, "backup failed: " + msg);
  }
  // One step copies everything inside a single read transaction: a consistent snapshot. In WAL
  // mode that reader never blocks the writer, and commits made meanwhile do not restart the copy.
  do {
    rc = sqlite3_backup_step(b, -1);
  } while (rc == SQLITE_BUSY || rc == SQLITE_LOCKED);
  sqlite3_backup_finish(b);
  if (rc == SQLITE_DONE) {
    // The copy is a standalone file: no WAL to carry around.
    sqlite3_exec(dest, "PRAGMA journal_mode=DELETE", nullptr, nullptr, nullptr);
  }
  std::string msg = rc == SQLITE_DONE ? "" : sqlite3_errmsg(dest);
  sqlite3_close_v2(dest);
  if (rc != SQLITE_DONE) return Error(Code::internal, "backup failed: " + msg);
  return {};
}

}  // namespace tourbus::store
