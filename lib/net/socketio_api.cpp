#include "net/socketio_api.hpp"

#include <charconv>
#include <deque>
#include <unordered_map>

#include <boost/json/parse.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>

#include "api/auth.hpp"
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/on_leader.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/rate.hpp"
#include "core/time.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_request.hpp"

namespace tourbus::net {

namespace {

eio::Options eio_options(const config::Config& c) {
  eio::Options o;
  o.ping_interval = std::chrono::milliseconds(c.sio_ping_interval_ms);
  o.ping_timeout = std::chrono::milliseconds(c.sio_ping_timeout_ms);
  o.max_payload = static_cast<std::size_t>(c.sio_max_payload_bytes);
  auto transports = config::split_list(c.sio_transports);
  o.polling = std::find(transports.begin(), transports.end(), "polling") != transports.end();
  o.websocket = std::find(transports.begin(), transports.end(), "websocket") != transports.end();
  o.queue_packets = static_cast<std::size_t>(c.ws_send_queue_frames);
  o.queue_bytes = static_cast<std::size_t>(c.ws_send_queue_bytes);
  for (auto origin : config::split_list(c.sio_cors_origins)) o.cors_origins.emplace_back(origin);
  return o;
}

sio::Options sio_options(const config::Config& c) {
  return {std::chrono::milliseconds(c.sio_connect_timeout_ms), 10};
}

// Connection state recovery (docs/socketio.md): `message` and `notification` pushes carry an
// offset, "M-N": the highest message and feed item ids pushed so far. A client that comes back
// within socketio.recovery_seconds with its pid and the last offset it saw gets what was pushed
// to its user after that, read from the store. The offset is the same for every client, so a push
// is still framed once for all of them.
class Recovery {
 public:
  explicit Recovery(api::Context& ctx) : ctx_(ctx) {}

  // Off on several nodes linked by NATS: there a node pushes other nodes' messages after its own
  // later ones (ids do not rise with the pushes), so an offset could skip a message the client
  // never got; clients start afresh and sync (docs/scaling.md).
  std::chrono::seconds window() const {
    return std::chrono::seconds(ctx_.relay ? 0 : ctx_.config.get()->sio_recovery_seconds);
  }

  // A push as Socket.IO frames it, once per event for every Socket.IO client: the Engine.IO packet
  // 42["NAME",DATA] (with the offset, while recovery is on) and the same in a WebSocket frame.
  eio::Packet packet(const events::EventPtr& e) {
    const auto& text = e->framed(events::Framing::socketio, [&](const std::string&) {
      if (window().count() > 0 && advance(marks(), *e)) return with_offset(*e, marks_);
      return sio::event_message(e->name(), {e->data()});
    });
    const auto& frame = e->framed(events::Framing::socketio_ws,
                                  [&](const std::string&) { return ws::server_frame(ws::text, *text); });
    return {text, false, frame};
  }

  // A client left without saying so (its connection dropped): it may come back for what it misses.
  void keep(const std::string& pid, std::int64_t user) {
    auto now = Clock::now();
    if (++kept_ % 256 == 0) std::erase_if(saved_, [&](const auto& s) { return s.second.until < now; });
    if (saved_.size() < 100'000) saved_[pid] = {user, now + window()};
  }

  // A client back with its pid and offset: what it missed, or nothing (it starts afresh).
  std::optional<std::vector<eio::Packet>> recover(const std::string& pid, const std::string& offset, std::int64_t user) {
    auto it = saved_.find(pid);
    if (it == saved_.end() || it->second.user != user) return std::nullopt;  // not this user's to claim
    auto saved = it->second;
    saved_.erase(it);  // one recovery per pid
    auto from = parse(offset);
    if (saved.until < Clock::now() || !from) return std::nullopt;
    auto events = api::missed(ctx_, user, from->message, from->feed, kMostReplayed);
    if (!events) return std::nullopt;
    std::vector<eio::Packet> out;
    for (const auto& e : *events) {
      advance(*from, *e);
      out.push_back({std::make_shared<const std::string>(with_offset(*e, *from))});
    }
    return out;
  }

 private:
  static constexpr std::size_t kMostReplayed = 1000;  // beyond, the client syncs by itself
  struct Marks {
    std::int64_t message = 0, feed = 0;
  };

  Marks& marks() {
    if (!loaded_) {
      auto [m, n] = api::last_pushed_ids(ctx_);
      marks_ = {m, n};
      loaded_ = true;
    }
    return marks_;
  }

  // Moves the marks past a message or notification; false for other events (no offset).
  static bool advance(Marks& m, const events::Event& e) {
    bool message = e.name() == "message";
    if (!message && e.name() != "notification") return false;
    boost::system::error_code ec;
    auto data = boost::json::parse(e.data(), ec);
    const auto* id = ec || !data.is_object() ? nullptr : data.as_object().if_contains("id");
    if (id && id->is_int64()) {
      auto& mark = message ? m.message : m.feed;
      mark = std::max(mark, id->as_int64());
    }
    return true;
  }

  static std::string with_offset(const events::Event& e, const Marks& m) {
    auto offset = "\"" + std::to_string(m.message) + "-" + std::to_string(m.feed) + "\"";
    return sio::event_message(e.name(), {e.data(), offset});
  }

  static std::optional<Marks> parse(std::string_view offset) {
    Marks m;
    auto dash = offset.find('-');
    if (dash == std::string_view::npos) return std::nullopt;
    auto a = offset.substr(0, dash), b = offset.substr(dash + 1);
    if (std::from_chars(a.data(), a.data() + a.size(), m.message).ptr != a.data() + a.size() || a.empty()) return std::nullopt;
    if (std::from_chars(b.data(), b.data() + b.size(), m.feed).ptr != b.data() + b.size() || b.empty()) return std::nullopt;
    return m;
  }

  struct Saved {
    std::int64_t user;
    Clock::time_point until;
  };
  api::Context& ctx_;
  Marks marks_;
  bool loaded_ = false;
  std::unordered_map<std::string, Saved> saved_;
  std::uint64_t kept_ = 0;
};

// What a refused CONNECT carries: socket.io-client makes err.message of "message" and err.data of
// "data".
boost::json::value refusal(const Error& e) {
  boost::json::object data{{"code", code_name(e.code)}, {"message", e.message}};
  return boost::json::object{{"message", e.message}, {"data", std::move(data)}};
}

boost::json::object error_data(const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return err;
}

// One client in the default namespace: a hub session like a WebSocket's.
class ApiSocket : public std::enable_shared_from_this<ApiSocket>, public realtime::Client {
 public:
  ApiSocket(asio::any_io_executor ex, api::Context& ctx, realtime::Hub& hub, Limits& limits, Recovery& recovery,
            std::shared_ptr<sio::Link> link, api::Caller caller, std::string pid)
      : ex_(std::move(ex)), ctx_(ctx), hub_(hub), recovery_(recovery), pid_(std::move(pid)), limits_(limits), link_(std::move(link)), caller_(std::move(caller)),
        bucket_(static_cast<double>(ctx.config.get()->ws_event_burst)) {
    auto cfg = ctx.config.get();
    rate_ = static_cast<double>(cfg->ws_events_per_second);
    burst_ = static_cast<double>(cfg->ws_event_burst);
    ++ctx_.stats.socketio_connections;
  }
  ~ApiSocket() override {
    end("gone");
    --ctx_.stats.socketio_connections;
    if (caller_.token_id) limits_.close_websocket(caller_.token_id);
  }

  // The client is in: it receives what is published to its user from now on.
  void joined() {
    attached_ = true;
    logging::get("net")->info("net.sio_connected user={} role={} session={} peer=\"{}\"", caller_.handle,
                              role_name(caller_.role), caller_.session, caller_.peer);
    auto change = hub_.attach(caller_.user_id, caller_.session, this, caller_.token_id);
    api::announce_change(ctx_, caller_.user_id, change.before, change.after);
  }

  void end(std::string_view reason) {
    if (!attached_) return;
    attached_ = false;
    // Lost, not left: it may come back for what it misses meanwhile.
    if (!revoked_ && !pid_.empty() && (reason == "transport close" || reason == "ping timeout" || reason == "too slow"))
      recovery_.keep(pid_, caller_.user_id);
    logging::get("net")->info("net.sio_disconnected user={} session={} reason=\"{}\"", caller_.handle, caller_.session,
                              reason);
    auto change = hub_.detach(caller_.user_id, caller_.session);
    api::announce_change(ctx_, caller_.user_id, change.before, change.after);
    api::session_closed(ctx_, caller_.user_id, caller_.session);
  }

  void deliver(const events::EventPtr& event) override { link_->send(recovery_.packet(event)); }

  // Rights taken away: the request in hand is answered, then the client hears why and is
  // disconnected from the server's side (it does not reconnect by itself).
  void revoke(std::uint16_t, std::string_view reason) override {
    if (revoked_) return;
    revoked_ = true;
    revoke_reason_ = reason;
    logging::get("net")->info("net.sio_revoked user={} session={} reason=\"{}\"", caller_.handle, caller_.session, reason);
    queue_.clear();
    if (!busy_) disconnect();
  }

  void set_role(Role role) override { caller_.role = role; }

  void heartbeat() {
    if (caller_.token_expires_at && !revoked_ && timeutil::now_ms() >= *caller_.token_expires_at)
      revoke(sessions::kCloseRevoked, "the token expired");
  }

  void event(boost::json::array args, std::optional<std::uint64_t> ack, bool binary) {
    if (revoked_) return;
    // Every event counts against the rate, refused ones included.
    bool allowed = bucket_.take(rate_, burst_);
    if (!allowed) {
      ctx_.stats.count(api::Limit::ws_events);
      return answer(ack, too_fast());
    }
    if (binary)
      return answer(ack, Error(Code::bad_request, "binary attachments are not supported: upload files with POST "
                                                  "/v1/files and send the file's id"));
    Request r{std::string(args[0].as_string()), {}, ack};
    if (args.size() > 2) return answer(ack, Error(Code::bad_request, "send one object of parameters after the event name"));
    if (args.size() == 2 && !args[1].is_null()) {
      if (!args[1].is_object()) return answer(ack, Error(Code::bad_request, "the parameters must be an object", "data"));
      r.params = std::move(args[1].as_object());
    }
    queue_.push_back(std::move(r));
    if (!busy_) next();
  }

 private:
  struct Request {
    std::string name;
    boost::json::object params;
    std::optional<std::uint64_t> ack;
  };

  Error too_fast() const {
    return Error(Code::rate_limited, "too many events; at most " + std::to_string(static_cast<std::int64_t>(rate_)) + " a second");
  }

  // The answer as the ack's one argument, {"event": "reply"|"error", "data": ...}; without an ack
  // id, as the event of that name.
  void answer(std::optional<std::uint64_t> ack, std::string_view kind, boost::json::value data) {
    if (ack) return link_->ack(*ack, boost::json::array{boost::json::object{{"event", kind}, {"data", std::move(data)}}});
    link_->emit(kind, boost::json::array{std::move(data)});
  }
  void answer(std::optional<std::uint64_t> ack, const Error& e) { answer(ack, "error", error_data(e)); }

  // Requests are carried out one at a time, in order, like on the WebSocket.
  void next() {
    if (queue_.empty() || revoked_) return;
    busy_ = true;
    auto r = std::move(queue_.front());
    queue_.pop_front();
    asio::co_spawn(ex_, run(std::move(r)), [self = shared_from_this()](std::exception_ptr) {
      self->busy_ = false;
      if (self->revoked_) return self->disconnect();
      self->next();
    });
  }

  asio::awaitable<void> run(Request r) {
    auto op = ws_operation(r.name);
    if (!op) {
      answer(r.ack, op.error());
      co_return;
    }
    api::Caller caller = caller_;
    caller.request_id = ++ctx_.stats.requests;
    auto pending = api::invoke(ctx_, **op, caller, std::move(r.params));
    auto reply = co_await std::move(pending);
    if (reply) {
      answer(r.ack, "reply", std::move(reply->json));
      co_return;
    }
    auto status = info(reply.error().code).http_status;
    ++(status >= 500 ? ctx_.stats.requests_5xx : ctx_.stats.requests_4xx);
    answer(r.ack, reply.error());
  }

  void disconnect() {
    auto session = link_->session();
    link_->emit("error", boost::json::array{error_data(Error(Code::unauthenticated, revoke_reason_))});
    link_->disconnect();
    end("revoked");
    if (session) session->close("revoked");
  }

  asio::any_io_executor ex_;
  api::Context& ctx_;
  realtime::Hub& hub_;
  Recovery& recovery_;
  std::string pid_;  // for state recovery (empty: off)
  Limits& limits_;
  std::shared_ptr<sio::Link> link_;
  api::Caller caller_;
  TokenBucket bucket_;
  double rate_, burst_;
  std::deque<Request> queue_;
  std::string revoke_reason_;
  bool attached_ = false, busy_ = false, revoked_ = false;
};

// What the Socket.IO layer holds for a client: the ApiSocket lives on while a request it started
// is in flight, and leaves the hub when the client goes.
class Handle : public sio::Socket {
 public:
  explicit Handle(std::shared_ptr<ApiSocket> s) : s_(std::move(s)) {}
  ~Handle() override { s_->end("gone"); }
  void on_event(boost::json::array args, std::optional<std::uint64_t> ack, std::vector<std::string> attachments) override {
    s_->event(std::move(args), ack, !attachments.empty());
  }
  void on_disconnect(std::string_view reason) override { s_->end(reason); }
  void on_heartbeat() override { s_->heartbeat(); }

 private:
  std::shared_ptr<ApiSocket> s_;
};

}  // namespace

// The default namespace: CONNECT authenticates.
class SocketIoApi::Default : public sio::Namespace {
 public:
  Default(asio::any_io_executor ex, api::Context& ctx, realtime::Hub& hub, Limits& limits)
      : ex_(std::move(ex)), ctx_(ctx), hub_(hub), limits_(limits), recovery_(ctx) {}

  void connect(std::shared_ptr<sio::Link> link, const boost::json::value& auth) override {
    // {token} from the application; {pid, offset} added by a client coming back (recovery).
    Claim claim;
    if (auth.is_object()) {
      auto text = [&](const char* key) {
        auto v = auth.as_object().if_contains(key);
        return v && v->is_string() ? std::string(v->as_string()) : std::string();
      };
      claim.token = text("token");
      claim.pid = text("pid");
      claim.offset = text("offset");
    }
    asio::co_spawn(ex_, authenticate(std::move(link), std::move(claim)), asio::detached);
  }

 private:
  struct Claim {
    std::string token, pid, offset;
  };

  asio::awaitable<void> authenticate(std::shared_ptr<sio::Link> link, Claim claim) {
    auto& token = claim.token;
    auto session = link->session();
    if (!session) co_return;
    const auto& hs = session->handshake();
    api::Caller caller{Role::operator_, 0, {}, api::Transport::websocket, hs.from.name, ++ctx_.stats.requests};
    if (!hs.from.control) {
      if (auto wait = limits_.auth_wait(hs.from.ip); wait > 0) {
        link->refuse(refusal(Error(Code::rate_limited, "too many failed authentications from your address; try again in " +
                                                           std::to_string(wait) + " seconds")));
        co_return;
      }
      if (token.empty())
        if (auto q = hs.param("access_token")) token = *q;
      if (token.empty()) {
        link->refuse(refusal(Error(Code::unauthenticated,
                                   "send a token: io(url, {auth: {token: \"tb_...\"}}) or ?access_token=tb_...")));
        co_return;
      }
      auto pending = api::authenticate(ctx_, token, hs.from.name);
      auto authenticated = co_await std::move(pending);
      if (!authenticated) {
        limits_.auth_failed(hs.from.ip);
        link->refuse(refusal(authenticated.error()));
        co_return;
      }
      if (!limits_.open_websocket(authenticated->token_id)) {
        link->refuse(refusal(Error(Code::rate_limited, "too many sessions on this token (server.max_websockets_per_token)")));
        co_return;
      }
      caller = *authenticated;
      caller.transport = api::Transport::websocket;
    }
    caller.session = hub_.new_session();
    // Back within the window with its pid: the same pid, then what it missed, before anything new
    // (all on this turn of the event loop, so no push can come between).
    std::optional<std::vector<eio::Packet>> missed;
    std::string pid;
    boost::json::object extra;
    if (recovery_.window().count() > 0) {
      if (!claim.pid.empty()) missed = recovery_.recover(claim.pid, claim.offset, caller.user_id);
      pid = missed ? claim.pid : crypto::random_token(15);
      extra["pid"] = pid;
    }
    auto user = caller.user_id;
    auto socket = std::make_shared<ApiSocket>(ex_, ctx_, hub_, limits_, recovery_, link, std::move(caller), pid);
    link->accept(std::make_unique<Handle>(socket), std::move(extra));
    if (!link->connected()) co_return;
    if (missed) {
      logging::get("net")->info("net.sio_recovered user={} missed={}", user, missed->size());
      for (const auto& p : *missed) link->send(p);
    }
    socket->joined();
  }

  asio::any_io_executor ex_;
  api::Context& ctx_;
  realtime::Hub& hub_;
  Limits& limits_;
  Recovery recovery_;
};

SocketIoApi::SocketIoApi(asio::any_io_executor executor, api::Context& ctx, realtime::Hub& hub, Limits& limits)
    : ctx_(ctx),
      default_(std::make_unique<Default>(executor, ctx, hub, limits)),
      sio_(sio_options(*ctx.config.get())),
      engine_(std::move(executor), eio_options(*ctx.config.get()),
              [this](eio::Session& s) { return sio_.accept(s); }) {
  sio_.add("/", *default_);
}

SocketIoApi::~SocketIoApi() { engine_.close_all("server shutting down"); }

bool SocketIoApi::enabled() const { return engine_.options().polling || engine_.options().websocket; }

bool SocketIoApi::is_path(std::string_view target) {
  auto path = target.substr(0, target.find('?'));
  return path == "/socket.io/" || path == "/socket.io";
}

WsSettings SocketIoApi::ws_settings() const {
  auto cfg = ctx_.config.get();
  // Engine.IO keeps the session alive with its own pings; the WebSocket's are a backstop.
  auto idle = std::chrono::milliseconds(2 * (cfg->sio_ping_interval_ms + cfg->sio_ping_timeout_ms));
  return {static_cast<std::size_t>(cfg->sio_max_payload_bytes), static_cast<std::uint32_t>(cfg->ws_send_queue_frames),
          static_cast<std::size_t>(cfg->ws_send_queue_bytes), idle};
}

void SocketIoApi::configure() {
  auto cfg = ctx_.config.get();
  engine_.set_options(eio_options(*cfg));
  sio_.set_options(sio_options(*cfg));
}

void SocketIoApi::close_all() { engine_.close_all("server shutting down"); }

}  // namespace tourbus::net
