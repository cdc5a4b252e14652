// Ids are never reused: a row deleted while something may still name it (a queued job naming a
// push subscription, a message naming a file) must not lend its id to the next row.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "../support.hpp"
#include "channels/channels.hpp"
#include "chat/files.hpp"
#include "notify/feed.hpp"
#include "notify/outbox.hpp"
#include "store/database.hpp"
#include "store/migrations.hpp"
#include "store/tokens.hpp"
#include "store/users.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

// Tables whose rows are never deleted (each with why): their ids cannot come back. Everything
// else with an integer id must be AUTOINCREMENT.
const std::set<std::string> kNeverDeleted = {
    "users",          // disabled, never deleted: messages, tokens and jobs name them
    "tours",          // cancelled, never deleted: conversations and participants name them
    "conversations",  // kept with their history
    "messages",       // deleted messages keep their row (deleted_at): seq must stay gap-free
    "notifications",  // kept as the record of what was sent
    "feed",           // items are marked read, not deleted
    "translation_cursor",  // one row (id 1), moved forward, never deleted
};

// A new database, migrated to the latest version.
struct Migrated {
  TempDir dir;
  store::Db db{dir / "t.db", store::Db::Mode::read_write};
  Migrated() {
    store::configure_writer(db, "full");
    REQUIRE(store::migrate(db).ok());
  }
};

std::int64_t add_user(store::Db& db, const std::string& handle) {
  store::User u;
  u.handle = handle;
  u.display_name = handle;
  u.role = "tourist";
  u.language = "en";
  u.time_zone = "UTC";
  auto r = store::users::insert(db, u);
  REQUIRE(r.ok());
  return r->id;
}

// Every `DELETE FROM name` in the library's sources and migrations.
std::set<std::string> tables_deleted_from() {
  std::set<std::string> out;
  std::regex del(R"(DELETE\s+FROM\s+([a-z_]+))", std::regex::icase);
  for (const auto& e : std::filesystem::recursive_directory_iterator(std::string(TOURBUS_SOURCE_DIR) + "/lib")) {
    auto ext = e.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    auto text = ss.str();
    for (std::sregex_iterator it(text.begin(), text.end(), del), end; it != end; ++it) out.insert((*it)[1].str());
  }
  return out;
}

}  // namespace

TEST_CASE("every table with an integer id either never deletes rows or never reuses ids") {
  Migrated m;
  auto& db = m.db;
  auto deleted = tables_deleted_from();
  REQUIRE(deleted.contains("push_subscriptions"));  // the scan finds what it must
  // Not SQLite's own tables, nor the shadow tables of a full-text index (FTS5 manages those).
  auto tables = db.prepare(
      "SELECT t.name, t.sql FROM sqlite_master t WHERE t.type = 'table' AND t.name NOT LIKE 'sqlite_%' AND NOT EXISTS "
      "(SELECT 1 FROM sqlite_master v WHERE v.sql LIKE 'CREATE VIRTUAL TABLE%' AND t.name LIKE v.name || '%')");
  int checked = 0;
  while (tables.step()) {
    auto name = tables.text(0), sql = tables.text(1);
    auto info = db.prepare("SELECT 1 FROM pragma_table_info(?1) WHERE name = 'id' AND pk = 1 AND type = 'INTEGER'");
    info.bind(1, name);
    if (!info.step()) continue;
    ++checked;
    INFO(name);
    if (kNeverDeleted.contains(name)) {
      CHECK_FALSE(deleted.contains(name));  // it is deleted from now: make it AUTOINCREMENT
    } else {
      CHECK_THAT(sql, Catch::Contains("AUTOINCREMENT"));
    }
  }
  CHECK(checked >= 12);
}

TEST_CASE("a removed push subscription's id goes to nobody else") {
  Migrated m;
  auto& db = m.db;
  auto ann = add_user(db, "ann"), bob = add_user(db, "bob");
  auto first = notify::addresses::subscribe(db, {0, ann, "https://push.example/a1", "k", "a", 1});
  auto newest = notify::addresses::subscribe(db, {0, ann, "https://push.example/a2", "k", "a", 1});
  REQUIRE(notify::addresses::unsubscribe(db, ann, newest.id));
  auto bobs = notify::addresses::subscribe(db, {0, bob, "https://push.example/b1", "k", "a", 2});
  CHECK(bobs.id > newest.id);
  CHECK_FALSE(notify::addresses::subscription(db, newest.id));

  SECTION("an endpoint registered again by another user gets a new id") {
    auto moved = notify::addresses::subscribe(db, {0, bob, "https://push.example/a1", "k2", "a2", 3});
    CHECK(moved.id > bobs.id);
    CHECK(moved.user_id == bob);
    CHECK_FALSE(notify::addresses::subscription(db, first.id));
  }
  SECTION("the same user registering again keeps the id and takes the new keys") {
    auto again = notify::addresses::subscribe(db, {0, ann, "https://push.example/a1", "k2", "a2", 3});
    CHECK(again.id == first.id);
    CHECK(notify::addresses::subscription(db, first.id)->p256dh == "k2");
  }
  SECTION("a gone subscription is forgotten only if it is still the job's user's") {
    auto webpush = channels::make_webpush();
    const auto& d = webpush->descriptor();
    notify::Job job;
    job.channel = "webpush";
    job.address = std::to_string(bobs.id);
    job.user_id = ann;  // a job of ann's naming bob's subscription: neither delivered nor forgotten
    CHECK_FALSE(d.resolve(db, job));
    d.forget(db, job);
    CHECK(notify::addresses::subscription(db, bobs.id));
    job.user_id = bob;
    REQUIRE(d.resolve(db, job));
    CHECK(d.resolve(db, job)->subscription->endpoint == "https://push.example/b1");
    d.forget(db, job);
    CHECK_FALSE(notify::addresses::subscription(db, bobs.id));
  }
}

TEST_CASE("a removed device's id goes to nobody else") {
  Migrated m;
  auto& db = m.db;
  auto ann = add_user(db, "ann"), bob = add_user(db, "bob");
  notify::addresses::register_device(db, {0, ann, "fcm", "t1", 1});
  auto newest = notify::addresses::register_device(db, {0, ann, "apns", "t2", 1});
  REQUIRE(notify::addresses::unregister_device(db, ann, newest.id));
  auto bobs = notify::addresses::register_device(db, {0, bob, "apns", "t3", 2});
  CHECK(bobs.id > newest.id);
  auto moved = notify::addresses::register_device(db, {0, bob, "fcm", "t1", 3});
  CHECK(moved.id > bobs.id);
  CHECK(notify::addresses::devices(db, ann).empty());
}

TEST_CASE("an expired file's id is not given to the next upload") {
  Migrated m;
  auto& db = m.db;
  chat::FileInfo f{0, std::string(64, 'a'), "image/png", "old.png", 10, {}, {}, 1, 1};
  chat::files::insert(db, f);
  auto newest = chat::files::insert(db, f);
  chat::files::expire(db, 2);  // both uploaded before the cutoff
  REQUIRE_FALSE(chat::files::find(db, newest));
  f.uploader_id = 2;
  f.created_at = 3;
  CHECK(chat::files::insert(db, f) > newest);
}

TEST_CASE("a purged dead job's id is not given to the next job") {
  Migrated m;
  auto& db = m.db;
  auto ann = add_user(db, "ann"), bob = add_user(db, "bob");
  notify::Notification n;
  n.category = "transactional";
  n.target = "{}";
  n.channels = "[]";
  n.created_by = "platform";
  n.id = notify::outbox::insert(db, n);
  notify::Job j;
  j.notification_id = n.id;
  j.user_id = ann;
  j.channel = "email";
  j.address = "ann@example.com";
  j.state = "dead";
  auto newest = notify::outbox::insert_job(db, j);
  notify::outbox::record(db, *notify::outbox::find_job(db, newest), notify::Outcome::permanent("550"), 1, 0, std::nullopt);
  REQUIRE(notify::outbox::purge_dead(db, notify::JobFilter{.id = newest}) == 1);
  j.user_id = bob;
  j.state = "queued";
  auto next = notify::outbox::insert_job(db, j);
  CHECK(next > newest);
  CHECK(notify::outbox::attempts(db, next).empty());  // the purged job's history stays with it
}

TEST_CASE("an id deleted before the upgrade to never-reused ids is not handed out either") {
  TempDir dir;
  store::Db db(dir / "t.db", store::Db::Mode::read_write);
  store::configure_writer(db, "full");
  // A database of schema version 3, where a deleted subscription, device and file left ids that
  // a queued job and a message still name.
  for (const auto& m : store::migrations())
    if (m.name < "0004") db.exec(std::string(m.sql));
  db.exec("PRAGMA user_version = 3");
  auto ann = add_user(db, "ann"), bob = add_user(db, "bob");
  db.exec("INSERT INTO push_subscriptions (id, user_id, endpoint, p256dh, auth, created_at) VALUES (1, 1, 'e1', 'k', 'a', 0)");
  db.exec("INSERT INTO notifications (id, category, target, channels, created_by, created_at) "
          "VALUES (1, 'transactional', '{}', '[]', 'platform', 0)");
  db.exec("INSERT INTO notify_jobs (notification_id, user_id, channel, address, lane, state, next_at, created_at, updated_at) "
          "VALUES (1, 1, 'webpush', '7', 1, 'queued', 0, 0, 0), (1, 1, 'apns', '5', 1, 'queued', 0, 0, 0)");
  db.exec("INSERT INTO messages (conversation_id, seq, kind, file_id, created_at) VALUES (1, 1, 'file', 9, 0)");
  REQUIRE(store::migrate(db).ok());
  CHECK(notify::addresses::subscribe(db, {0, bob, "e2", "k", "a", 0}).id == 8);
  CHECK(notify::addresses::register_device(db, {0, bob, "fcm", "t", 0}).id == 6);
  CHECK(chat::files::insert(db, chat::FileInfo{0, std::string(64, 'b'), "image/png", "x.png", 1, {}, {}, bob, 0}) == 10);
  // the rows that were there keep their ids
  CHECK(notify::addresses::subscription(db, 1)->user_id == ann);
  auto check = db.prepare("PRAGMA integrity_check");
  REQUIRE(check.step());
  CHECK(check.text(0) == "ok");
}
