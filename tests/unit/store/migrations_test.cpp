#include <catch2/catch.hpp>

#include "../support.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

int latest() {
  int n = 0;
  for (const auto& m : store::migrations()) n = std::max(n, std::stoi(std::string(m.name.substr(0, 4))));
  return n;
}

bool has_table(store::Db& db, const char* name) {
  auto s = db.prepare(db.dialect() == store::Dialect::postgres
                          ? "SELECT 1 FROM information_schema.tables WHERE table_schema = current_schema() AND table_name = ?1"
                          : "SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = ?1");
  s.bind(1, name);
  return s.step();
}

}  // namespace

TEST_CASE("migrations are numbered from 0001 without gaps") {
  int expected = 1;
  for (const auto& m : store::migrations()) {
    INFO(m.name);
    CHECK(std::stoi(std::string(m.name.substr(0, 4))) == expected++);
    CHECK(m.name.ends_with(".sql"));
    CHECK_FALSE(m.sql.empty());
  }
}

TEST_CASE("a new database is migrated to the latest version, once", "[store]") {
  TempDir dir;
  store::Db db(test::store_target(dir), store::Db::Mode::read_write);
  store::configure_writer(db, "full");
  auto v = store::migrate(db);
  REQUIRE(v.ok());
  CHECK(*v == latest());
  CHECK(store::schema_version(db) == latest());
  CHECK(has_table(db, "users"));
  CHECK(has_table(db, "tokens"));
  CHECK(has_table(db, "tours"));
  CHECK(has_table(db, "tour_participants"));

  // Data survives a second run, which changes nothing.
  db.exec("INSERT INTO users (handle, display_name, role, language, time_zone, created_at, updated_at) "
          "VALUES ('anna', 'Anna', 'tourist', 'en', 'UTC', 0, 0)");
  REQUIRE(*store::migrate(db) == latest());
  auto s = db.prepare("SELECT count(*) FROM users");
  REQUIRE(s.step());
  CHECK(s.i64(0) == 1);
}

TEST_CASE("WAL mode and foreign keys are on") {
  TempDir dir;
  store::Db db(dir / "t.db", store::Db::Mode::read_write);
  store::configure_writer(db, "full");
  REQUIRE(store::migrate(db).ok());
  auto mode = db.prepare("PRAGMA journal_mode");
  REQUIRE(mode.step());
  CHECK(mode.text(0) == "wal");
  // A participant row pointing at no tour violates a foreign key.
  CHECK_THROWS_AS(db.exec("INSERT INTO tour_participants (tour_id, user_id, joined_at) VALUES (42, 42, 0)"), store::SqlError);
}

TEST_CASE("a database from a newer tourbus is refused, untouched", "[store]") {
  TempDir dir;
  store::Db db(test::store_target(dir), store::Db::Mode::read_write);
  if (db.dialect() == store::Dialect::postgres)
    db.exec("CREATE TABLE tourbus_schema (version INTEGER PRIMARY KEY, applied_at BIGINT NOT NULL); "
            "INSERT INTO tourbus_schema VALUES (999, 0)");
  else
    db.exec("PRAGMA user_version = 999");
  auto v = store::migrate(db);
  REQUIRE_FALSE(v.ok());
  CHECK_THAT(v.error().message, Catch::Contains("999"));
  CHECK(store::schema_version(db) == 999);
  CHECK_FALSE(has_table(db, "users"));
}

TEST_CASE("backup makes a standalone, consistent copy") {
  TempDir dir;
  store::Db db(dir / "t.db", store::Db::Mode::read_write);
  store::configure_writer(db, "full");
  REQUIRE(store::migrate(db).ok());
  db.exec("INSERT INTO users (handle, display_name, role, language, time_zone, created_at, updated_at) "
          "VALUES ('anna', 'Anna', 'tourist', 'en', 'UTC', 0, 0)");
  REQUIRE(store::backup(db, dir / "copy.db").ok());
  store::Db copy(dir / "copy.db", store::Db::Mode::read_only);
  auto s = copy.prepare("SELECT handle FROM users");
  REQUIRE(s.step());
  CHECK(s.text(0) == "anna");
  CHECK(store::schema_version(copy) == latest());
  auto check = copy.prepare("PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.text(0) == "ok");
}
