#include <catch2/catch.hpp>

#include <atomic>
#include <future>
#include <thread>
#include <vector>

#include "../support.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

Result<std::int64_t> insert_user(store::Db& db, const std::string& handle) {
  auto s = db.prepare(
      "INSERT INTO users (handle, display_name, role, language, time_zone, created_at, updated_at) "
      "VALUES (?1, ?1, 'tourist', 'en', 'UTC', 0, 0)");
  s.bind(1, handle);
  try {
    s.run();
  } catch (const store::SqlError& e) {
    if (e.is_unique_violation()) return Error(Code::already_exists, "taken");
    throw;
  }
  return db.last_insert_rowid();
}

std::int64_t count_users(store::ReadPool& reads) {
  return reads.with([](store::Db& db) {
    auto s = db.prepare("SELECT count(*) FROM users");
    s.step();
    return s.i64(0);
  });
}

}  // namespace

TEST_CASE("writes queued while the writer is busy are committed together, each caller after the commit", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {.synchronous = "full", .max_batch = 256});
  store::ReadPool reads(target, 2);

  // The first write holds the writer until every other write is queued behind it.
  std::promise<void> release, started;
  auto gate = release.get_future().share();
  auto running = started.get_future();
  auto first = std::async(std::launch::async, [&] {
    return writer.run_sync<std::int64_t>([gate, &started](store::Db& db) {
      started.set_value();
      gate.wait();
      return insert_user(db, "first");
    });
  });
  running.wait();  // the gate write is executing on the writer thread

  constexpr int kWriters = 100;
  std::atomic<int> ok{0}, seen_committed{0};
  std::vector<std::future<void>> others;
  for (int i = 0; i < kWriters; ++i) {
    others.push_back(std::async(std::launch::async, [&, i] {
      auto id = writer.run_sync<std::int64_t>([i](store::Db& db) { return insert_user(db, "u" + std::to_string(i)); });
      if (!id.ok()) return;
      ++ok;
      // Resumed only after commit: another connection already sees the row.
      auto visible = reads.with([&](store::Db& db) {
        auto s = db.prepare("SELECT 1 FROM users WHERE id = ?1");
        s.bind(1, *id);
        return s.step();
      });
      if (visible) ++seen_committed;
    }));
  }
  while (writer.stats().queued < static_cast<std::uint64_t>(kWriters)) std::this_thread::yield();
  // The writer is inside an open transaction now; a read neither waits for it nor sees its rows.
  CHECK(count_users(reads) == 0);
  release.set_value();
  REQUIRE(first.get().ok());
  for (auto& f : others) f.get();

  auto stats = writer.stats();
  CHECK(ok == kWriters);
  CHECK(seen_committed == kWriters);
  CHECK(stats.writes == kWriters + 1);
  // One commit for the gate write, then the 100 queued writes in a single batch.
  CHECK(stats.commits == 2);
  CHECK(stats.max_batch_seen == kWriters);
  CHECK(count_users(reads) == kWriters + 1);
}

TEST_CASE("a failing write is rolled back alone; its batch-mates commit", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::ReadPool reads(target, 1);
  REQUIRE(writer.run_sync<std::int64_t>([](store::Db& db) { return insert_user(db, "anna"); }).ok());

  auto dup = writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> {
    // A first insert succeeds inside the savepoint, then the write fails: both must vanish.
    if (auto half = insert_user(db, "half"); !half) return Error(Code::internal, "the first insert should work");
    return insert_user(db, "anna");
  });
  REQUIRE_FALSE(dup.ok());
  CHECK(dup.error().code == Code::already_exists);

  auto thrown = writer.run_sync<std::int64_t>([](store::Db&) -> Result<std::int64_t> { throw std::runtime_error("boom"); });
  REQUIRE_FALSE(thrown.ok());
  CHECK(thrown.error().code == Code::internal);

  REQUIRE(writer.run_sync<std::int64_t>([](store::Db& db) { return insert_user(db, "bob"); }).ok());
  CHECK(count_users(reads) == 2);
}

TEST_CASE("stop finishes queued writes, closes the database, then refuses writes", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  std::vector<std::future<Result<std::int64_t>>> pending;
  {
    store::Writer writer(target, {});
    for (int i = 0; i < 50; ++i)
      pending.push_back(std::async(std::launch::async, [&writer, i] {
        return writer.run_sync<std::int64_t>([i](store::Db& db) { return insert_user(db, "p" + std::to_string(i)); });
      }));
    for (auto& p : pending) REQUIRE(p.get().ok());
    writer.stop();
    auto late = writer.run_sync<std::int64_t>([](store::Db& db) { return insert_user(db, "late"); });
    REQUIRE_FALSE(late.ok());
    CHECK(late.error().code == Code::unavailable);
  }
  // Reopened from disk: everything acknowledged is there, and the WAL was folded back.
  store::ReadPool reads(target, 1);
  CHECK(count_users(reads) == 50);
  if (target.dialect() == store::Dialect::sqlite) {
    std::error_code ec;
    auto wal = std::filesystem::file_size(dir / "t.db-wal", ec);
    CHECK((ec || wal == 0));
  }
}
