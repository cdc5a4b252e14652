#include "socketio/engineio.hpp"

#include <algorithm>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/serialize.hpp>
#include <boost/url/parse_query.hpp>

#include "core/crypto.hpp"
#include "core/logging.hpp"

namespace tourbus::eio {

namespace {

constexpr char kSeparator = '\x1e';  // between the packets of a polling payload

// Engine.IO's error codes for bad requests (as the reference server sends them).
enum : int { kTransportUnknown = 0, kSessionUnknown = 1, kBadHandshakeMethod = 2, kBadRequest = 3, kUnsupportedVersion = 5 };

struct Query {
  std::vector<std::pair<std::string, std::string>> params;
  const std::string* get(std::string_view name) const {
    for (const auto& [k, v] : params)
      if (k == name) return &v;
    return nullptr;
  }
};

Query parse_query(std::string_view target) {
  Query q;
  auto mark = target.find('?');
  if (mark == std::string_view::npos) return q;
  auto parsed = boost::urls::parse_query(target.substr(mark + 1));
  if (!parsed) return q;
  for (auto p : *parsed) q.params.emplace_back(p.key, p.has_value ? std::string(p.value) : std::string());
  return q;
}

// The checks every request at the path goes through; a refusal, or nothing.
std::optional<HttpReply> check_query(const Query& q, std::string_view transport, bool offered) {
  auto eio = q.get("EIO");
  if (!eio || *eio != "4") return bad_request(kUnsupportedVersion, "Unsupported protocol version");
  auto t = q.get("transport");
  if (!t || *t != transport || !offered) return bad_request(kTransportUnknown, "Transport unknown");
  return std::nullopt;
}

}  // namespace

Packet message(std::string_view text) {
  std::string p;
  p.reserve(text.size() + 1);
  p += '4';
  p += text;
  return {std::make_shared<const std::string>(std::move(p))};
}

HttpReply bad_request(int code, std::string_view message) {
  HttpReply r;
  r.status = 400;
  r.content_type = "application/json";
  r.body = boost::json::serialize(boost::json::object{{"code", code}, {"message", message}});
  return r;
}

const std::string* Handshake::param(std::string_view name) const {
  for (const auto& [k, v] : query)
    if (k == name) return &v;
  return nullptr;
}

// --- Session -----------------------------------------------------------------------------------

Session::Session(Server& server, std::string id, Handshake handshake, Options options)
    : server_(server),
      id_(std::move(id)),
      handshake_(std::move(handshake)),
      options_(std::move(options)),
      wake_(server.executor()),
      heartbeat_(server.executor()) {}

Session::~Session() = default;

asio::any_io_executor Session::executor() const { return server_.executor(); }

void Session::start(std::unique_ptr<Handler> handler) {
  handler_ = std::move(handler);
  heartbeat_.expires_after(options_.ping_interval);
  heartbeat_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto s = weak.lock(); s && !ec) s->heartbeat();
  });
}

// Every ping interval a ping; a client that has not answered it within the ping timeout is gone.
void Session::heartbeat() {
  if (closed_) return;
  if (awaiting_pong_) return close("ping timeout");
  awaiting_pong_ = true;
  static const Bytes ping = std::make_shared<const std::string>("2");
  send({ping});
  if (closed_) return;
  // From when the ping was due, not from when this ran: the deadline the client can count on.
  heartbeat_.expires_at(heartbeat_.expiry() + options_.ping_timeout);
  heartbeat_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
    if (auto s = weak.lock(); s && !ec) s->heartbeat();
  });
  if (handler_) handler_->on_heartbeat();
}

void Session::send(Packet packet) {
  if (closed_) return;
  if (transport_ == Transport::websocket && ws_) return ws_->send(packet);
  queued_bytes_ += packet.data->size();
  queue_.push_back(std::move(packet));
  if (queue_.size() > options_.queue_packets || queued_bytes_ > options_.queue_bytes) return close("too slow");
  if (!upgrading_) wake();
}

void Session::wake() {
  if (polling_) wake_.cancel();
}

void Session::close(std::string_view reason) { end(reason, "1"); }

void Session::end(std::string_view reason, std::string_view last_poll) {
  if (closed_) return;
  closed_ = true;
  last_poll_ = last_poll;
  heartbeat_.cancel();
  queue_.clear();
  queued_bytes_ = 0;
  auto self = shared_from_this();  // the server lets go of it now
  server_.sessions_.erase(id_);
  // The client closed it while no poll was waiting, but may have sent that poll at the same time
  // on another connection: it still gets its noop.
  if (last_poll == "6" && !polling_ && transport_ == Transport::polling) server_.closed_by_client(id_);
  wake();
  static const Bytes close_packet = std::make_shared<const std::string>("1");
  if (ws_) {
    if (reason != "transport close") ws_->send({close_packet});
    ws_->close();
  }
  if (probe_) probe_->close();
  if (handler_) handler_->on_close(reason);
}

asio::awaitable<HttpReply> Session::poll() {
  auto self = shared_from_this();
  if (polling_) {
    // Two polls at once: the protocol says the session is broken.
    close("duplicate poll");
    co_return bad_request(kBadRequest, "Bad request");
  }
  if (!closed_ && queue_.empty() && !upgrading_) {
    polling_ = true;
    wake_.expires_at(asio::steady_timer::time_point::max());
    co_await wake_.async_wait(asio::as_tuple(asio::use_awaitable));
    polling_ = false;
  }
  HttpReply r;
  if (closed_) {
    r.body = last_poll_;
    co_return r;
  }
  if (upgrading_ || transport_ == Transport::websocket) {
    r.body = "6";  // a noop ends the polling cycle; what follows goes on the WebSocket
    co_return r;
  }
  std::size_t size = 0;
  for (const auto& p : queue_) size += p.binary ? 2 + p.data->size() * 4 / 3 + 4 : p.data->size() + 1;
  r.body.reserve(size);
  for (const auto& p : queue_) {
    if (!r.body.empty()) r.body += kSeparator;
    if (p.binary) {
      r.body += 'b';
      r.body += crypto::base64_encode(*p.data);
    } else {
      r.body += *p.data;
    }
  }
  queue_.clear();
  queued_bytes_ = 0;
  co_return r;
}

HttpReply Session::post(std::string_view body) {
  if (body.size() > options_.max_payload) {
    close("payload too large");
    HttpReply r = bad_request(kBadRequest, "Payload too large");
    r.status = 413;
    return r;
  }
  auto self = shared_from_this();
  std::size_t pos = 0;
  while (pos <= body.size() && !closed_) {
    auto end = body.find(kSeparator, pos);
    if (end == std::string_view::npos) end = body.size();
    auto packet = body.substr(pos, end - pos);
    bool ok = false;
    if (!packet.empty() && packet[0] == 'b') {
      if (auto bytes = crypto::base64_decode(packet.substr(1))) {
        ok = true;
        receive(*bytes, true);
      }
    } else {
      ok = receive(packet, false);
    }
    if (!ok) {
      close("parse error");
      return bad_request(kBadRequest, "Bad request");
    }
    pos = end + 1;
  }
  HttpReply r;
  r.body = "ok";
  return r;
}

bool Session::receive(std::string_view packet, bool binary) {
  if (binary) {
    if (handler_) handler_->on_message(packet, true);
    return true;
  }
  if (packet.empty()) return false;
  auto data = packet.substr(1);
  switch (packet[0]) {
    case '1': end("client close", "6"); return true;
    case '2': send({std::make_shared<const std::string>("3" + std::string(data))}); return true;  // a v3-style client ping
    case '3':
      if (awaiting_pong_) {
        awaiting_pong_ = false;
        heartbeat_.expires_after(options_.ping_interval);
        heartbeat_.async_wait([weak = weak_from_this()](boost::system::error_code ec) {
          if (auto s = weak.lock(); s && !ec) s->heartbeat();
        });
      }
      return true;
    case '4':
      if (handler_) handler_->on_message(data, false);
      return true;
    case '6': return true;
    default: return false;  // '0' and '5' never come from a client here; anything else is garbage
  }
}

void Session::ws_message(WsLink& link, std::string_view data, bool binary) {
  if (closed_) return;
  auto self = shared_from_this();
  if (&link == probe_) {
    // The upgrade: "2probe" answered with "3probe", then "5" switches the session over.
    if (!binary && data == "2probe") {
      static const Bytes pong = std::make_shared<const std::string>("3probe");
      link.send({pong});
      upgrading_ = true;
      wake();  // a waiting poll ends with a noop
    } else if (!binary && data == "5" && upgrading_) {
      transport_ = Transport::websocket;
      ws_ = std::exchange(probe_, nullptr);
      upgrading_ = false;
      wake();
      auto queued = std::move(queue_);
      queue_.clear();
      queued_bytes_ = 0;
      for (auto& p : queued) ws_->send(p);
    } else if (!binary && data.starts_with("2")) {
      // a ping on the probe before it completes: answer it like the reference server
      link.send({std::make_shared<const std::string>("3" + std::string(data.substr(1)))});
    } else {
      probe_ = nullptr;
      link.close();
    }
    return;
  }
  if (&link != ws_) return;
  if (!receive(data, binary)) close("parse error");
}

void Session::ws_closed(WsLink& link) {
  if (&link == probe_) {
    probe_ = nullptr;
    if (upgrading_) {
      upgrading_ = false;
      wake();
    }
    return;
  }
  if (&link != ws_) return;
  ws_ = nullptr;
  end("transport close", "1");
}

// --- Server ------------------------------------------------------------------------------------

Server::Server(asio::any_io_executor executor, Options options, Accept accept)
    : executor_(std::move(executor)), options_(std::move(options)), accept_(std::move(accept)) {}

Server::~Server() { close_all("server shutting down"); }

void Server::close_all(std::string_view reason) {
  while (!sessions_.empty()) {
    auto s = sessions_.begin()->second;
    s->close(reason);
  }
}

std::shared_ptr<Session> Server::open(Handshake handshake) {
  auto id = crypto::random_token(15);
  auto s = std::make_shared<Session>(*this, id, std::move(handshake), options_);
  sessions_.emplace(id, s);
  s->start(accept_(*s));
  return s;
}

std::string Server::open_packet(const Session& s) const {
  boost::json::array upgrades;
  if (!s.websocket() && s.options().websocket) upgrades.emplace_back("websocket");
  boost::json::object o{{"sid", s.id()},
                        {"upgrades", std::move(upgrades)},
                        {"pingInterval", s.options().ping_interval.count()},
                        {"pingTimeout", s.options().ping_timeout.count()},
                        {"maxPayload", s.options().max_payload}};
  return "0" + boost::json::serialize(o);
}

HttpReply Server::cors(HttpReply reply, std::string_view origin) const {
  if (origin.empty()) return reply;
  bool any = std::find(options_.cors_origins.begin(), options_.cors_origins.end(), "*") != options_.cors_origins.end();
  bool listed = std::find(options_.cors_origins.begin(), options_.cors_origins.end(), origin) != options_.cors_origins.end();
  if (!any && !listed) return reply;
  reply.headers.emplace_back("Access-Control-Allow-Origin", std::string(origin));
  reply.headers.emplace_back("Access-Control-Allow-Credentials", "true");
  reply.headers.emplace_back("Vary", "Origin");
  return reply;
}

asio::awaitable<HttpReply> Server::polling(HttpRequest req, Peer from) {
  if (req.method == "OPTIONS") {
    // A browser's preflight for a cross-origin POST.
    HttpReply r;
    r.status = 204;
    r.content_type.clear();
    r = cors(std::move(r), req.origin);
    if (!r.headers.empty()) {
      r.headers.emplace_back("Access-Control-Allow-Methods", "GET, POST");
      r.headers.emplace_back("Access-Control-Allow-Headers", "Content-Type");
    }
    co_return r;
  }
  auto q = parse_query(req.target);
  if (auto refused = check_query(q, "polling", options_.polling)) co_return cors(std::move(*refused), req.origin);
  auto sid = q.get("sid");
  if (!sid) {
    if (req.method != "GET") co_return cors(bad_request(kBadHandshakeMethod, "Bad handshake method"), req.origin);
    // A named object: g++ 12 destroys braced temporaries in coroutines twice.
    Handshake hs;
    hs.query = std::move(q.params);
    hs.from = std::move(from);
    auto s = open(std::move(hs));
    HttpReply r;
    r.body = open_packet(*s);
    co_return cors(std::move(r), req.origin);
  }
  auto it = sessions_.find(*sid);
  if (it == sessions_.end() && req.method == "GET" && last_poll(*sid)) {
    HttpReply r;
    r.body = "6";
    co_return cors(std::move(r), req.origin);
  }
  if (it == sessions_.end() || it->second->websocket())
    co_return cors(bad_request(kSessionUnknown, "Session ID unknown"), req.origin);
  auto s = it->second;
  if (s->pong_overdue()) {
    // Its timer may not have run yet: the client is late all the same.
    s->close("ping timeout");
    co_return cors(bad_request(kSessionUnknown, "Session ID unknown"), req.origin);
  }
  if (req.method == "GET") {
    auto r = co_await s->poll();
    co_return cors(std::move(r), req.origin);
  }
  if (req.method == "POST") co_return cors(s->post(req.body), req.origin);
  co_return cors(bad_request(kBadRequest, "Bad request"), req.origin);
}

void Server::closed_by_client(const std::string& sid) {
  auto now = std::chrono::steady_clock::now();
  std::erase_if(closed_, [&](const auto& c) { return c.second < now; });
  if (closed_.size() < 1024) closed_.emplace_back(sid, now + options_.ping_interval);
}

bool Server::last_poll(const std::string& sid) {
  auto now = std::chrono::steady_clock::now();
  for (auto it = closed_.begin(); it != closed_.end(); ++it)
    if (it->first == sid) {
      bool fresh = it->second >= now;
      closed_.erase(it);
      return fresh;
    }
  return false;
}

std::optional<HttpReply> Server::check_websocket(const HttpRequest& req) const {
  auto q = parse_query(req.target);
  return check_query(q, "websocket", options_.websocket);
}

std::shared_ptr<Session> Server::open_websocket(WsLink& link, const HttpRequest& req, Peer from) {
  if (check_websocket(req)) return nullptr;
  auto q = parse_query(req.target);
  if (auto sid = q.get("sid")) {
    // An upgrade: only of a polling session that is not upgrading already.
    auto it = sessions_.find(*sid);
    if (it == sessions_.end() || it->second->websocket() || it->second->probe_) return nullptr;
    it->second->probe_ = &link;
    return it->second;
  }
  Handshake hs;
  hs.query = std::move(q.params);
  hs.from = std::move(from);
  auto s = open(std::move(hs));
  s->transport_ = Session::Transport::websocket;
  s->ws_ = &link;
  link.send({std::make_shared<const std::string>(open_packet(*s))});
  return s;
}

}  // namespace tourbus::eio
