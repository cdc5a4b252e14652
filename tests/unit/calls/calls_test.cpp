// Calls without a network: TURN credentials as coturn computes them, the quality score and its
// summary, the live registry (who is busy, which calls a device joined), and the records with
// calls a stopped daemon left open.
#include <catch2/catch.hpp>

#include "../support.hpp"
#include "calls/live.hpp"
#include "calls/records.hpp"
#include "calls/turn.hpp"
#include "chat/conversations.hpp"
#include "core/config.hpp"
#include "store/database.hpp"
#include "store/users.hpp"
#include "store/writer.hpp"

using namespace tourbus;

TEST_CASE("TURN credentials follow coturn's REST scheme and need the secret", "[calls]") {
  // Computed independently: base64(HMAC-SHA1("north-gate-secret", "1800003600:alice")).
  CHECK(calls::turn_password("north-gate-secret", "1800003600:alice") == "6F3d9xKIvajLO3DOCYWS+HvyDLI=");
  config::Config c;
  c.calls_stun_urls = "stun:stun.example.com:3478";
  c.calls_turn_urls = "turn:turn.example.com:3478?transport=udp, turns:turn.example.com:5349";
  c.calls_turn_secret = "north-gate-secret";
  c.calls_turn_ttl_seconds = 3600;
  auto servers = calls::ice_servers(c, "alice", 1'800'000'000'000);
  REQUIRE(servers.size() == 2);
  CHECK(servers[0].urls == std::vector<std::string>{"stun:stun.example.com:3478"});
  CHECK(servers[0].username.empty());
  CHECK(servers[1].urls.size() == 2);
  CHECK(servers[1].username == "1800003600:alice");
  CHECK(servers[1].credential == "6F3d9xKIvajLO3DOCYWS+HvyDLI=");
  // TURN URLs without the secret are refused by the config check; nothing configured: no servers.
  c.calls_turn_secret.clear();
  CHECK_FALSE(config::validate(c).ok());
  c.calls_turn_urls = "http://turn.example.com";
  c.calls_turn_secret = "x";
  CHECK_FALSE(config::validate(c).ok());
  CHECK(calls::ice_servers(config::Config{}, "alice", 0).empty());
}

TEST_CASE("a quality sample scores good, fair or poor, and the summary keeps the worst", "[calls]") {
  using calls::Sample;
  CHECK(calls::score(Sample{40, 0, 1200, 30, 720}, true) == "good");
  CHECK(calls::score(Sample{300, 0, 1200, 30, 720}, true) == "fair");   // round trip over 250 ms
  CHECK(calls::score(Sample{40, 4, 1200, 30, 720}, true) == "fair");    // 3% lost or more
  CHECK(calls::score(Sample{40, 0, 120, 30, 360}, true) == "fair");     // under 150 kbit/s
  CHECK(calls::score(Sample{40, 0, 185, 19, 360}, true) == "good");     // a phone's picture on a busy machine
  CHECK(calls::score(Sample{40, 0, 1200, 12, 720}, true) == "fair");    // under 15 fps
  CHECK(calls::score(Sample{40, 0, 1200, 5, 720}, true) == "poor");     // under 8 fps
  CHECK(calls::score(Sample{40, 0, 50, 30, 360}, true) == "poor");      // under 60 kbit/s
  CHECK(calls::score(Sample{40, 12, 1200, 30, 720}, true) == "poor");
  CHECK(calls::score(Sample{40, 0, 60, 0, 0}, false) == "good");        // audio: loss and round trip only
  CHECK(calls::score(Sample{500, 0, 60, 0, 0}, false) == "poor");
  calls::Quality q;
  calls::add(q, Sample{40, 0, 1200, 30, 720}, true);
  calls::add(q, Sample{600, 20, 80, 5, 180}, true);
  calls::add(q, Sample{40, 0, 1000, 30, 720}, true);
  CHECK(q.samples == 3);
  CHECK(q.score == "good");
  CHECK(q.worst_score == "poor");
  CHECK(*q.rtt_ms == Approx((40.0 + 600 + 40) / 3));
  CHECK(*q.bitrate_kbps == Approx((1200.0 + 80 + 1000) / 3));
  CHECK(q.height == 720);
}

TEST_CASE("the registry knows who is busy and which calls a device joined", "[calls]") {
  calls::Registry r;
  calls::Live a;
  a.id = 1;
  a.members = {{10, "alice", "joined", 7}, {11, "bob", "invited", 0}};
  r.add(std::move(a));
  CHECK(r.engaged(10) != nullptr);
  CHECK(r.engaged(10, 1) == nullptr);  // but for that call itself
  CHECK(r.engaged(11) == nullptr);     // being rung is not being busy
  auto* live = r.find(1);
  live->member(11)->state = "joined";
  live->member("bob")->session = 9;
  live->answered_at = 5;
  CHECK(r.joined_by(11, 9) == std::vector<std::int64_t>{1});
  CHECK(r.joined_by(11, 8).empty());  // another of bob's devices
  CHECK(r.active() == 1);
  CHECK(live->count("joined") == 2);
  r.remove(1);
  CHECK(r.find(1) == nullptr);
  CHECK(r.size() == 0);
}

TEST_CASE("call records keep members and outcome; calls left open end as failed", "[calls][store]") {
  test::TempDir dir;
  auto target = test::store_target(dir);
  store::Writer writer(target, {});
  store::Db db(target, store::Db::Mode::read_write);
  auto user = [&](const char* h) {
    store::User u;
    u.handle = h;
    u.display_name = h;
    u.role = "tourist";
    return store::users::insert(db, u)->id;
  };
  auto alice = user("alice"), bob = user("bob");
  chat::Conversation conv;
  conv.kind = "group";
  conv.created_at = conv.updated_at = 1;
  auto c = chat::conversations::insert(db, conv, std::nullopt);
  calls::CallRecord r;
  r.conversation_id = c;
  r.caller_id = alice;
  r.state = "ringing";
  r.created_at = 1000;
  auto id = calls::records::insert(db, r);
  calls::records::add_member(db, id, alice, "joined", 1000);
  calls::records::add_member(db, id, bob, "invited", std::nullopt);
  calls::records::set_member(db, id, bob, "joined", 2000);
  calls::records::answered(db, id, 2000);
  auto open = calls::records::find(db, id);
  REQUIRE(open);
  CHECK(open->state == "active");
  CHECK(open->answered_at == 2000);
  REQUIRE(open->members.size() == 2);
  CHECK(open->members[0].handle == "alice");  // the caller first
  CHECK(open->members[1].joined_at == 2000);
  auto second = calls::records::insert(db, r);
  calls::records::end(db, second, "declined", 1500, bob);
  auto third = calls::records::insert(db, r);  // still live on this node: kept
  calls::records::add_member(db, third, alice, "joined", 1000);
  auto ended = calls::records::fail_open(db, 9000, {third});
  REQUIRE(ended.size() == 1);
  CHECK(ended[0].id == id);
  CHECK(ended[0].conversation == c);
  CHECK(ended[0].users == std::vector<std::int64_t>{std::min(alice, bob), std::max(alice, bob)});  // both joined: told
  CHECK(calls::records::find(db, third)->state != "ended");
  auto failed = calls::records::find(db, id);
  CHECK((failed->state == "ended" && failed->outcome == "failed" && failed->ended_at == 9000));
  CHECK(failed->members[1].state == "left");
  CHECK(failed->members[1].left_at == 9000);
  CHECK(calls::records::list(db, c, 10).size() == 3);
  CHECK(calls::records::list(db, 0, 1).front().id == third);  // newest first
  CHECK(calls::records::find(db, second)->outcome == "declined");
}
