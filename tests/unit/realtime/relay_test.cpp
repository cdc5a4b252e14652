// Pushes across nodes (docs/scaling.md "Pushes across nodes"): what a node accepts from NATS.
// The relay is made with a NATS URL nothing listens on (loopback, port 1): it keeps trying in the
// background, and receive() is what its subscription calls. Real NATS traffic between nodes is
// integration: 067_cross_node.
#include <catch2/catch.hpp>

#include <boost/asio/io_context.hpp>

#include "realtime/relay.hpp"

using namespace tourbus;

namespace {

struct Seen : realtime::Client {
  std::vector<std::string> events;
  std::vector<std::uint16_t> revoked;
  std::vector<Role> roles;
  void deliver(const events::EventPtr& e) override { events.push_back(e->name() + " " + std::string(e->data())); }
  void revoke(std::uint16_t code, std::string_view) override { revoked.push_back(code); }
  void set_role(Role r) override { roles.push_back(r); }
};

// The wire form of an event another node published.
std::string event_from(const std::string& node, const std::string& users, const events::EventPtr& e) {
  auto data = e->data();
  auto off = data.data() - e->json().data();
  return "{\"node\":\"" + node + "\",\"kind\":\"event\",\"users\":" + users + ",\"platform\":false,\"name\":\"" + e->name() +
         "\",\"data\":[" + std::to_string(off) + "," + std::to_string(data.size()) + "]}\n" + e->json();
}

// The wire form of a `message` push another node published: its conversation and seq in the head.
std::string message_from(const std::string& node, std::int64_t conversation, std::int64_t seq) {
  auto e = events::push("message", boost::json::object{{"conversation", conversation}, {"seq", seq}});
  auto wire = event_from(node, "[3]", e);
  return wire.insert(wire.find('}'), ",\"conversation\":" + std::to_string(conversation) + ",\"seq\":" + std::to_string(seq));
}

// A store with no messages (the sequencer's reads; sequencer_test.cpp tests them).
struct Empty : realtime::Backfill {
  std::vector<realtime::Ordered> messages(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t) override {
    return {};
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> active_since(std::int64_t) override { return {}; }
};

}  // namespace

TEST_CASE("the relay hands other nodes' pushes and revocations to this node's sessions, and drops the rest") {
  boost::asio::io_context io;
  realtime::Hub hub;
  Empty store;
  realtime::Relay relay(io, hub, store, "tb2", "nats://127.0.0.1:1");
  CHECK_FALSE(relay.connected());
  Seen anna, bob;
  hub.attach(3, hub.new_session(), &anna, 11);
  hub.attach(4, hub.new_session(), &bob, 12);

  auto e = events::push("typing", boost::json::object{{"conversation", 7}, {"user", "carl"}});
  CHECK(relay.receive(event_from("tb1", "[3,99]", e)));
  CHECK(relay.receive(event_from("tb2", "[3]", e)));  // its own: delivered already, not twice
  io.poll();
  io.restart();
  REQUIRE(anna.events.size() == 1);
  CHECK(anna.events[0] == "typing {\"conversation\":7,\"user\":\"carl\"}");
  CHECK(bob.events.empty());

  // A revocation and a role change made on another node.
  CHECK(relay.receive(R"({"node":"tb1","kind":"set_role","user":4,"role":"guide"})"));
  CHECK(relay.receive(R"({"node":"tb1","kind":"end_token","user":4,"token":12,"reason":"revoked"})"));
  io.poll();
  io.restart();
  CHECK(bob.roles == std::vector<Role>{Role::guide});
  CHECK(bob.revoked.size() == 1);
  CHECK(anna.revoked.empty());

  // A conversation's messages sent through other nodes reach the session in seq order.
  anna.events.clear();
  for (auto [node, seq] : {std::pair{"tb1", 1}, {"tb3", 3}, {"tb1", 2}, {"tb3", 4}}) CHECK(relay.receive(message_from(node, 7, seq)));
  io.poll();
  io.restart();
  CHECK(anna.events == std::vector<std::string>{"message {\"conversation\":7,\"seq\":1}", "message {\"conversation\":7,\"seq\":2}",
                                                "message {\"conversation\":7,\"seq\":3}", "message {\"conversation\":7,\"seq\":4}"});
  CHECK(relay.sequencer().stats().held == 1);
  anna.events.clear();

  // Anything else is dropped and counted; nothing reaches a session.
  auto good = event_from("tb1", "[3]", e);
  auto message = events::push("message", boost::json::object{{"conversation", 7}, {"seq", 1}});
  auto dropped_before = relay.stats().dropped.load();
  for (std::string bad : {std::string(""), std::string("not json"), std::string("[1,2]"),
                          std::string(R"({"kind":"event"})"),                                     // no node
                          std::string(R"({"node":"tb1","kind":"teleport","user":3})"),            // unknown kind
                          std::string(R"({"node":"tb1","kind":"set_role","user":3,"role":"god"})"),  // no such role
                          std::string(R"({"node":"tb1","kind":"end_user","user":"3","reason":"x"})"),
                          good.substr(0, good.find('\n')),                                       // no event text
                          event_from("tb1", "[\"3\"]", e),                                       // a user not a number
                          std::string(R"({"node":"tb1","kind":"event","users":[3],"platform":false,"name":"typing","data":[0,999]})") +
                              "\n{}",                                                          // data past the text
                          event_from("tb1", "[3]", message)}) {                                 // a message without its seq
    INFO(bad);
    CHECK_FALSE(relay.receive(bad));
  }
  CHECK(relay.stats().dropped.load() == dropped_before + 11);
  io.poll();
  CHECK(anna.events.empty());
  CHECK(anna.revoked.empty());
}

TEST_CASE("a user's presence is the best over every node's sessions, announced here when another node changes it") {
  boost::asio::io_context io;
  realtime::Hub hub;
  Empty store;
  realtime::Relay relay(io, hub, store, "tb2", "nats://127.0.0.1:1");
  std::vector<std::pair<std::int64_t, std::string>> announced;
  relay.on_presence([&](std::int64_t user, events::Presence p, bool) { announced.emplace_back(user, events::presence_name(p)); });
  using P = events::Presence;
  auto presence = [](const std::string& node, std::int64_t user, const std::string& status) {
    return "{\"node\":\"" + node + "\",\"kind\":\"presence\",\"user\":" + std::to_string(user) + ",\"status\":\"" + status + "\"}";
  };
  auto run = [&] {
    io.poll();
    io.restart();
  };

  // User 5 comes online on tb1, and is away on tb3: online here, announced once.
  CHECK(relay.receive(presence("tb1", 5, "online")));
  CHECK(relay.receive(presence("tb3", 5, "away")));
  run();
  CHECK(relay.presence(5) == P::online);
  CHECK(announced == std::vector<std::pair<std::int64_t, std::string>>{{5, "online"}});
  // Closing on tb1 leaves tb3's session, away.
  CHECK(relay.receive(presence("tb1", 5, "offline")));
  run();
  CHECK(relay.presence(5) == P::away);
  // tb3 says all it has again, without user 5: offline everywhere.
  CHECK(relay.receive(R"({"node":"tb3","kind":"state","reset":true,"present":[[6,"online"]]})"));
  run();
  CHECK(relay.presence(5) == P::offline);
  CHECK(relay.presence(6) == P::online);
  CHECK(announced == std::vector<std::pair<std::int64_t, std::string>>{{5, "online"}, {5, "away"}, {5, "offline"}, {6, "online"}});
  CHECK(relay.peers() == std::map<std::string, std::size_t>{{"tb1", 0}, {"tb3", 1}});

  // This node's own sessions: a change is announced only when the best over the nodes changes.
  Seen anna;
  auto session = hub.new_session();
  auto change = hub.attach(6, session, &anna, 11);
  CHECK_FALSE(relay.presence_changed(6, change.before, change.after));  // online on tb3 already
  change = hub.detach(6, session);
  CHECK_FALSE(relay.presence_changed(6, change.before, change.after));
  change = hub.attach(7, hub.new_session(), &anna, 12);
  CHECK(relay.presence_changed(7, change.before, change.after) == P::online);

  // Presence pushes reach this node's sessions (every node announces to its own: 067_cross_node).
  relay.publish(std::vector<std::int64_t>{7}, events::push("presence", boost::json::object{{"user", "eve"}, {"status", "online"}}), false);
  CHECK(anna.events.size() == 1);

  // Malformed presence news is dropped.
  auto dropped = relay.stats().dropped.load();
  CHECK_FALSE(relay.receive(presence("tb1", 5, "asleep")));
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"state","reset":true,"present":[[5]]})"));
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"state","present":[]})"));
  CHECK(relay.stats().dropped.load() == dropped + 3);
}

TEST_CASE("a push to one session reaches it on the node that holds it; beats say who leads; closed sessions are heard") {
  boost::asio::io_context io;
  realtime::Hub hub;
  Empty store;
  realtime::Relay relay(io, hub, store, "tb2", "nats://127.0.0.1:1");
  auto run = [&] {
    io.poll();
    io.restart();
  };
  // This node numbers its sessions in a range of its own (a prefix in the upper 32 bits).
  Seen phone, laptop;
  auto mine = hub.new_session();
  auto prefix = realtime::Relay::prefix_of(mine);
  CHECK(prefix != 0);
  CHECK(realtime::Relay::prefix_of(hub.new_session()) == prefix);
  hub.attach(3, mine, &phone, 11);
  hub.attach(3, hub.new_session(), &laptop, 11);
  auto elsewhere = (prefix + 1) << 32 | 1;  // a session of another node

  auto signal = events::push("call.signal", boost::json::object{{"id", 9}, {"type", "offer"}});
  auto to_session = [&](std::uint64_t session, bool others) {
    auto wire = event_from("tb1", "[]", signal);
    auto head = R"({"node":"tb1","kind":"session","user":3,"session":)" + std::to_string(session) +
                ",\"others\":" + (others ? "true" : "false");
    return head + wire.substr(wire.find(",\"name\""));
  };
  CHECK(relay.receive(to_session(mine, false)));       // this node's session: to it alone
  CHECK(relay.receive(to_session(elsewhere, false)));  // another node's: not here
  run();
  CHECK(phone.events.size() == 1);
  CHECK(laptop.events.empty());
  CHECK(relay.receive(to_session(elsewhere, true)));  // the user's other sessions: every one here
  run();
  CHECK(phone.events.size() == 2);
  CHECK(laptop.events.size() == 1);
  // Published here: this node's session gets it; a session elsewhere cannot be reached without NATS.
  CHECK(relay.publish_session(3, mine, signal, false));
  CHECK_FALSE(relay.publish_session(3, elsewhere, signal, false));
  CHECK(phone.events.size() == 3);
  CHECK(laptop.events.size() == 1);
  // The user's other sessions than one on another node: both here get it (call.taken).
  relay.publish_session(3, elsewhere, signal, true);
  CHECK(phone.events.size() == 4);
  CHECK(laptop.events.size() == 2);

  // Who leads: this node once it says so, else the node whose latest beat says it leads.
  CHECK(relay.leader().empty());
  CHECK(relay.receive(R"({"node":"tb1","kind":"beat","sessions":5,"leader":true})"));
  run();
  CHECK(relay.leader() == "tb1");
  relay.set_leading(true);
  CHECK(relay.leader() == "tb2");
  relay.set_leading(false);
  CHECK(relay.receive(R"({"node":"tb1","kind":"beat","sessions":5,"leader":false})"));
  CHECK(relay.receive(R"({"node":"tb3","kind":"hello","sessions":6,"leader":true})"));
  run();
  CHECK(relay.leader() == "tb3");

  // Another node's session closed: heard here (the calls and previews it was in, on the leader).
  std::vector<std::tuple<std::int64_t, std::uint64_t, std::uint64_t>> closed;
  relay.on_closed([&](std::int64_t user, std::uint64_t session, std::uint64_t p) { closed.emplace_back(user, session, p); });
  CHECK(relay.receive(R"({"node":"tb1","kind":"closed","user":3,"session":21474836481})"));
  run();
  CHECK(closed == std::vector<std::tuple<std::int64_t, std::uint64_t, std::uint64_t>>{{3, 21474836481u, 0}});

  // Asked something, this node answers through on_ask; asking without NATS fails at once.
  std::vector<std::string> questions;
  relay.on_ask([&](std::string q, std::function<void(std::string)> answer) {
    questions.push_back(q);
    answer("ok");  // not connected: nothing is sent
  });
  relay.asked("{\"op\":\"call.accept\"}", "tourbus.reply.tb1.x.1");
  std::optional<Result<std::string>> answered;
  relay.ask("tb3", "question", std::chrono::seconds(1), [&](Result<std::string> r) { answered.emplace(std::move(r)); });
  run();
  CHECK(questions == std::vector<std::string>{"{\"op\":\"call.accept\"}"});
  REQUIRE(answered);
  REQUIRE_FALSE(*answered);
  CHECK(answered->error().code == Code::unavailable);
  relay.replied("tourbus.reply.tb2.nothing.7", "late", false);  // not an answer of this node's: ignored

  // Malformed ones are dropped.
  auto dropped = relay.stats().dropped.load();
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"closed","user":3,"session":0})"));
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"closed","user":3})"));
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"beat","sessions":-1})"));
  CHECK_FALSE(relay.receive(R"({"node":"tb1","kind":"beat","sessions":5,"leader":"yes"})"));
  CHECK_FALSE(relay.receive(to_session(mine, false).substr(0, to_session(mine, false).find('\n'))));  // no event text
  CHECK(relay.stats().dropped.load() == dropped + 5);
}
