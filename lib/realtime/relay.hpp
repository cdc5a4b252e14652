// Several nodes (docs/scaling.md "Pushes across nodes"): what one node publishes to its sessions
// reaches the sessions of every node, through NATS. Every push goes to this node's sessions (the
// hub) and once to the subject tourbus.events; every node hands what the others published there
// to its own sessions. Taking rights away (revocation, a new role) travels the same way, so a
// token revoked on one node ends its sessions on all of them. Presence and the typing throttle
// stay per node.
// Lives on the daemon's event loop; NATS's own threads only post to it.
#pragma once

#include <atomic>
#include <cstdint>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>

#include "realtime/hub.hpp"

namespace tourbus::realtime {

class Relay final : public events::Sink, public sessions::Control {
 public:
  // The subject every node publishes to and listens on.
  static constexpr const char* kSubject = "tourbus.events";

  // `urls`: NATS server URLs, comma-separated. Connects in the background and again whenever the
  // connection drops; pushes made meanwhile reach this node's sessions only.
  Relay(boost::asio::io_context& io, Hub& hub, std::string node, const std::string& urls);
  ~Relay() override;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  bool connected() const { return connected_.load(); }
  const std::atomic<bool>& connected_flag() const { return connected_; }
  struct Stats {
    std::atomic<std::uint64_t> sent{0}, received{0}, dropped{0}, reconnects{0};
  };
  const Stats& stats() const { return stats_; }

  // events::Sink: published here and on NATS; the rest is this node's.
  void publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) override;
  bool publish_session(std::int64_t user, std::uint64_t session, const events::EventPtr& event, bool others) override {
    return hub_.publish_session(user, session, event, others);
  }
  events::Presence presence(std::int64_t user) const override { return hub_.presence(user); }
  bool allow_typing(std::int64_t user, std::int64_t conversation) override {
    return hub_.allow_typing(user, conversation);
  }
  std::optional<events::Presence> set_away(std::int64_t user, std::uint64_t session, bool away) override {
    return hub_.set_away(user, session, away);
  }

  // sessions::Control: here and on every other node.
  std::size_t end_token(std::int64_t user, std::int64_t token, std::string_view reason) override;
  std::size_t end_user(std::int64_t user, std::string_view reason) override;
  std::size_t set_role(std::int64_t user, Role role) override;

  // What another node sent (on NATS's thread): checked, then handed to the loop. Public for the
  // fuzz and unit tests; false (and counted as dropped) when it is not a relay message.
  bool receive(std::string_view bytes);

 private:
  struct Nats;
  void send(const std::string& bytes);

  boost::asio::io_context& io_;
  Hub& hub_;
  std::string node_;
  std::atomic<bool> connected_{false}, closing_{false};
  Stats stats_;
  std::unique_ptr<Nats> nats_;
};

}  // namespace tourbus::realtime
