// The hub: which sessions are open for which user, fan-out of encoded frames to them, presence
// (online while a session is open and not away) and the typing throttle.
// Lives on the daemon's event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/events.hpp"

namespace tourbus::realtime {

// An open session (a WebSocket connection) that frames can be queued on.
class Client {
 public:
  virtual ~Client() = default;
  // Queues the frame; never blocks (a client that cannot keep up is closed by itself).
  virtual void deliver(const events::Frame& frame) = 0;
};

class Hub : public events::Sink {
 public:
  // A presence change to announce: the user's state before and after.
  struct Change {
    events::Presence before, after;
    bool changed() const { return before != after; }
  };

  // user 0 is the control socket's operator: such sessions receive what is published with
  // `platform`, and have no presence.
  Change attach(std::int64_t user, std::uint64_t session, Client* client);
  Change detach(std::int64_t user, std::uint64_t session);

  void publish(std::span<const std::int64_t> users, const events::Frame& frame, bool platform) override;
  events::Presence presence(std::int64_t user) const override;
  bool allow_typing(std::int64_t user, std::int64_t conversation) override;
  std::optional<events::Presence> set_away(std::int64_t user, std::uint64_t session, bool away) override;

  std::size_t sessions() const { return count_; }
  std::size_t users_online() const { return sessions_.size() - (sessions_.contains(0) ? 1 : 0); }

 private:
  struct Entry {
    std::uint64_t session;
    Client* client;
    bool away;
  };
  std::unordered_map<std::int64_t, std::vector<Entry>> sessions_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::chrono::steady_clock::time_point> typing_;
  std::size_t count_ = 0;
};

}  // namespace tourbus::realtime
