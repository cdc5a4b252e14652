// A conversation's `message` pushes in seq order on every node (docs/scaling.md "Pushes across
// nodes"): the sequencer's holding, filling from what was stored, dropping what it delivered and
// catching up after an outage. The store here is a list of stored messages the test writes
// (Stored below); the real store behind api::StoreBackfill is driven by 067_cross_node.
#include <catch2/catch.hpp>

#include <chrono>

#include <boost/asio/io_context.hpp>
#include <boost/json.hpp>

#include "core/time.hpp"
#include "realtime/sequencer.hpp"

using namespace tourbus;
using realtime::Ordered;

namespace {

// What the store holds: per conversation, each seq and when it was stored.
struct Stored : realtime::Backfill {
  std::map<std::int64_t, std::map<std::int64_t, std::int64_t>> at;  // conversation: {seq: stored at}
  int reads = 0;
  std::vector<Ordered> messages(std::int64_t conversation, std::int64_t after, std::int64_t before, std::int64_t since_ms,
                                std::int64_t limit) override {
    ++reads;
    std::vector<Ordered> out;
    for (auto [seq, stored] : at[conversation])
      if (seq > after && seq < before && (since_ms == 0 || stored >= since_ms) && std::ssize(out) < limit)
        out.push_back(push(conversation, seq));
    return out;
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> active_since(std::int64_t since_ms) override {
    std::vector<std::pair<std::int64_t, std::int64_t>> out;
    for (const auto& [conversation, seqs] : at) {
      bool active = false;
      for (auto [seq, stored] : seqs) active = active || stored >= since_ms;
      if (active) out.emplace_back(conversation, seqs.rbegin()->first);
    }
    return out;
  }
  static Ordered push(std::int64_t conversation, std::int64_t seq) {
    return Ordered{seq, {1, 2},
                   events::push("message", boost::json::object{{"conversation", conversation}, {"seq", seq}})};
  }
  // Seqs `from`..`to` stored at `when`.
  void store(std::int64_t conversation, std::int64_t from, std::int64_t to, std::int64_t when) {
    for (auto s = from; s <= to; ++s) at[conversation][s] = when;
  }
};

struct Fixture {
  boost::asio::io_context io;
  Stored store;
  std::vector<std::pair<std::int64_t, std::int64_t>> got;  // (conversation, seq) as delivered
  realtime::Sequencer sequencer{io, store, [this](const Ordered& p) {
                                  auto data = boost::json::parse(p.event->data()).as_object();
                                  got.emplace_back(data.at("conversation").as_int64(), p.seq);
                                }};
  void push(std::int64_t conversation, std::int64_t seq) { sequencer.push(conversation, Stored::push(conversation, seq)); }
  // Runs the loop until `n` pushes were delivered (the gap's wait), or fails after 5 s.
  void until_got(std::size_t n) {
    auto deadline = std::chrono::steady_clock::now() + std::chrono::seconds(5);
    while (got.size() < n && std::chrono::steady_clock::now() < deadline) {
      io.restart();
      io.run_one_for(std::chrono::milliseconds(50));
    }
    REQUIRE(got.size() >= n);
  }
  std::vector<std::int64_t> seqs(std::int64_t conversation) const {
    std::vector<std::int64_t> out;
    for (auto [c, s] : got)
      if (c == conversation) out.push_back(s);
    return out;
  }
};

constexpr std::int64_t kOld = 1'000;  // stored long ago (ms since the epoch)

}  // namespace

TEST_CASE("pushes of a conversation are delivered in seq order whatever order they come in") {
  Fixture f;
  auto now = timeutil::now_ms();
  f.store.store(7, 1, 10, kOld);
  f.store.store(7, 11, 14, now);
  f.store.store(8, 1, 3, now);

  // The first push of a conversation: the messages before it stored lately (11..13 here) may still
  // be on their way, so they are read from the store and delivered first; older ones are not.
  f.push(7, 14);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{11, 12, 13, 14});
  CHECK(f.sequencer.stats().filled == 3);
  // Their own pushes, late, are not delivered twice.
  f.push(7, 12);
  f.push(7, 13);
  CHECK(f.seqs(7).size() == 4);
  CHECK(f.sequencer.stats().dropped == 2);

  // Out of order within the wait: held, then delivered in order, without reading the store.
  f.store.store(7, 15, 18, now);
  auto reads = f.store.reads;
  f.push(7, 17);
  f.push(7, 16);
  CHECK(f.seqs(7).back() == 14);  // 15 has not come: both held
  f.push(7, 15);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{11, 12, 13, 14, 15, 16, 17});
  f.push(7, 18);
  CHECK(f.store.reads == reads);
  CHECK(f.sequencer.stats().held == 2);

  // A gap that does not fill: after the wait, what is missing is read from the store, and the
  // held push follows it; the missing push, when it comes at last, is dropped.
  f.store.store(7, 19, 21, now);
  f.push(7, 21);
  CHECK(f.seqs(7).back() == 18);
  f.until_got(f.got.size() + 3);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21});
  f.push(7, 19);
  f.push(7, 20);
  CHECK(f.seqs(7).size() == 11);
  // Two gaps among the held pushes (22-23 before 24, 25-26 before 27): both filled, in order.
  f.store.store(7, 22, 27, now);
  f.push(7, 27);
  f.push(7, 24);
  f.until_got(f.got.size() + 6);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{11, 12, 13, 14, 15, 16, 17, 18, 19, 20, 21, 22, 23, 24, 25, 26, 27});

  // Conversations are independent: a gap in one holds nothing of another.
  f.push(8, 1);
  CHECK(f.seqs(8) == std::vector<std::int64_t>{1});
  CHECK(f.sequencer.conversations() == 2);
}

TEST_CASE("after an outage the sequencer delivers what was stored meanwhile, once and in order") {
  Fixture f;
  auto now = timeutil::now_ms();
  f.store.store(7, 1, 3, now - 60'000);
  f.push(7, 3);  // delivered up to 3 (1 and 2 are older than the recent window)
  CHECK(f.seqs(7) == std::vector<std::int64_t>{3});

  // NATS is down; other nodes store 4..6 in conversation 7 and 1..2 in conversation 9 (no push of
  // it seen here yet), and 1..5 in conversation 10 long before the outage.
  auto down = now - 5'000;
  f.store.store(7, 4, 6, now);
  f.store.store(9, 1, 2, now);
  f.store.store(10, 1, 5, kOld);
  f.sequencer.catch_up(down);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{3, 4, 5, 6});
  CHECK(f.seqs(9) == std::vector<std::int64_t>{1, 2});
  CHECK(f.seqs(10).empty());

  // The pushes of the outage that arrive after all are dropped; the next one is delivered.
  f.push(7, 5);
  f.push(9, 2);
  f.store.store(7, 7, 7, now);
  f.push(7, 7);
  CHECK(f.seqs(7) == std::vector<std::int64_t>{3, 4, 5, 6, 7});
  CHECK(f.seqs(9) == std::vector<std::int64_t>{1, 2});

  // Caught up already: a second catch-up delivers nothing.
  auto before = f.got.size();
  f.sequencer.catch_up(down);
  CHECK(f.got.size() == before);
}
