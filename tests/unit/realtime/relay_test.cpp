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

}  // namespace

TEST_CASE("the relay hands other nodes' pushes and revocations to this node's sessions, and drops the rest") {
  boost::asio::io_context io;
  realtime::Hub hub;
  realtime::Relay relay(io, hub, "tb2", "nats://127.0.0.1:1");
  CHECK_FALSE(relay.connected());
  Seen anna, bob;
  hub.attach(3, hub.new_session(), &anna, 11);
  hub.attach(4, hub.new_session(), &bob, 12);

  auto e = events::push("typing", boost::json::object{{"conversation", 7}, {"user", "carl"}});
  CHECK(relay.receive(event_from("tb1", "[3,99]", e)));
  CHECK(relay.receive(event_from("tb2", "[3]", e)));  // its own: delivered already, not twice
  io.run();
  io.restart();
  REQUIRE(anna.events.size() == 1);
  CHECK(anna.events[0] == "typing {\"conversation\":7,\"user\":\"carl\"}");
  CHECK(bob.events.empty());

  // A revocation and a role change made on another node.
  CHECK(relay.receive(R"({"node":"tb1","kind":"set_role","user":4,"role":"guide"})"));
  CHECK(relay.receive(R"({"node":"tb1","kind":"end_token","user":4,"token":12,"reason":"revoked"})"));
  io.run();
  io.restart();
  CHECK(bob.roles == std::vector<Role>{Role::guide});
  CHECK(bob.revoked.size() == 1);
  CHECK(anna.revoked.empty());

  // Anything else is dropped and counted; nothing reaches a session.
  auto good = event_from("tb1", "[3]", e);
  auto dropped_before = relay.stats().dropped.load();
  for (std::string bad : {std::string(""), std::string("not json"), std::string("[1,2]"),
                          std::string(R"({"kind":"event"})"),                                     // no node
                          std::string(R"({"node":"tb1","kind":"teleport","user":3})"),            // unknown kind
                          std::string(R"({"node":"tb1","kind":"set_role","user":3,"role":"god"})"),  // no such role
                          std::string(R"({"node":"tb1","kind":"end_user","user":"3","reason":"x"})"),
                          good.substr(0, good.find('\n')),                                       // no event text
                          event_from("tb1", "[\"3\"]", e),                                       // a user not a number
                          std::string(R"({"node":"tb1","kind":"event","users":[3],"platform":false,"name":"typing","data":[0,999]})") +
                              "\n{}"}) {                                                        // data past the text
    INFO(bad);
    CHECK_FALSE(relay.receive(bad));
  }
  CHECK(relay.stats().dropped.load() == dropped_before + 10);
  io.run();
  CHECK(anna.events.size() == 1);
  CHECK(anna.revoked.empty());
}
