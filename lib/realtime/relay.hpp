// Several nodes (docs/scaling.md "Pushes across nodes"): what one node publishes to its sessions
// reaches the sessions of every node, through NATS. Every push goes to this node's sessions (the
// hub) and once to the subject tourbus.events; every node hands what the others published there
// to its own sessions. Taking rights away (revocation, a new role) travels the same way, so a
// token revoked on one node ends its sessions on all of them. A conversation's `message` pushes go
// through the sequencer, this node's and the others' alike, so each session gets them in seq order;
// after NATS was out of reach the sequencer delivers from the store what was stored meanwhile.
// Presence is the best over every node's sessions: each node tells the others whenever its own
// sessions of a user change it, says it is alive every kBeatMs, and sends all it knows to a node
// that says hello (one that started or was linked again); a node not heard from for kPeerGoneMs
// is forgotten, and its users go offline. Each node announces presence changes to its own
// sessions (presence pushes are not relayed). The typing throttle stays per node.
// Sessions are numbered apart on each node (a random prefix in the upper 32 bits), so a push to
// one session (publish_session) goes to whichever node holds it; a session that closes is said
// to every node. Calls and previews on air live on the leader (docs/scaling.md): the others ask
// it by request and reply on its own subject, tourbus.node.<name>; beats say who leads.
// Lives on the daemon's event loop; NATS's own threads only post to it.
#pragma once

#include <atomic>
#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <string>
#include <unordered_map>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/error.hpp"
#include "realtime/hub.hpp"
#include "realtime/sequencer.hpp"

namespace tourbus::realtime {

class Relay final : public events::Sink, public sessions::Control {
 public:
  // The subject every node publishes to and listens on.
  static constexpr const char* kSubject = "tourbus.events";

  // `urls`: NATS server URLs, comma-separated. Connects in the background and again whenever the
  // connection drops; pushes made meanwhile reach this node's sessions only.
  // `backfill`: where the sequencer reads the messages it missed.
  Relay(boost::asio::io_context& io, Hub& hub, Backfill& backfill, std::string node, const std::string& urls);
  ~Relay() override;
  Relay(const Relay&) = delete;
  Relay& operator=(const Relay&) = delete;

  bool connected() const { return connected_.load(); }
  const std::atomic<bool>& connected_flag() const { return connected_; }
  struct Stats {
    std::atomic<std::uint64_t> sent{0}, received{0}, dropped{0}, reconnects{0};
  };
  const Stats& stats() const { return stats_; }
  const Sequencer& sequencer() const { return sequencer_; }

  // events::Sink: published here and on NATS; the rest is this node's.
  void publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) override;
  // To the session (or the user's other sessions, `others`) whichever node holds it: false when
  // it is not here and NATS is out of reach.
  bool publish_session(std::int64_t user, std::uint64_t session, const events::EventPtr& event, bool others) override;
  // The best over this node's sessions and what the other nodes said of theirs.
  events::Presence presence(std::int64_t user) const override;
  bool allow_typing(std::int64_t user, std::int64_t conversation) override {
    return hub_.allow_typing(user, conversation);
  }
  std::optional<events::Presence> set_away(std::int64_t user, std::uint64_t session, bool away) override;
  std::optional<events::Presence> presence_changed(std::int64_t user, events::Presence before,
                                                   events::Presence after) override;

  // How a user's presence is announced to this node's sessions when another node's news changed
  // it (api::announce_presence); `node_gone`: because a node was forgotten (nobody else records
  // when its users were last seen).
  using Announce = std::function<void(std::int64_t user, events::Presence now_is, bool node_gone)>;
  void on_presence(Announce announce) {
    announce_ = std::move(announce);
  }
  // A session of this node closed: the other nodes are told (the leader's calls and previews).
  void session_closed(std::int64_t user, std::uint64_t session);
  // Sessions of other nodes that closed: one (`prefix` 0), or every session of a node that is gone
  // (user and session 0, `prefix` its sessions' prefix: session >> 32).
  using Closed = std::function<void(std::int64_t user, std::uint64_t session, std::uint64_t prefix)>;
  void on_closed(Closed closed) { closed_ = std::move(closed); }
  static std::uint64_t prefix_of(std::uint64_t session) { return session >> 32; }

  // Whether this node leads (Membership): said in every beat, and at once when it changes.
  void set_leading(bool on);
  // The node that leads, as the beats say (this one when it leads); empty when none is known.
  std::string leader() const;
  // Asks `node` (on the loop): `done` gets its answer, or an Error (unavailable) when NATS is out
  // of reach, nobody answers on its subject, or no answer came within `timeout`. On the loop.
  void ask(const std::string& node, const std::string& request, std::chrono::milliseconds timeout,
           std::function<void(Result<std::string>)> done);
  // What this node answers when asked (on the loop): `answer(reply)` sends the reply.
  using Serve = std::function<void(std::string request, std::function<void(std::string)> answer)>;
  void on_ask(Serve serve) { serve_ = std::move(serve); }
  // This node's subject for questions.
  std::string subject_of(const std::string& node) const { return "tourbus.node." + node; }

  // The other nodes heard from, each with the users online or away on it.
  std::map<std::string, std::size_t> peers() const;

  static constexpr std::chrono::milliseconds kBeatMs{2000};
  static constexpr std::chrono::milliseconds kPeerGoneMs{10000};
  static constexpr std::size_t kStateChunk = 2000;  // users per state message

  // sessions::Control: here and on every other node.
  std::size_t end_token(std::int64_t user, std::int64_t token, std::string_view reason) override;
  std::size_t end_user(std::int64_t user, std::string_view reason) override;
  std::size_t set_role(std::int64_t user, Role role) override;

  // What another node sent (on NATS's thread): checked, then handed to the loop. Public for the
  // fuzz and unit tests; false (and counted as dropped) when it is not a relay message.
  bool receive(std::string_view bytes);
  // An answer to ask() (on NATS's thread): `subject` is the reply subject it came on; `none`:
  // NATS said nobody listens on the subject asked. Public for the unit tests.
  void replied(std::string_view subject, std::string_view bytes, bool none);
  // A question to this node (on NATS's thread), answered on `reply_to`.
  void asked(std::string_view bytes, std::string reply_to);

 private:
  struct Nats;
  void send(const std::string& bytes);
  // Says this node is alive (and whether it leads, and its sessions' prefix).
  void say_alive(const char* kind);
  // A push to this node's sessions: `message` pushes through the sequencer.
  void local(std::vector<std::int64_t> users, const events::EventPtr& event, bool platform,
             std::optional<std::pair<std::int64_t, std::int64_t>> order);
  // NATS is back (or there for the first time, `first`) after being out of reach since down_since_.
  void linked(bool first);
  // Every kBeatMs: says this node is alive, forgets nodes not heard from for kPeerGoneMs.
  void beat();
  // This node's users online or away, in messages of kStateChunk (the first replaces what the
  // others knew of this node).
  void send_state();
  // What another node said of its users (on the loop): `reset` forgets what it said before;
  // `gone`: it is forgotten.
  void remote(const std::string& node, bool reset, const std::vector<std::pair<std::int64_t, events::Presence>>& users,
              bool gone = false);
  // Forgets a node that is gone; its users are announced as they now are.
  void forget(const std::string& node);
  events::Presence remote_best(std::int64_t user) const;

  boost::asio::io_context& io_;
  Hub& hub_;
  std::string node_;
  std::atomic<bool> connected_{false}, closing_{false};
  std::atomic<std::int64_t> down_since_;  // ms since the epoch: NATS out of reach from then on
  Stats stats_;
  Sequencer sequencer_;
  struct Peer {
    std::chrono::steady_clock::time_point heard;
    std::unordered_map<std::int64_t, events::Presence> present;  // online or away there
    std::uint64_t prefix = 0;  // its sessions' (session >> 32)
    bool leads = false;        // as its last beat said
  };
  // A beat or hello from another node.
  void heard_from(const std::string& node, std::uint64_t prefix, bool leads);
  std::map<std::string, Peer> peers_;
  bool unlinked_ = true;  // on the loop: not linked to NATS (its callbacks post the changes)
  Announce announce_;
  Closed closed_;
  Serve serve_;
  bool leading_ = false;
  std::uint64_t prefix_;  // this node's sessions' prefix
  std::string inbox_;     // where answers to this node's questions come: inbox_.<n>
  std::uint64_t last_ask_ = 0;
  struct Asked {
    std::function<void(Result<std::string>)> done;
    std::unique_ptr<boost::asio::steady_timer> timer;
  };
  std::map<std::uint64_t, Asked> asked_;
  boost::asio::steady_timer beat_;
  std::unique_ptr<Nats> nats_;
};

}  // namespace tourbus::realtime
