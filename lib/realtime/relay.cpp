#include "realtime/relay.hpp"

#include <nats/nats.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"

namespace tourbus::realtime {

namespace asio = boost::asio;
namespace json = boost::json;

// A relay message: one line of JSON (who sent it, what kind, to whom), then for an event the
// event's own JSON text:
//   {"node":"tb1","kind":"event","users":[3,4],"platform":false,"name":"receipt","data":[29,140]}\n{...}
//   {"node":"tb1","kind":"event","users":[3,4],"platform":true,"name":"message","data":[29,140],
//    "conversation":7,"seq":42}\n{...}
//   {"node":"tb1","kind":"end_token","user":3,"token":12,"reason":"..."}
//   {"node":"tb1","kind":"end_user","user":3,"reason":"..."}
//   {"node":"tb1","kind":"set_role","user":3,"role":"guide"}
//   {"node":"tb1","kind":"presence","user":3,"status":"away"}       this node's sessions of the user
//   {"node":"tb1","kind":"state","reset":true,"present":[[3,"online"],[4,"away"]]}   all of them
//   {"node":"tb1","kind":"hello","sessions":77,"leader":false}      send me your state
//   {"node":"tb1","kind":"beat","sessions":77,"leader":true}        alive (its sessions' prefix, leads)
//   {"node":"tb1","kind":"session","user":3,"session":330712481793,"others":false,"name":"call.signal",
//    "data":[29,140]}\n{...}                                         a push to one session (or the others)
//   {"node":"tb1","kind":"closed","user":3,"session":330712481793}  a session of tb1 closed
// "data" is where the event's data lies in its JSON text (offset, length).
// Questions to one node (ask) go to tourbus.node.<name> with a reply subject of the asker's own
// (tourbus.reply.<name>.<random>.<n>); their bytes are the api's (api/on_leader.cpp).

struct Relay::Nats {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  natsSubscription* subscription = nullptr;
  natsSubscription* questions = nullptr;  // tourbus.node.<this node>
  natsSubscription* answers = nullptr;    // the inbox
  ~Nats() {
    for (auto* s : {subscription, questions, answers})
      if (s) natsSubscription_Destroy(s);
    if (connection) {
      natsConnection_Close(connection);
      natsConnection_Destroy(connection);
    }
    if (options) natsOptions_Destroy(options);
  }
};

namespace {

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* relay = static_cast<Relay*>(closure);
  relay->receive(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
}

void on_question(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* relay = static_cast<Relay*>(closure);
  const char* reply = natsMsg_GetReply(msg);
  if (reply && *reply)
    relay->asked(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))), reply);
  natsMsg_Destroy(msg);
}

void on_answer(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* relay = static_cast<Relay*>(closure);
  relay->replied(natsMsg_GetSubject(msg),
                 std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))),
                 natsMsg_IsNoResponders(msg));
  natsMsg_Destroy(msg);
}

// A session prefix of 30 random bits (not 0): sessions stay below 2^62. Two nodes drawing the
// same prefix (about one in a billion for a pair) would each take the other's session pushes too.
std::uint64_t random_prefix() {
  auto p = std::stoull(crypto::sha256_hex(crypto::random_token(16)).substr(0, 8), nullptr, 16) & ((1u << 30) - 1);
  return p ? p : 1;
}

}  // namespace

Relay::Relay(asio::io_context& io, Hub& hub, Backfill& backfill, std::string node, const std::string& urls)
    : io_(io),
      hub_(hub),
      node_(std::move(node)),
      down_since_(timeutil::now_ms()),
      sequencer_(io, backfill, [this](const Ordered& push) { hub_.publish(push.users, push.event, push.platform); }),
      beat_(io),
      prefix_(random_prefix()),
      inbox_("tourbus.reply." + node_ + "." + crypto::random_token(8)),
      nats_(std::make_unique<Nats>()) {
  hub_.number_sessions_after(prefix_ << 32);
  auto log = logging::get("cluster");
  auto check = [&](natsStatus s, const char* what) {
    if (s != NATS_OK) throw std::runtime_error(std::string("nats: ") + what + ": " + natsStatus_GetText(s));
  };
  check(natsOptions_Create(&nats_->options), "options");
  check(natsOptions_SetURL(nats_->options, urls.c_str()), "cluster.nats");
  check(natsOptions_SetName(nats_->options, ("tourbusd " + node_).c_str()), "name");
  check(natsOptions_SetMaxReconnect(nats_->options, -1), "reconnect");  // for ever
  check(natsOptions_SetReconnectWait(nats_->options, 500), "reconnect wait");
  check(natsOptions_SetReconnectJitter(nats_->options, 100, 1000), "reconnect jitter");
  // Publishes while disconnected are dropped by send(), not buffered: the other nodes read what
  // they missed from the store when linked again (Sequencer::catch_up). libnats still buffers (its
  // smallest buffer is its default, 8 MB) what is published in the moment before the drop is
  // noticed; it arrives late, and the sequencers drop the seqs they delivered meanwhile.
  check(natsOptions_SetDisconnectedCB(
            nats_->options,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              if (self->connected_.exchange(false)) self->down_since_ = timeutil::now_ms();
              asio::post(self->io_, [self] { self->unlinked_ = true; });
              if (!self->closing_)
                logging::get("cluster")->warn("cluster.nats_disconnected (pushes reach this node's sessions only)");
            },
            this),
        "callbacks");
  check(natsOptions_SetReconnectedCB(
            nats_->options,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              self->connected_ = true;
              ++self->stats_.reconnects;
              logging::get("cluster")->info("cluster.nats_reconnected");
              asio::post(self->io_, [self] { self->linked(false); });
            },
            this),
        "callbacks");
  // Not there at start: keep trying in the background (the store has everything meanwhile).
  check(natsOptions_SetRetryOnFailedConnect(
            nats_->options, true,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              self->connected_ = true;
              logging::get("cluster")->info("cluster.nats_connected");
              asio::post(self->io_, [self] { self->linked(false); });
            },
            this),
        "retry");
  auto s = natsConnection_Connect(&nats_->connection, nats_->options);
  if (s == NATS_OK) {
    connected_ = true;
    log->info("cluster.nats_connected");
    asio::post(io_, [this] { linked(true); });
  } else if (s == NATS_NOT_YET_CONNECTED) {
    log->warn("cluster.nats_not_yet_connected (trying in the background)");
  } else {
    check(s, "connect");
  }
  check(natsConnection_Subscribe(&nats_->subscription, nats_->connection, kSubject, on_message, this), "subscribe");
  check(natsConnection_Subscribe(&nats_->questions, nats_->connection, subject_of(node_).c_str(), on_question, this), "subscribe");
  check(natsConnection_Subscribe(&nats_->answers, nats_->connection, (inbox_ + ".*").c_str(), on_answer, this), "subscribe");
  beat();
}

Relay::~Relay() {
  closing_ = true;
  nats_.reset();
}

void Relay::send(const std::string& bytes) {
  if (!connected_) return;  // sessions elsewhere catch up from the store
  if (natsConnection_Publish(nats_->connection, kSubject, bytes.data(), static_cast<int>(bytes.size())) == NATS_OK)
    ++stats_.sent;
}

void Relay::linked(bool first) {
  // What other nodes stored while this one heard nothing from them (and pushes stored just before,
  // which may have been on their way).
  if (!first) sequencer_.catch_up(down_since_.load() - Sequencer::kRecentMs);
  unlinked_ = false;
  auto now = std::chrono::steady_clock::now();
  for (auto& [name, peer] : peers_) peer.heard = now;  // time to answer the hello
  say_alive("hello");
  send_state();
}

void Relay::say_alive(const char* kind) {
  send(json::serialize(json::object{{"node", node_}, {"kind", kind}, {"sessions", prefix_}, {"leader", leading_}}));
}

void Relay::beat() {
  say_alive("beat");
  if (!unlinked_) {  // cut off, this node cannot tell who is gone
    auto gone = std::chrono::steady_clock::now() - kPeerGoneMs;
    std::vector<std::string> names;
    for (const auto& [name, peer] : peers_)
      if (peer.heard < gone) names.push_back(name);
    for (const auto& name : names) forget(name);
  }
  beat_.expires_after(kBeatMs);
  beat_.async_wait([this](boost::system::error_code ec) {
    if (!ec) beat();
  });
}

void Relay::send_state() {
  auto present = hub_.present();
  std::size_t i = 0;
  bool first = true;
  do {
    json::array chunk;
    for (; i < present.size() && chunk.size() < kStateChunk; ++i)
      chunk.push_back(json::array{present[i].first, events::presence_name(present[i].second)});
    send(json::serialize(json::object{{"node", node_}, {"kind", "state"}, {"reset", first}, {"present", std::move(chunk)}}));
    first = false;
  } while (i < present.size());
}

events::Presence Relay::remote_best(std::int64_t user) const {
  auto best = events::Presence::offline;
  for (const auto& [name, peer] : peers_)
    if (auto it = peer.present.find(user); it != peer.present.end()) best = std::max(best, it->second);
  return best;
}

events::Presence Relay::presence(std::int64_t user) const { return std::max(hub_.presence(user), remote_best(user)); }

std::optional<events::Presence> Relay::presence_changed(std::int64_t user, events::Presence before,
                                                        events::Presence after) {
  if (before == after || user == 0) return std::nullopt;
  send(json::serialize(
      json::object{{"node", node_}, {"kind", "presence"}, {"user", user}, {"status", events::presence_name(after)}}));
  auto elsewhere = remote_best(user);
  if (std::max(before, elsewhere) == std::max(after, elsewhere)) return std::nullopt;
  return std::max(after, elsewhere);
}

std::optional<events::Presence> Relay::set_away(std::int64_t user, std::uint64_t session, bool away) {
  auto before = hub_.presence(user);
  auto after = hub_.set_away(user, session, away);
  if (!after) return std::nullopt;
  return presence_changed(user, before, *after);
}

void Relay::remote(const std::string& node, bool reset, const std::vector<std::pair<std::int64_t, events::Presence>>& users,
                   bool gone) {
  auto& peer = peers_[node];
  peer.heard = std::chrono::steady_clock::now();
  std::vector<std::pair<std::int64_t, events::Presence>> before;  // each user touched, as they were
  if (reset)
    for (const auto& [user, p] : peer.present) before.emplace_back(user, presence(user));
  for (const auto& [user, p] : users) before.emplace_back(user, presence(user));
  if (reset) peer.present.clear();
  for (const auto& [user, p] : users) {
    if (p == events::Presence::offline)
      peer.present.erase(user);
    else
      peer.present[user] = p;
  }
  std::sort(before.begin(), before.end(), [](const auto& a, const auto& b) { return a.first < b.first; });
  for (std::size_t i = 0; i < before.size(); ++i) {
    if (i > 0 && before[i].first == before[i - 1].first) continue;  // the first is the state before
    auto now_is = presence(before[i].first);
    if (now_is != before[i].second && announce_) announce_(before[i].first, now_is, gone);
  }
}

void Relay::forget(const std::string& node) {
  auto it = peers_.find(node);
  if (it == peers_.end()) return;
  logging::get("cluster")->warn("cluster.node_unheard node={} users={} (nothing from it for {} s)", node,
                                it->second.present.size(), kPeerGoneMs.count() / 1000);
  auto silent_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - it->second.heard);
  auto prefix = it->second.prefix;
  remote(node, true, {}, true);
  peers_.erase(node);
  // Its sessions are gone with it: the calls and previews they were in hear so (on the leader).
  if (prefix && closed_) closed_(0, 0, prefix);
  // A node that died may have stored messages it never published: deliver them from the store
  // (those of a conversation that went on were delivered already, behind a later push).
  sequencer_.catch_up(timeutil::now_ms() - silent_ms.count() - Sequencer::kRecentMs);
}

std::map<std::string, std::size_t> Relay::peers() const {
  std::map<std::string, std::size_t> out;
  for (const auto& [name, peer] : peers_) out[name] = peer.present.size();
  return out;
}

void Relay::local(std::vector<std::int64_t> users, const events::EventPtr& event, bool platform,
                  std::optional<std::pair<std::int64_t, std::int64_t>> order) {
  if (!order) {
    hub_.publish(users, event, platform);
    return;
  }
  sequencer_.push(order->first, Ordered{order->second, std::move(users), event, platform});
}

namespace {

// Where an event's data lies in its JSON text: [offset, length].
json::array span_of(const events::Event& event) {
  auto data = event.data();
  return json::array{static_cast<std::int64_t>(data.data() - event.json().data()), static_cast<std::int64_t>(data.size())};
}

// A `message` push's conversation and seq (from its data: api/json_out.cpp).
std::optional<std::pair<std::int64_t, std::int64_t>> order_of(const events::Event& event) {
  if (event.name() != "message") return std::nullopt;
  boost::system::error_code ec;
  auto data = json::parse(event.data(), ec);
  if (ec || !data.is_object()) return std::nullopt;
  const auto* conversation = data.as_object().if_contains("conversation");
  const auto* seq = data.as_object().if_contains("seq");
  if (!conversation || !conversation->is_int64() || !seq || !seq->is_int64()) return std::nullopt;
  return std::pair{conversation->as_int64(), seq->as_int64()};
}

}  // namespace

void Relay::publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) {
  if (event->name() == "presence") {  // every node announces presence to its own sessions
    hub_.publish(users, event, platform);
    return;
  }
  auto order = order_of(*event);
  local(std::vector<std::int64_t>(users.begin(), users.end()), event, platform, order);
  json::array to;
  to.reserve(users.size());
  for (auto u : users) to.push_back(u);
  json::object head{{"node", node_},         {"kind", "event"},       {"users", std::move(to)},
                    {"platform", platform}, {"name", event->name()}, {"data", span_of(*event)}};
  if (order) {
    head["conversation"] = order->first;
    head["seq"] = order->second;
  }
  send(json::serialize(head) + "\n" + event->json());
}

bool Relay::publish_session(std::int64_t user, std::uint64_t session, const events::EventPtr& event, bool others) {
  // The user's other sessions here too when the session is another node's (the copy on NATS
  // comes back to this node ignored).
  bool here = (others || prefix_of(session) == prefix_) && hub_.publish_session(user, session, event, others);
  if (here && !others) return true;
  if (!connected_) return here;
  // On another node, or the user's other sessions anywhere.
  json::object head{{"node", node_},   {"kind", "session"},     {"user", user},          {"session", session},
                    {"others", others}, {"name", event->name()}, {"data", span_of(*event)}};
  send(json::serialize(head) + "\n" + event->json());
  return true;
}

void Relay::session_closed(std::int64_t user, std::uint64_t session) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "closed"}, {"user", user}, {"session", session}}));
}

void Relay::set_leading(bool on) {
  if (on == leading_) return;
  leading_ = on;
  say_alive("beat");
}

std::string Relay::leader() const {
  if (leading_) return node_;
  // The one whose latest beat says so (two only for a moment, while the lead changes hands).
  const std::pair<const std::string, Peer>* best = nullptr;
  for (const auto& kv : peers_)
    if (kv.second.leads && (!best || kv.second.heard > best->second.heard)) best = &kv;
  return best ? best->first : std::string();
}

void Relay::heard_from(const std::string& node, std::uint64_t prefix, bool leads) {
  auto& peer = peers_[node];
  peer.heard = std::chrono::steady_clock::now();
  if (prefix) peer.prefix = prefix;
  peer.leads = leads;
}

void Relay::ask(const std::string& node, const std::string& request, std::chrono::milliseconds timeout,
                std::function<void(Result<std::string>)> done) {
  if (!connected_) {
    asio::post(io_, [done = std::move(done), node] {
      done(Error(Code::unavailable, "the cluster's NATS is out of reach: node " + node + " cannot be asked"));
    });
    return;
  }
  auto id = ++last_ask_;
  auto reply = inbox_ + "." + std::to_string(id);
  auto& a = asked_[id];
  a.done = std::move(done);
  a.timer = std::make_unique<asio::steady_timer>(io_, timeout);
  a.timer->async_wait([this, id, node, timeout](boost::system::error_code ec) {
    if (ec) return;
    auto it = asked_.find(id);
    if (it == asked_.end()) return;
    auto done = std::move(it->second.done);
    asked_.erase(it);
    done(Error(Code::unavailable, "node " + node + " did not answer within " + std::to_string(timeout.count()) + " ms"));
  });
  if (natsConnection_PublishRequest(nats_->connection, subject_of(node).c_str(), reply.c_str(), request.data(),
                                    static_cast<int>(request.size())) != NATS_OK) {
    auto done = std::move(a.done);
    asked_.erase(id);
    asio::post(io_, [done = std::move(done), node] {
      done(Error(Code::unavailable, "the cluster's NATS is out of reach: node " + node + " cannot be asked"));
    });
    return;
  }
  ++stats_.sent;
}

void Relay::replied(std::string_view subject, std::string_view bytes, bool none) {
  if (subject.size() <= inbox_.size() + 1 || subject.substr(0, inbox_.size()) != inbox_) return;
  std::uint64_t id = 0;
  for (char c : subject.substr(inbox_.size() + 1)) {
    if (c < '0' || c > '9' || id > (1ull << 60)) return;
    id = id * 10 + static_cast<std::uint64_t>(c - '0');
  }
  ++stats_.received;
  asio::post(io_, [this, id, none, answer = std::string(bytes)]() mutable {
    auto it = asked_.find(id);
    if (it == asked_.end()) return;  // too late: told it timed out
    auto done = std::move(it->second.done);
    it->second.timer->cancel();
    asked_.erase(it);
    if (none) done(Error(Code::unavailable, "no node answers there (it stopped or lost the lead)"));
    else done(std::move(answer));
  });
}

void Relay::asked(std::string_view bytes, std::string reply_to) {
  ++stats_.received;
  asio::post(io_, [this, request = std::string(bytes), reply_to = std::move(reply_to)]() mutable {
    if (!serve_) return;
    serve_(std::move(request), [this, reply_to](std::string answer) {
      if (connected_)
        natsConnection_Publish(nats_->connection, reply_to.c_str(), answer.data(), static_cast<int>(answer.size()));
    });
  });
}

std::size_t Relay::end_token(std::int64_t user, std::int64_t token, std::string_view reason) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "end_token"}, {"user", user}, {"token", token}, {"reason", reason}}));
  return hub_.end_token(user, token, reason);
}

std::size_t Relay::end_user(std::int64_t user, std::string_view reason) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "end_user"}, {"user", user}, {"reason", reason}}));
  return hub_.end_user(user, reason);
}

std::size_t Relay::set_role(std::int64_t user, Role role) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "set_role"}, {"user", user}, {"role", role_name(role)}}));
  return hub_.set_role(user, role);
}

bool Relay::receive(std::string_view bytes) {
  auto drop = [&] {
    ++stats_.dropped;
    return false;
  };
  auto nl = bytes.find('\n');
  boost::system::error_code ec;
  auto head_value = json::parse(bytes.substr(0, nl), ec);
  if (ec || !head_value.is_object()) return drop();
  const auto& head = head_value.as_object();
  const auto* node = head.if_contains("node");
  const auto* kind = head.if_contains("kind");
  if (!node || !node->is_string() || !kind || !kind->is_string()) return drop();
  if (node->as_string() == node_) return true;  // this node's own, delivered already
  auto int_at = [&](const char* key) -> std::optional<std::int64_t> {
    const auto* v = head.if_contains(key);
    if (!v || !v->is_int64()) return std::nullopt;
    return v->as_int64();
  };
  auto text_at = [&](const char* key) -> std::optional<std::string> {
    const auto* v = head.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  // The event after the head: its name, its JSON text, where its data lies in it ("data").
  auto event_after_head = [&]() -> events::EventPtr {
    auto name = text_at("name");
    const auto* data = head.if_contains("data");
    if (nl == std::string_view::npos || !name || !data || !data->is_array()) return nullptr;
    std::string text(bytes.substr(nl + 1));
    const auto& span = data->as_array();
    if (span.size() != 2 || !span[0].is_int64() || !span[1].is_int64()) return nullptr;
    auto off = span[0].as_int64(), len = span[1].as_int64();
    if (off < 0 || len < 0 || static_cast<std::uint64_t>(off) + static_cast<std::uint64_t>(len) > text.size()) return nullptr;
    return std::make_shared<const events::Event>(std::move(*name), std::move(text),
                                                 std::pair{static_cast<std::size_t>(off), static_cast<std::size_t>(len)});
  };
  std::string k(kind->as_string());
  if (k == "event") {
    const auto* users = head.if_contains("users");
    const auto* platform = head.if_contains("platform");
    auto event = event_after_head();
    if (!users || !users->is_array() || !platform || !platform->is_bool() || !event) return drop();
    std::vector<std::int64_t> to;
    to.reserve(users->as_array().size());
    for (const auto& u : users->as_array()) {
      if (!u.is_int64()) return drop();
      to.push_back(u.as_int64());
    }
    std::optional<std::pair<std::int64_t, std::int64_t>> order;
    if (event->name() == "message") {  // in seq order: the sequencer needs both
      auto conversation = int_at("conversation");
      auto seq = int_at("seq");
      if (!conversation || !seq || *seq < 1) return drop();
      order = std::pair{*conversation, *seq};
    }
    ++stats_.received;
    asio::post(io_, [this, to = std::move(to), event, p = platform->as_bool(), order]() mutable {
      local(std::move(to), event, p, order);
    });
    return true;
  }
  auto heard = [&](auto fn) {
    ++stats_.received;
    asio::post(io_, std::move(fn));
    return true;
  };
  auto presence_of = [](std::string_view name) -> std::optional<events::Presence> {
    for (auto p : {events::Presence::offline, events::Presence::away, events::Presence::online})
      if (events::presence_name(p) == name) return p;
    return std::nullopt;
  };
  std::string from(node->as_string());
  if (k == "beat" || k == "hello") {
    // Older nodes send neither field: prefix 0 (unknown), not leading.
    auto prefix = int_at("sessions").value_or(0);
    const auto* leads = head.if_contains("leader");
    if (prefix < 0 || prefix >= (1ll << 30) || (leads && !leads->is_bool())) return drop();
    bool l = leads && leads->as_bool();
    return heard([this, from, p = static_cast<std::uint64_t>(prefix), l, hello = k == "hello"] {
      heard_from(from, p, l);
      if (hello) send_state();
    });
  }
  if (k == "state") {
    const auto* reset = head.if_contains("reset");
    const auto* present = head.if_contains("present");
    if (!reset || !reset->is_bool() || !present || !present->is_array()) return drop();
    std::vector<std::pair<std::int64_t, events::Presence>> users;
    users.reserve(present->as_array().size());
    for (const auto& entry : present->as_array()) {
      const auto* pair = entry.if_array();
      if (!pair || pair->size() != 2 || !(*pair)[0].is_int64() || !(*pair)[1].is_string()) return drop();
      auto p = presence_of((*pair)[1].as_string());
      if (!p) return drop();
      users.emplace_back((*pair)[0].as_int64(), *p);
    }
    return heard([this, from, r = reset->as_bool(), users = std::move(users)] { remote(from, r, users); });
  }
  auto user = int_at("user");
  if (!user) return drop();
  if (k == "session" || k == "closed") {
    auto session = int_at("session");
    if (!session || *session <= 0) return drop();
    auto s = static_cast<std::uint64_t>(*session);
    if (k == "closed") return heard([this, u = *user, s] {
        if (closed_) closed_(u, s, 0);
      });
    const auto* others = head.if_contains("others");
    auto event = event_after_head();
    if (!others || !others->is_bool() || !event) return drop();
    return heard([this, u = *user, s, event, o = others->as_bool()] {
      // The session itself only where it lives; the user's others on every node.
      if (o || prefix_of(s) == prefix_) hub_.publish_session(u, s, event, o);
    });
  }
  if (k == "presence") {
    auto status = text_at("status");
    auto p = status ? presence_of(*status) : std::nullopt;
    if (!p) return drop();
    return heard([this, from, u = *user, p = *p] { remote(from, false, {{u, p}}); });
  }
  if (k == "end_token") {
    auto token = int_at("token");
    auto reason = text_at("reason");
    if (!token || !reason) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, t = *token, r = std::move(*reason)] { hub_.end_token(u, t, r); });
    return true;
  }
  if (k == "end_user") {
    auto reason = text_at("reason");
    if (!reason) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, r = std::move(*reason)] { hub_.end_user(u, r); });
    return true;
  }
  if (k == "set_role") {
    auto name = text_at("role");
    auto role = name ? role_from_name(*name) : std::nullopt;
    if (!role) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, r = *role] { hub_.set_role(u, r); });
    return true;
  }
  return drop();
}

}  // namespace tourbus::realtime
