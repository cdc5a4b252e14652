// libFuzzer target: what a node accepts from NATS (realtime::Relay::receive, docs/scaling.md
// "Pushes across nodes"): every kind of relay message (events, message pushes in seq order,
// revocations, role changes, presence news, state, hello, beat, pushes to one session, sessions
// closed), checked and then handed to the
// loop, which delivers to two sessions of this node. NATS itself is not reached: the relay's URL
// points at loopback port 1, where nothing listens, and it keeps trying in the background.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/io_context.hpp>

#include "realtime/relay.hpp"

using namespace tourbus;

namespace {

struct Sink : realtime::Client {
  std::size_t got = 0;
  void deliver(const events::EventPtr& e) override { got += e->json().size(); }
  void revoke(std::uint16_t, std::string_view) override {}
  void set_role(Role) override {}
};

// No messages stored: the sequencer's reads find nothing (it delivers what it holds).
struct Empty : realtime::Backfill {
  std::vector<realtime::Ordered> messages(std::int64_t, std::int64_t, std::int64_t, std::int64_t, std::int64_t) override {
    return {};
  }
  std::vector<std::pair<std::int64_t, std::int64_t>> active_since(std::int64_t) override { return {}; }
};

struct World {
  boost::asio::io_context io;
  realtime::Hub hub;
  Empty store;
  realtime::Relay relay{io, hub, store, "tb2", "nats://127.0.0.1:1"};
  Sink a, b;
  World() {
    hub.attach(3, hub.new_session(), &a, 11);
    hub.attach(4, hub.new_session(), &b, 12);
    relay.on_presence([](std::int64_t, events::Presence, bool) {});
    relay.on_closed([](std::int64_t, std::uint64_t, std::uint64_t) {});
  }
};

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  static World* world = new World;  // lives for the whole run (its NATS threads too)
  world->relay.receive(std::string_view(reinterpret_cast<const char*>(data), size));
  world->io.poll();
  world->io.restart();
  return 0;
}
