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
