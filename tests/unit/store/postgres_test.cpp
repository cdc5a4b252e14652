// The PostgreSQL store: what only it needs (parameters, one logical schema with SQLite's, several
// writers on one database, lost connections). The cases marked [.postgres] need a server and run
// under CTest's `unit (postgres)`, which starts one; every [store] case runs there too.
#include <catch2/catch.hpp>

#include <future>
#include <map>
#include <set>
#include <thread>

#include "../support.hpp"
#include "chat/conversations.hpp"
#include "chat/messages.hpp"
#include "store/copy.hpp"
#include "store/database.hpp"
#include "store/read_pool.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

using Columns = std::map<std::string, std::vector<std::string>>;  // table -> columns in order

Columns sqlite_columns(store::Db& db) {
  Columns out;
  auto t = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' AND name NOT LIKE 'messages_fts%'");
  std::vector<std::string> tables;
  while (t.step()) tables.push_back(t.text(0));
  for (const auto& name : tables) {
    auto c = db.prepare("SELECT name FROM pragma_table_info(?1) ORDER BY cid");
    c.bind(1, name);
    while (c.step()) out[name].push_back(c.text(0));
  }
  return out;
}

Columns postgres_columns(store::Db& db) {
  Columns out;
  auto c = db.prepare(
      "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = current_schema() "
      "AND table_name <> 'tourbus_schema' ORDER BY table_name, ordinal_position");
  while (c.step()) out[c.text(0)].push_back(c.text(1));
  return out;
}

std::set<std::string> sqlite_indexes(store::Db& db) {
  std::set<std::string> out;
  auto s = db.prepare(
      "SELECT name FROM sqlite_master WHERE type = 'index' AND name NOT LIKE 'sqlite_autoindex_%' "
      "AND tbl_name NOT LIKE 'messages_fts%'");
  while (s.step()) out.insert(s.text(0));
  return out;
}

// Indexes the schema names (not those PostgreSQL makes for keys and UNIQUE constraints).
std::set<std::string> postgres_indexes(store::Db& db) {
  std::set<std::string> out;
  auto s = db.prepare(
      "SELECT i.indexname FROM pg_indexes i WHERE i.schemaname = current_schema() AND NOT EXISTS ("
      "SELECT 1 FROM pg_constraint k WHERE k.conname = i.indexname) AND i.indexname <> 'messages_search'");
  while (s.step()) out.insert(s.text(0));
  return out;
}

using test::new_user;

}  // namespace

TEST_CASE("PostgreSQL parameters: ? and ?N become $N outside quotes and comments", "[store]") {
  using store::detail::postgres_parameters;
  CHECK(postgres_parameters("SELECT ? , ?") == std::pair<std::string, int>("SELECT $1 , $2", 2));
  CHECK(postgres_parameters("WHERE a = ?2 OR b = ?1 OR ?2 IS NULL") ==
        std::pair<std::string, int>("WHERE a = $2 OR b = $1 OR $2 IS NULL", 2));
  // A bare ? takes one more than the largest number so far, as in SQLite.
  CHECK(postgres_parameters("VALUES (?3, ?)") == std::pair<std::string, int>("VALUES ($3, $4)", 4));
  CHECK(postgres_parameters("SELECT '?', \"a?\", x -- why?\n FROM t WHERE y = ?") ==
        std::pair<std::string, int>("SELECT '?', \"a?\", x -- why?\n FROM t WHERE y = $1", 1));
  CHECK(postgres_parameters("SELECT 'it''s ?' || ?") == std::pair<std::string, int>("SELECT 'it''s ?' || $1", 1));
  CHECK(postgres_parameters("SELECT 1") == std::pair<std::string, int>("SELECT 1", 0));
}

TEST_CASE("both engines' migrations make the same tables, columns and indexes", "[.postgres]") {
  TempDir dir;
  store::Db lite(dir / "t.db", store::Db::Mode::read_write);
  REQUIRE(store::migrate(lite).ok());
  store::Db pg(test::store_target(dir), store::Db::Mode::read_write);
  REQUIRE(pg.dialect() == store::Dialect::postgres);
  auto v = store::migrate(pg);
  REQUIRE(v.ok());
  CHECK(*v == store::schema_version(lite));
  CHECK(store::migrations(store::Dialect::postgres).size() == store::migrations(store::Dialect::sqlite).size());

  auto a = sqlite_columns(lite), b = postgres_columns(pg);
  CHECK(a.size() > 30);
  for (const auto& [table, columns] : a) {
    INFO("table " << table);
    REQUIRE(b.count(table) == 1);
    CHECK(b[table] == columns);
  }
  CHECK(a.size() == b.size());
  CHECK(sqlite_indexes(lite) == postgres_indexes(pg));

  // A second run (another node starting) changes nothing; foreign keys hold.
  REQUIRE(*store::migrate(pg) == *v);
  CHECK_THROWS_AS(pg.exec("INSERT INTO tour_participants (tour_id, user_id, joined_at) VALUES (42, 42, 0)"),
                  store::SqlError);
  // The online backup is SQLite's: on PostgreSQL it says what to use instead.
  auto backup = store::backup(pg, dir / "copy.db");
  REQUIRE_FALSE(backup.ok());
  CHECK_THAT(backup.error().message, Catch::Contains("pg_dump"));
}

TEST_CASE("two nodes' writers append to one conversation: one gap-free sequence", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer a(target, {}), b(target, {});
  auto setup = a.run_sync<std::pair<std::int64_t, std::int64_t>>([](store::Db& db) -> Result<std::pair<std::int64_t, std::int64_t>> {
    auto user = new_user(db, "anna");
    chat::Conversation c;
    c.kind = "group";
    c.title = "bus 7";
    c.owner_id = user;
    return std::pair{user, chat::conversations::insert(db, c, std::nullopt)};
  });
  REQUIRE(setup.ok());
  auto [user, conversation] = *setup;

  // Each node's writer commits batches of its own at the same time as the other's.
  constexpr int kEach = 300;
  auto send = [&, user = user, conversation = conversation](store::Writer& w, const std::string& node) {
    std::vector<std::future<Result<std::int64_t>>> pending;
    for (int i = 0; i < kEach; ++i)
      pending.push_back(std::async(std::launch::async, [&w, node, i, user, conversation] {
        return w.run_sync<std::int64_t>([&](store::Db& db) -> Result<std::int64_t> {
          chat::Message m;
          m.conversation_id = conversation;
          m.sender_id = user;
          m.client_id = node + std::to_string(i);
          m.kind = "text";
          m.body = "hello " + node;
          m.created_at = i;
          return chat::messages::append(db, m).seq;
        });
      }));
    // No assertion here: Catch2 2 asserts from one thread only. A failed write shows below as a
    // missing seq.
    std::vector<std::int64_t> seqs;
    for (auto& p : pending)
      if (auto r = p.get(); r.ok()) seqs.push_back(*r);
    return seqs;
  };
  auto fa = std::async(std::launch::async, [&] { return send(a, "a"); });
  auto fb = std::async(std::launch::async, [&] { return send(b, "b"); });
  auto sa = fa.get(), sb = fb.get();
  std::set<std::int64_t> all(sa.begin(), sa.end());
  all.insert(sb.begin(), sb.end());
  CHECK(all.size() == 2 * kEach);  // no seq handed out twice
  CHECK(*all.begin() == 1);
  CHECK(*all.rbegin() == 2 * kEach);  // and none skipped

  store::ReadPool reads(target, 1);
  auto stored = reads.with([&, conversation = conversation](store::Db& db) {
    return chat::messages::page(db, conversation, {.after = 0, .limit = 1000});
  });
  REQUIRE(stored.size() == 2 * kEach);
  for (std::size_t i = 0; i < stored.size(); ++i) CHECK(stored[i].seq == static_cast<std::int64_t>(i + 1));
}

TEST_CASE("a deadlock between two nodes' batches is rolled back and run again", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer a(target, {}), b(target, {});
  auto ids = a.run_sync<std::pair<std::int64_t, std::int64_t>>([](store::Db& db) -> Result<std::pair<std::int64_t, std::int64_t>> {
    return std::pair{new_user(db, "x"), new_user(db, "y")};
  });
  REQUIRE(ids.ok());
  auto [x, y] = *ids;
  // a locks x then wants y; b locks y then wants x. Each waits for the other to hold its first row.
  std::promise<void> a_holds, b_holds;
  auto a_ready = a_holds.get_future().share(), b_ready = b_holds.get_future().share();
  std::atomic<int> runs{0};
  auto touch = [](store::Db& db, std::int64_t id, const std::string& name) {
    db.prepare("UPDATE users SET display_name = ?1 WHERE id = ?2").bind(1, name).bind(2, id).run();
  };
  auto fa = std::async(std::launch::async, [&, x = x, y = y] {
    return a.run_sync<int>([&](store::Db& db) -> Result<int> {
      ++runs;
      touch(db, x, "a");
      if (runs <= 2) {
        try { a_holds.set_value(); } catch (const std::future_error&) {}
        b_ready.wait();
      }
      touch(db, y, "a");
      return 1;
    });
  });
  auto fb = std::async(std::launch::async, [&, x = x, y = y] {
    return b.run_sync<int>([&](store::Db& db) -> Result<int> {
      ++runs;
      touch(db, y, "b");
      if (runs <= 2) {
        try { b_holds.set_value(); } catch (const std::future_error&) {}
        a_ready.wait();
      }
      touch(db, x, "b");
      return 1;
    });
  });
  CHECK(fa.get().ok());
  CHECK(fb.get().ok());
  CHECK(a.stats().retried_batches + b.stats().retried_batches == 1);
  CHECK(a.stats().failed_commits + b.stats().failed_commits == 0);
}

TEST_CASE("a connection the server dropped is opened again, outside a transaction", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::ReadPool reads(target, 1);
  store::Db admin(target, store::Db::Mode::read_write);
  auto kill_others = [&] {
    admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
               "AND pid <> pg_backend_pid()");
  };
  auto count = [&] {
    return reads.with([](store::Db& db) {
      auto s = db.prepare("SELECT count(*) FROM users");
      s.step();
      return s.i64(0);
    });
  };
  REQUIRE(writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> { return new_user(db, "one"); }).ok());
  CHECK(count() == 1);
  kill_others();
  // The writer's next batch and the reader's next query each open a new session.
  REQUIRE(writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> { return new_user(db, "two"); }).ok());
  CHECK(count() == 2);
}

TEST_CASE("message search: every word, case and accents aside, on both engines", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  auto ids = writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> {
    auto user = new_user(db, "anna");
    chat::Conversation c;
    c.kind = "group";
    c.title = "Roma";
    c.owner_id = user;
    auto id = chat::conversations::insert(db, c, std::nullopt);
    for (const char* text : {"Un café buonissimo", "Where is the CAFÉ?", "cafeteria at noon", "the café is closed"}) {
      chat::Message m;
      m.conversation_id = id;
      m.sender_id = user;
      m.kind = "text";
      m.body = text;
      chat::messages::append(db, m);
    }
    return id;
  });
  REQUIRE(ids.ok());
  store::ReadPool reads(target, 1);
  auto seqs = [&](const std::string& q) {
    std::vector<std::int64_t> out;
    for (const auto& m : reads.with([&](store::Db& db) { return chat::messages::search(db, *ids, q, 10); }))
      out.push_back(m.seq);
    return out;
  };
  CHECK(seqs("cafe") == std::vector<std::int64_t>{4, 2, 1});  // newest first; not "cafeteria"
  CHECK(seqs("Café closed") == std::vector<std::int64_t>{4});
  CHECK(seqs("noon cafeteria") == std::vector<std::int64_t>{3});
  CHECK(seqs("tea").empty());
  CHECK(seqs("\"'*").empty());
}

TEST_CASE("a SQLite store is copied into PostgreSQL whole, ids kept and never reused", "[.postgres]") {
  TempDir dir;
  store::Db lite(dir / "t.db", store::Db::Mode::read_write);
  store::configure_writer(lite, "full");
  REQUIRE(store::migrate(lite).ok());
  auto anna = new_user(lite, "anna");
  // A glossary term added and removed: the top id, which SQLite's AUTOINCREMENT never hands out again.
  auto term = [](store::Db& db, const char* t) {
    db.prepare("INSERT INTO glossary (term, term_key, created_at) VALUES (?1, ?1, 0)").bind(1, t).run();
    return db.last_insert_rowid();
  };
  term(lite, "Colosseo");
  auto gone = term(lite, "Pantheon");
  lite.prepare("DELETE FROM glossary WHERE id = ?1").bind(1, gone).run();
  chat::Conversation c;
  c.kind = "group";
  c.title = "Roma";
  c.owner_id = anna;
  auto conversation = chat::conversations::insert(lite, c, std::nullopt);
  chat::conversations::add_member(lite, conversation, anna, 0);
  for (const char* text : {"Un café", "ciao"}) {
    chat::Message m;
    m.conversation_id = conversation;
    m.sender_id = anna;
    m.kind = "text";
    m.body = text;
    m.lang = std::nullopt;
    chat::messages::append(lite, m);
  }

  auto target = test::store_target(dir);
  auto report = store::copy_to_postgres(lite, target);
  REQUIRE(report.ok());
  CHECK(report->schema_version == store::schema_version(lite));
  std::map<std::string, std::int64_t> copied(report->tables.begin(), report->tables.end());
  CHECK(copied["users"] == 1);
  CHECK(copied["glossary"] == 1);
  CHECK(copied["messages"] == 2);
  CHECK(copied["conversation_members"] == 1);

  store::Db pg(target, store::Db::Mode::read_write);
  auto stored = chat::messages::page(pg, conversation, {.after = 0, .limit = 10});
  REQUIRE(stored.size() == 2);
  CHECK((stored[0].seq == 1 && stored[0].body == "Un café" && stored[1].seq == 2));
  CHECK(chat::messages::search(pg, conversation, "cafe", 10).size() == 1);
  // The next ids follow the highest ever handed out: the removed term's id stays unused.
  CHECK(term(pg, "Fontana") > gone);
  CHECK(new_user(pg, "bruno") > anna);
  chat::Message next;
  next.conversation_id = conversation;
  next.sender_id = anna;
  next.kind = "text";
  next.body = "after the move";
  CHECK(chat::messages::append(pg, next).seq == 3);

  // A database with users already is not written over.
  auto again = store::copy_to_postgres(lite, target);
  REQUIRE_FALSE(again.ok());
  CHECK(again.error().code == Code::conflict);
}
