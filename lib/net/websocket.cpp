#include "net/websocket.hpp"

#include <chrono>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/on_leader.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "net/limits.hpp"
#include "net/ws_connection.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_request.hpp"

namespace tourbus::net {

namespace {

// An event as a WebSocket text frame, made once per event.
const Frame& ws_frame(const events::EventPtr& e) {
  return e->framed(events::Framing::websocket, [](const std::string& json) { return ws::server_frame(ws::text, json); });
}

Frame error_frame(const boost::json::value* ref, const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return ws_frame(events::answer("error", std::move(err), ref));
}


template <class S>
class Session : public WsConnection<S>, public realtime::Client {
  using Base = WsConnection<S>;

 public:
  Session(S stream, api::Context& ctx, realtime::Hub& hub, api::Caller caller, std::shared_ptr<HttpServer::Session> http)
      : Base(std::move(stream), settings(*ctx.config.get())),
        ctx_(ctx),
        hub_(hub),
        caller_(std::move(caller)),
        http_(std::move(http)),
        bucket_(static_cast<double>(ctx.config.get()->ws_event_burst)) {
    auto cfg = ctx.config.get();
    rate_ = static_cast<double>(cfg->ws_events_per_second);
    burst_ = static_cast<double>(cfg->ws_event_burst);
  }

  ~Session() override {
    if (attached_) hub_.detach(caller_.user_id, caller_.session);
  }

  static WsSettings settings(const config::Config& cfg) {
    return {static_cast<std::size_t>(cfg.ws_max_frame_bytes), static_cast<std::uint32_t>(cfg.ws_send_queue_frames),
            static_cast<std::size_t>(cfg.ws_send_queue_bytes), std::chrono::seconds(cfg.ws_idle_timeout_seconds)};
  }

  // Sends the 101 answer, joins the hub and starts reading (bytes the client sent right after
  // the upgrade request are in `early`).
  void start(std::string accept, std::string early) {
    caller_.session = hub_.new_session();
    ++ctx_.stats.websocket_connections;
    this->open(accept, std::move(early));
    logging::get("net")->info("net.ws_opened user={} role={} session={} peer=\"{}\"", caller_.handle,
                              role_name(caller_.role), caller_.session, caller_.peer);
    auto self = std::static_pointer_cast<Session>(this->shared_from_this());
    http_->close = [weak = std::weak_ptr<Session>(self)] {
      if (auto s = weak.lock()) s->close_now();
    };
    http_->going_away = [weak = std::weak_ptr<Session>(self)] {
      if (auto s = weak.lock()) s->close_with(ws::kGoingAway, "tourbusd is shutting down");
    };
    // From here on the session receives what is published to its user.
    attached_ = true;
    auto change = hub_.attach(caller_.user_id, caller_.session, this, caller_.token_id);
    api::announce_change(ctx_, caller_.user_id, change.before, change.after);
    this->start_reading();
  }

  void deliver(const events::EventPtr& event) override { this->enqueue(ws_frame(event)); }

  // Rights taken away (docs/protocol.md, close code 4003): nothing more is carried out; a request
  // being served is answered first, then the session closes.
  void revoke(std::uint16_t code, std::string_view reason) override {
    if (revoked_ || this->ended()) return;
    revoked_ = true;
    logging::get("net")->info("net.ws_revoked user={} session={} code={} reason=\"{}\"", caller_.handle, caller_.session,
                              code, reason);
    revoke_code_ = code;
    revoke_reason_ = reason;
    if (!this->paused()) this->close_with(code, reason, false);
  }

  void set_role(Role role) override {
    if (role == caller_.role) return;
    logging::get("net")->info("net.ws_role_changed user={} session={} role={}", caller_.handle, caller_.session,
                              role_name(role));
    caller_.role = role;
  }

 private:
  std::string who() const override { return caller_.handle; }

  void on_sweep(Clock::time_point) override {
    if (caller_.token_expires_at && !revoked_ && timeutil::now_ms() >= *caller_.token_expires_at)
      revoke(sessions::kCloseRevoked, "the token expired");
  }

  void on_too_slow() override { ctx_.stats.count(api::Limit::ws_send_queue); }

  void on_message(ws::Opcode op, std::string_view payload) override {
    if (revoked_) return;  // nothing more is done for this client
    // Every message counts against the rate, binary and malformed ones included.
    bool allowed = bucket_.take(rate_, burst_);
    if (!allowed) ctx_.stats.count(api::Limit::ws_events);
    if (op != ws::text) {
      this->enqueue(error_frame(nullptr, allowed ? Error(Code::bad_request, "send text frames holding JSON objects") : too_fast()));
      return;
    }
    this->pause();
    auto self = std::static_pointer_cast<Session>(this->shared_from_this());
    asio::co_spawn(this->stream().get_executor(), handle(std::string(payload), allowed), [self](std::exception_ptr) {
      if (self->revoked_) self->close_with(self->revoke_code_, self->revoke_reason_, false);
      self->proceed();  // after a revocation, only to see the client's close
    });
  }
  Error too_fast() const {
    return Error(Code::rate_limited, "too many events; at most " + std::to_string(static_cast<std::int64_t>(rate_)) + " a second");
  }

  // `allowed`: within the rate; if not, only the request's ref is read, for the answer.
  awaitable<void> handle(std::string text, bool allowed) {
    auto self = this->shared_from_this();  // alive until the answer is queued
    std::optional<boost::json::value> ref;
    auto req = decode_request(text, ref);
    const boost::json::value* r = ref ? &*ref : nullptr;
    if (!allowed || !req) {
      this->enqueue(error_frame(r, allowed ? req.error() : too_fast()));
      co_return;
    }
    auto op = ws_operation(req->event);
    if (!op) {
      this->enqueue(error_frame(r, op.error()));
      co_return;
    }
    boost::json::object params = std::move(req->params);
    api::Caller caller = caller_;
    caller.request_id = ++ctx_.stats.requests;
    auto pending = api::invoke(ctx_, **op, caller, std::move(params));
    auto reply = co_await std::move(pending);
    if (reply) {
      this->enqueue(ws_frame(events::answer("reply", std::move(reply->json), r)));
      co_return;
    }
    auto status = info(reply.error().code).http_status;
    ++(status >= 500 ? ctx_.stats.requests_5xx : ctx_.stats.requests_4xx);
    this->enqueue(error_frame(r, reply.error()));
  }

  void on_end(boost::system::error_code ec) override {
    std::string why = this->close_code() ? this->close_reason() : ec.message();
    logging::get("net")->info("net.ws_closed user={} code={} reason=\"{}\"", caller_.handle, this->close_code(), why);
    --ctx_.stats.websocket_connections;
    attached_ = false;
    http_->close = nullptr;
    http_->going_away = nullptr;
    auto change = hub_.detach(caller_.user_id, caller_.session);
    api::announce_change(ctx_, caller_.user_id, change.before, change.after);
    api::session_closed(ctx_, caller_.user_id, caller_.session);
    http_->finish();
  }

  api::Context& ctx_;
  realtime::Hub& hub_;
  api::Caller caller_;
  std::shared_ptr<HttpServer::Session> http_;
  TokenBucket bucket_;
  double rate_, burst_;
  std::uint16_t revoke_code_ = 0;  // rights revoked: closed with this once the request in hand is answered
  std::string revoke_reason_;
  bool attached_ = false, revoked_ = false;
};

}  // namespace

template <class S>
void serve_websocket(S stream, const http::request<http::string_body>& req, std::string early, api::Context& ctx,
                     realtime::Hub& hub, api::Caller caller, std::shared_ptr<HttpServer::Session> http) {
  http->handed_off = true;
  http->close = nullptr;  // it pointed into the HTTP coroutine, which ends now
  auto key = req[http::field::sec_websocket_key];  // checked by the HTTP server (upgrade_refusal)
  auto session = std::make_shared<Session<S>>(std::move(stream), ctx, hub, std::move(caller), std::move(http));
  session->start(ws::accept_key(std::string_view(key.data(), key.size())), std::move(early));
}

template void serve_websocket(Stream, const http::request<http::string_body>&, std::string, api::Context&,
                              realtime::Hub&, api::Caller, std::shared_ptr<HttpServer::Session>);
template void serve_websocket(TlsStream, const http::request<http::string_body>&, std::string, api::Context&,
                              realtime::Hub&, api::Caller, std::shared_ptr<HttpServer::Session>);

}  // namespace tourbus::net
