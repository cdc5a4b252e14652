// Several nodes on one store (docs/scaling.md): the nodes table, notification jobs claimed by
// node, and the one leader. The [store] cases run on SQLite and again on PostgreSQL under
// `unit (postgres)`; the [.postgres] ones need the server (two nodes' sessions at once).
#include <catch2/catch.hpp>

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <future>
#include <mutex>
#include <set>

#include "../support.hpp"
#include "notify/outbox.hpp"
#include "store/leader.hpp"
#include "store/nodes.hpp"
#include "store/read_pool.hpp"
#include "store/users.hpp"
#include "store/secrets.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

constexpr std::int64_t kNow = 1'800'000'000'000;

using test::new_user;

// `n` queued webhook jobs due at kNow, the last `emergency` of them in the emergency lane.
std::vector<std::int64_t> queue_jobs(store::Writer& writer, int n, int emergency = 0) {
  auto ids = writer.run_sync<std::vector<std::int64_t>>([&](store::Db& db) -> Result<std::vector<std::int64_t>> {
    auto user = new_user(db, "anna");
    notify::Notification note;
    note.category = "transactional";
    note.target = "{}";
    note.channels = "[\"webhook\"]";
    note.created_by = "test";
    note.created_at = kNow;
    auto id = notify::outbox::insert(db, note);
    std::vector<std::int64_t> out;
    for (int i = 0; i < n; ++i) {
      notify::Job j;
      j.notification_id = id;
      j.user_id = user;
      j.channel = "webhook";
      j.address = "https://hooks.example/" + std::to_string(i);
      j.lane = i >= n - emergency ? 0 : 1;
      j.next_at = kNow - 1000 + i;
      j.created_at = kNow;
      out.push_back(notify::outbox::insert_job(db, j));
    }
    return out;
  });
  INFO((ids.ok() ? std::string() : ids.error().message));
  REQUIRE(ids.ok());
  return *ids;
}

// Writes a node's row; returns the row as it was before.
std::optional<store::Node> beat(store::Writer& writer, const std::string& name, std::int64_t seen_at, bool leader = false,
                                std::int64_t pid = 1) {
  store::Node n;
  n.name = name;
  n.version = "test";
  n.pid = pid;
  n.listen = "127.0.0.1:" + std::to_string(pid);
  n.leader = leader;
  n.started_at = kNow - 60'000;
  n.seen_at = seen_at;
  auto before = writer.run_sync<std::optional<store::Node>>(
      [&](store::Db& db) -> Result<std::optional<store::Node>> { return store::nodes::beat(db, n); });
  REQUIRE(before.ok());
  return *before;
}

std::vector<notify::Job> claim(store::Writer& writer, const std::string& node, std::size_t limit,
                               std::int64_t now = kNow) {
  auto jobs = writer.run_sync<std::vector<notify::Job>>([&](store::Db& db) -> Result<std::vector<notify::Job>> {
    return notify::outbox::claim(db, "webhook", now, limit, node, now - store::nodes::kGoneAfterMs);
  });
  REQUIRE(jobs.ok());
  return *jobs;
}

std::vector<std::int64_t> ids_of(const std::vector<notify::Job>& jobs) {
  std::vector<std::int64_t> out;
  for (const auto& j : jobs) out.push_back(j.id);
  return out;
}

}  // namespace

TEST_CASE("every node says it is alive in the nodes table; its row is replaced, never doubled", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::ReadPool reads(target, 1);
  CHECK_FALSE(beat(writer, "b", kNow));  // the first row of its name
  beat(writer, "a", kNow, true);
  auto before = beat(writer, "a", kNow + 2000, false);
  REQUIRE(before);  // what the node wrote last time: the same process (Membership checks)
  CHECK((before->pid == 1 && before->seen_at == kNow && before->leader));
  // Another process under the same name: the row it overwrote says who wrote it.
  auto clash = beat(writer, "b", kNow + 1000, false, 2);
  REQUIRE(clash);
  CHECK(clash->pid == 1);
  beat(writer, "b", kNow + 1500, false, 1);
  auto nodes = reads.with([](store::Db& db) { return store::nodes::list(db); });
  REQUIRE(nodes.size() == 2);
  CHECK(nodes[0].name == "a");  // by name
  CHECK(nodes[0].seen_at == kNow + 2000);
  CHECK_FALSE(nodes[0].leader);
  CHECK(nodes[0].listen == "127.0.0.1:1");
  CHECK(nodes[1].name == "b");
  // a led; b takes over: its beat says b alone leads, without waiting for a's next beat.
  beat(writer, "a", kNow + 2000, true);
  beat(writer, "b", kNow + 3000, true);
  nodes = reads.with([](store::Db& db) { return store::nodes::list(db); });
  CHECK_FALSE(nodes[0].leader);
  CHECK(nodes[1].leader);
  CHECK(nodes[0].seen_at == kNow + 2000);  // nothing else of a's row changed
  auto forgotten = writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> {
    return store::nodes::forget(db, kNow + 2001);  // a, seen last at kNow + 2000
  });
  REQUIRE(forgotten.ok());
  CHECK(*forgotten == 1);
  CHECK(reads.with([](store::Db& db) { return store::nodes::list(db); }).size() == 1);
}

TEST_CASE("nodes claim due notification jobs: each job to one node, a gone node's to the others", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::ReadPool reads(target, 1);
  auto ids = queue_jobs(writer, 10, 2);
  beat(writer, "a", kNow);
  beat(writer, "b", kNow);

  // The emergency lane first, then the oldest; as many as asked.
  auto a = claim(writer, "a", 4);
  REQUIRE(a.size() == 4);
  CHECK(ids_of(a) == std::vector<std::int64_t>{ids[8], ids[9], ids[0], ids[1]});
  CHECK(a[0].address == "https://hooks.example/8");  // whole jobs
  CHECK(a[0].claimed_by == "a");
  // notify.show says which node holds a job.
  auto held = reads.with([&](store::Db& db) { return notify::outbox::find_job(db, ids[9]); });
  REQUIRE(held);
  CHECK(held->claimed_by == "a");
  auto b = claim(writer, "b", 100);
  CHECK(ids_of(b) == std::vector<std::int64_t>{ids[2], ids[3], ids[4], ids[5], ids[6], ids[7]});
  // Nothing left for anyone while both are alive, and a node does not take its own claims again.
  CHECK(claim(writer, "c", 100).empty());
  CHECK(claim(writer, "a", 100).empty());
  CHECK_FALSE(reads.with([](store::Db& db) {
    return notify::outbox::claimable(db, "webhook", kNow, "c", kNow - store::nodes::kGoneAfterMs);
  }));

  // An attempt recorded lets go of the job: a retry is anyone's when it is due again.
  REQUIRE(writer.run_sync<bool>([&](store::Db& db) -> Result<bool> {
                  notify::outbox::record(db, a[0], notify::Outcome::retry("503"), kNow, 10, kNow + 5000);
                  notify::outbox::record(db, a[1], notify::Outcome::delivered("200"), kNow, 10, std::nullopt);
                  return true;
                })
              .ok());
  CHECK(claim(writer, "b", 100).empty());  // not due yet
  CHECK(ids_of(claim(writer, "b", 100, kNow + 5000)) == std::vector<std::int64_t>{ids[8]});

  // a stops saying it is alive: once gone, its two unrecorded jobs are c's.
  auto later = kNow + store::nodes::kGoneAfterMs + 1;
  beat(writer, "b", later);
  beat(writer, "c", later);
  CHECK(ids_of(claim(writer, "c", 100, later)) == std::vector<std::int64_t>{ids[0], ids[1]});

  // b starts again: what its earlier run held goes back to the queue (not the delivered one).
  auto released = writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> {
    return notify::outbox::release_claims(db, "b");
  });
  REQUIRE(released.ok());
  CHECK(*released == 7);  // ids[2..7] and the retried ids[8]
  auto again = claim(writer, "b", 100, later);
  CHECK(again.size() == 7);
  auto delivered = reads.with([&](store::Db& db) { return notify::outbox::find_job(db, ids[9]); });
  REQUIRE(delivered);
  CHECK(delivered->state == "delivered");
  CHECK_FALSE(delivered->claimed_by);  // recorded: nobody holds it
}

TEST_CASE("two nodes claiming at once get different jobs, and every job once", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer a(target, {}), b(target, {});
  auto ids = queue_jobs(a, 400);
  beat(a, "a", kNow);
  beat(a, "b", kNow);
  // Each node claims in small batches until nothing is left; both at the same time. (No
  // assertion on these threads: Catch2 asserts from the test's own thread only.)
  std::atomic<int> failed{0};
  auto drain = [&](store::Writer& writer, const std::string& node) {
    std::vector<std::int64_t> got;
    for (;;) {
      auto jobs = writer.run_sync<std::vector<notify::Job>>([&](store::Db& db) -> Result<std::vector<notify::Job>> {
        return notify::outbox::claim(db, "webhook", kNow, 7, node, kNow - store::nodes::kGoneAfterMs);
      });
      if (!jobs) ++failed;
      if (!jobs || jobs->empty()) return got;
      for (const auto& j : *jobs) got.push_back(j.id);
    }
  };
  auto fa = std::async(std::launch::async, [&] { return drain(a, "a"); });
  auto fb = std::async(std::launch::async, [&] { return drain(b, "b"); });
  auto ga = fa.get(), gb = fb.get();
  CHECK(failed == 0);
  std::set<std::int64_t> all(ga.begin(), ga.end());
  for (auto id : gb) CHECK(all.insert(id).second);  // never claimed by both
  CHECK(all == std::set<std::int64_t>(ids.begin(), ids.end()));
  CHECK(ga.size() + gb.size() == ids.size());
}

TEST_CASE("nodes starting at once on an empty store agree on one link key", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer a(target, {}), b(target, {});
  // Both read "none" and make one; the first kept is both nodes' (not a failed start).
  std::promise<void> go;
  auto start = go.get_future().share();
  auto key = [&](store::Writer& writer) {
    start.wait();
    return writer.run_sync<std::string>([](store::Db& db) -> Result<std::string> {
      return store::secrets::get_or_create(db, "links", kNow);
    });
  };
  auto fa = std::async(std::launch::async, [&] { return key(a); });
  auto fb = std::async(std::launch::async, [&] { return key(b); });
  go.set_value();
  auto ka = fa.get(), kb = fb.get();
  REQUIRE(ka.ok());
  REQUIRE(kb.ok());
  CHECK(*ka == *kb);
  CHECK(ka->size() >= 32);
}

namespace {

// Records each change of a Leader, and waits for one.
struct Watch {
  std::mutex mutex;
  std::condition_variable cv;
  bool leading = false;
  int changes = 0;
  store::Leader::Changed callback() {
    return [this](bool on) {
      std::lock_guard lock(mutex);
      leading = on;
      ++changes;
      cv.notify_all();
    };
  }
  bool wait_for(bool on, std::chrono::seconds within = std::chrono::seconds(30)) {
    std::unique_lock lock(mutex);
    return cv.wait_for(lock, within, [&] { return leading == on; });
  }
};

}  // namespace

TEST_CASE("a SQLite store's one node always leads", "[store]") {
  TempDir dir;
  if (test::on_postgres()) return;  // the PostgreSQL case is below
  Watch w;
  store::Leader leader(dir / "t.db", w.callback());
  CHECK(leader.leading());
  CHECK(w.changes == 1);
}

TEST_CASE("one node of several leads; when it goes or loses its session, another leads", "[.postgres]") {
  TempDir dir;
  auto target = test::store_target(dir);
  using namespace std::chrono_literals;
  Watch wa, wb;
  auto a = std::make_unique<store::Leader>(target, wa.callback(), 50ms);
  REQUIRE(wa.wait_for(true));  // the first to ask leads
  store::Leader b(target, wb.callback(), 50ms);
  // b asks every 50 ms and never leads while a holds the lock: a's state is what b's asks see.
  {
    std::unique_lock lock(wb.mutex);
    CHECK_FALSE(wb.cv.wait_for(lock, 500ms, [&] { return wb.leading; }));
  }
  CHECK(a->leading());
  CHECK_FALSE(b.leading());

  // a stops: its session and the lock go; b leads at its next ask.
  a->stop();
  CHECK_FALSE(a->leading());
  REQUIRE(wb.wait_for(true));
  a.reset();

  // b's session is ended by the server (a dropped connection): b stops leading, then leads again
  // on a new session, nobody else asking.
  store::Db admin(target, store::Db::Mode::read_write);
  admin.exec("SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE datname = current_database() "
             "AND pid <> pg_backend_pid()");
  {
    std::unique_lock lock(wb.mutex);
    int seen = wb.changes;
    REQUIRE(wb.cv.wait_for(lock, 30s, [&] { return wb.changes >= seen + 2; }));  // lost, then led again
    CHECK(wb.leading);
  }
}

TEST_CASE("nodes record when a user was last seen: the latest time is kept", "[store]") {
  TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::ReadPool reads(target, 1);
  auto set = [&](std::int64_t user, std::int64_t at) {
    REQUIRE(writer.run_sync<bool>([&](store::Db& db) -> Result<bool> {
                    store::users::set_last_seen(db, user, at);
                    return true;
                  })
                .ok());
  };
  auto made = writer.run_sync<std::int64_t>([](store::Db& db) -> Result<std::int64_t> { return test::new_user(db, "ann"); });
  REQUIRE(made.ok());
  auto seen = [&] { return reads.with([&](store::Db& db) { return store::users::last_seen(db, *made); }); };
  CHECK_FALSE(seen());
  set(*made, kNow + 2000);  // her last session on one node closed
  set(*made, kNow + 1000);  // another node's word comes later, of an earlier moment
  CHECK(seen() == kNow + 2000);
  set(*made, kNow + 3000);
  CHECK(seen() == kNow + 3000);
}
