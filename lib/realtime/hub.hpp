// The hub: which sessions are open for which user, fan-out of events to them, presence
// (online while a session is open and not away), the typing throttle, and taking rights away from
// open sessions (revocation).
// Lives on the daemon's event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <unordered_map>
#include <utility>
#include <vector>

#include "core/events.hpp"
#include "core/sessions.hpp"

namespace tourbus::realtime {

// An open session (a WebSocket connection) that events can be queued on.
class Client {
 public:
  virtual ~Client() = default;
  // Queues the event, framed by the session's transport (once per event, shared by the sessions
  // of that transport); never blocks (a client that cannot keep up is closed by itself).
  virtual void deliver(const events::EventPtr& event) = 0;
  // Its rights are gone: it carries out nothing more, answers the request it is serving (if any),
  // then closes with `code`.
  virtual void revoke(std::uint16_t code, std::string_view reason) = 0;
  // It acts with this role from now on.
  virtual void set_role(Role role) = 0;
};

class Hub : public events::Sink, public sessions::Control {
 public:
  // A presence change to announce: the user's state before and after.
  struct Change {
    events::Presence before, after;
    bool changed() const { return before != after; }
  };

  // user 0 is the control socket's operator: such sessions receive what is published with
  // `platform`, and have no presence.
  // `token`: the token the session was opened with (0: the control socket).
  Change attach(std::int64_t user, std::uint64_t session, Client* client, std::int64_t token);
  Change detach(std::int64_t user, std::uint64_t session);

  void publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) override;
  bool publish_session(std::int64_t user, std::uint64_t session, const events::EventPtr& event, bool others) override;
  events::Presence presence(std::int64_t user) const override;
  bool allow_typing(std::int64_t user, std::int64_t conversation) override;
  std::optional<events::Presence> set_away(std::int64_t user, std::uint64_t session, bool away) override;
  std::optional<events::Presence> presence_changed(std::int64_t, events::Presence before, events::Presence after) override {
    if (before == after) return std::nullopt;
    return after;
  }
  // Every user with an open session here (not the control socket's), with their presence.
  std::vector<std::pair<std::int64_t, events::Presence>> present() const;

  std::size_t end_token(std::int64_t user, std::int64_t token, std::string_view reason) override;
  std::size_t end_user(std::int64_t user, std::string_view reason) override;
  std::size_t set_role(std::int64_t user, Role role) override;

  // A new session's number, unique among the sessions of every transport.
  std::uint64_t new_session() { return ++last_session_; }
  // Numbers sessions after `last` from now on (a node of a cluster: its own range, Relay).
  void number_sessions_after(std::uint64_t last) { last_session_ = last; }

  std::size_t sessions() const { return count_; }
  std::size_t users_online() const { return sessions_.size() - (sessions_.contains(0) ? 1 : 0); }

 private:
  struct Entry {
    std::uint64_t session;
    Client* client;
    bool away;
    std::int64_t token;
  };
  // The clients of the user's sessions that `pick` selects (a copy: a client may end meanwhile).
  template <class Pick>
  std::vector<Client*> clients(std::int64_t user, Pick pick) const;
  std::unordered_map<std::int64_t, std::vector<Entry>> sessions_;
  std::map<std::pair<std::int64_t, std::int64_t>, std::chrono::steady_clock::time_point> typing_;
  std::size_t count_ = 0;
  std::uint64_t last_session_ = 0;
};

}  // namespace tourbus::realtime
