#include "net/websocket.hpp"

#include <chrono>
#include <deque>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "api/fanout.hpp"
#include "core/logging.hpp"

namespace tourbus::net {

namespace websocket = beast::websocket;

namespace {

// Events a connection may send: `rate` a second on average, bursts of up to `burst`.
class TokenBucket {
 public:
  TokenBucket(double rate, double burst) : tokens_(burst), rate_(rate), burst_(burst) {}
  bool take() {
    auto now = std::chrono::steady_clock::now();
    tokens_ = std::min(burst_, tokens_ + std::chrono::duration<double>(now - last_).count() * rate_);
    last_ = now;
    if (tokens_ < 1) return false;
    tokens_ -= 1;
    return true;
  }

 private:
  double tokens_, rate_, burst_;
  std::chrono::steady_clock::time_point last_ = std::chrono::steady_clock::now();
};

std::string frame(std::string_view event, const boost::json::value* ref, boost::json::value data) {
  boost::json::object o{{"event", event}, {"data", std::move(data)}};
  if (ref) o["ref"] = *ref;
  return boost::json::serialize(o);
}

std::string error_frame(const boost::json::value* ref, const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return frame("error", ref, std::move(err));
}

std::uint64_t next_session_id() {
  static std::uint64_t last = 0;  // the event loop is single-threaded
  return ++last;
}

template <class S>
class Session : public std::enable_shared_from_this<Session<S>>, public realtime::Client {
 public:
  using std::enable_shared_from_this<Session<S>>::shared_from_this;

  Session(S stream, api::Context& ctx, realtime::Hub& hub, api::Caller caller)
      : ws_(std::move(stream)),
        ctx_(ctx),
        hub_(hub),
        caller_(std::move(caller)),
        wake_(ws_.get_executor()),
        max_queue_(static_cast<std::size_t>(ctx.config.get()->ws_send_queue_frames)),
        bucket_(static_cast<double>(ctx.config.get()->ws_events_per_second),
                static_cast<double>(ctx.config.get()->ws_event_burst)) {}

  awaitable<void> run(http::request<http::string_body> req) {
    auto log = logging::get("net");
    auto cfg = ctx_.config.get();
    beast::get_lowest_layer(ws_).expires_never();  // the websocket timeouts below take over
    // Pings at half the idle timeout; a peer silent for the whole timeout is dropped.
    ws_.set_option(websocket::stream_base::timeout{std::chrono::seconds(10),
                                                   std::chrono::seconds(cfg->ws_idle_timeout_seconds), true});
    ws_.set_option(websocket::stream_base::decorator(
        [](websocket::response_type& res) { res.set(http::field::server, "tourbusd/" TOURBUS_VERSION); }));
    ws_.read_message_max(static_cast<std::size_t>(cfg->ws_max_frame_bytes));
    auto [ec] = co_await ws_.async_accept(req, tuple_awaitable);
    if (ec) co_return;
    ++ctx_.stats.websocket_connections;
    caller_.session = next_session_id();
    log->info("net.ws_opened user={} role={} session={} peer=\"{}\"", caller_.handle, role_name(caller_.role),
              caller_.session, caller_.peer);
    asio::co_spawn(ws_.get_executor(), write_loop(shared_from_this()), asio::detached);
    // From here on the session receives what is published to its user.
    attached_ = true;
    if (auto change = hub_.attach(caller_.user_id, caller_.session, this); change.changed())
      api::announce_presence(ctx_, caller_.user_id, change.after);

    beast::flat_buffer buffer;
    for (;;) {
      auto [rec, n] = co_await ws_.async_read(buffer, tuple_awaitable);
      if (rec) {
        std::string why = rec == websocket::error::closed
                              ? std::string(ws_.reason().reason.data(), ws_.reason().reason.size())
                              : rec.message();
        // The client chose the close reason: keep quotes and control characters out of the log.
        for (auto& c : why)
          if (c == '"' || static_cast<unsigned char>(c) < 0x20) c = '_';
        log->info("net.ws_closed user={} code={} reason=\"{}\"", caller_.handle, ws_.reason().code, why);
        break;
      }
      if (!ws_.got_text()) {
        buffer.consume(buffer.size());
        send(error_frame(nullptr, Error(Code::bad_request, "send text frames holding JSON objects")));
        continue;
      }
      auto text = beast::buffers_to_string(buffer.data());
      buffer.consume(buffer.size());
      if (closing_) continue;  // closed for being too slow: nothing more is done for this client
      auto pending = handle(std::move(text));
      co_await std::move(pending);
    }
    closing_ = true;
    wake_.cancel();
    --ctx_.stats.websocket_connections;
    attached_ = false;
    if (auto change = hub_.detach(caller_.user_id, caller_.session); change.changed())
      api::announce_presence(ctx_, caller_.user_id, change.after);
  }

  ~Session() override {
    if (attached_) hub_.detach(caller_.user_id, caller_.session);
  }

  void deliver(const events::Frame& frame) override { enqueue(frame); }

  // Ends the session with a close frame (1001 on shutdown, 4001 for a slow client); a client that
  // does not take the close frame is dropped a few seconds later.
  void close_with(websocket::close_code code, std::string reason) {
    if (closing_) return;
    closing_ = true;
    queue_.clear();
    wake_.cancel();
    asio::co_spawn(ws_.get_executor(), send_close(shared_from_this(), code, std::move(reason)), asio::detached);
  }

  // Drops the connection at once.
  void close_now() {
    beast::error_code ignored;
    beast::get_lowest_layer(ws_).socket().close(ignored);
  }

 private:
  awaitable<void> handle(std::string text) {
    boost::system::error_code ec;
    auto v = boost::json::parse(text, ec);
    if (ec || !v.is_object()) {
      send(error_frame(nullptr, Error(Code::invalid_json, "a frame is a JSON object {\"event\", \"data\", \"ref\"}")));
      co_return;
    }
    const auto& o = v.as_object();
    const boost::json::value* ref = o.if_contains("ref");
    if (ref && !(ref->is_string() || ref->is_int64() || ref->is_uint64())) {
      send(error_frame(nullptr, Error(Code::invalid_argument, "ref: a string or an integer", "ref")));
      co_return;
    }
    for (const auto& [key, value] : o) {
      if (key != "event" && key != "data" && key != "ref") {
        send(error_frame(ref, Error(Code::unknown_field, "'" + std::string(key) + "' is not a frame field (event, data, ref)",
                                    std::string(key))));
        co_return;
      }
    }
    const auto* event = o.if_contains("event");
    if (!event || !event->is_string()) {
      send(error_frame(ref, Error(Code::invalid_argument, "event: required, a string", "event")));
      co_return;
    }
    const auto* data = o.if_contains("data");
    if (data && !data->is_object() && !data->is_null()) {
      send(error_frame(ref, Error(Code::invalid_argument, "data: an object", "data")));
      co_return;
    }
    if (!bucket_.take()) {
      send(error_frame(ref, Error(Code::rate_limited, "too many events; at most " +
                                                          std::to_string(ctx_.config.get()->ws_events_per_second) +
                                                          " a second")));
      co_return;
    }
    const auto* op = api::find_operation(std::string_view(event->as_string()));
    if (!op) {
      send(error_frame(ref, Error(Code::not_found, "no such event: '" + std::string(event->as_string()) + "'", "event")));
      co_return;
    }
    if (!op->websocket) {
      send(error_frame(ref, Error(Code::bad_request, std::string(op->name) + " is served over HTTP only", "event")));
      co_return;
    }
    boost::json::object params = data && data->is_object() ? data->as_object() : boost::json::object{};
    api::Caller caller = caller_;
    caller.request_id = ++ctx_.stats.requests;
    auto pending = api::invoke(ctx_, *op, caller, std::move(params));
    auto reply = co_await std::move(pending);
    if (reply) {
      send(frame("reply", ref, std::move(reply->json)));
      co_return;
    }
    auto status = info(reply.error().code).http_status;
    ++(status >= 500 ? ctx_.stats.requests_5xx : ctx_.stats.requests_4xx);
    send(error_frame(ref, reply.error()));
  }

  void send(std::string text) { enqueue(std::make_shared<const std::string>(std::move(text))); }

  // Queues a frame. A full queue means the client does not keep up: it is closed, not waited for.
  void enqueue(events::Frame frame) {
    if (closing_) return;
    if (queue_.size() >= max_queue_) {
      logging::get("net")->warn("net.ws_too_slow user={} queued={} peer=\"{}\"", caller_.handle, queue_.size(), caller_.peer);
      close_with(static_cast<websocket::close_code>(kCloseTooSlow), "send queue full: the client reads too slowly");
      return;
    }
    queue_.push_back(std::move(frame));
    wake_.cancel();
  }

  // One write in flight at a time, in queue order.
  static awaitable<void> write_loop(std::shared_ptr<Session> self) {
    for (;;) {
      while (self->queue_.empty() && !self->closing_) {
        self->wake_.expires_at(std::chrono::steady_clock::time_point::max());
        co_await self->wake_.async_wait(tuple_awaitable);
      }
      if (self->queue_.empty()) co_return;  // closing
      auto next = self->queue_.front();
      self->ws_.text(true);
      auto [ec, n] = co_await self->ws_.async_write(asio::buffer(*next), tuple_awaitable);
      if (ec) co_return;
      if (!self->queue_.empty()) self->queue_.pop_front();
    }
  }

  static awaitable<void> send_close(std::shared_ptr<Session> self, websocket::close_code code, std::string reason) {
    asio::steady_timer deadline(self->ws_.get_executor());
    deadline.expires_after(std::chrono::seconds(5));
    deadline.async_wait([weak = std::weak_ptr<Session>(self)](boost::system::error_code e) {
      if (auto s = weak.lock(); s && !e) s->close_now();
    });
    co_await self->ws_.async_close(websocket::close_reason(code, reason), tuple_awaitable);
    deadline.cancel();
  }

  websocket::stream<S> ws_;
  api::Context& ctx_;
  realtime::Hub& hub_;
  api::Caller caller_;
  asio::steady_timer wake_;
  std::deque<std::shared_ptr<const std::string>> queue_;
  std::size_t max_queue_;
  TokenBucket bucket_;
  bool closing_ = false;
  bool attached_ = false;
};

}  // namespace

template <class S>
awaitable<void> serve_websocket(S stream, http::request<http::string_body> req, api::Context& ctx, realtime::Hub& hub,
                                api::Caller caller, std::shared_ptr<HttpServer::Session> self) {
  auto session = std::make_shared<Session<S>>(std::move(stream), ctx, hub, std::move(caller));
  self->close = [weak = std::weak_ptr<Session<S>>(session)] {
    if (auto s = weak.lock()) s->close_now();
  };
  self->going_away = [weak = std::weak_ptr<Session<S>>(session)] {
    if (auto s = weak.lock()) s->close_with(websocket::close_code::going_away, "tourbusd is shutting down");
  };
  auto pending = session->run(std::move(req));
  co_await std::move(pending);
  self->close = nullptr;
  self->going_away = nullptr;
}

template awaitable<void> serve_websocket(Stream, http::request<http::string_body>, api::Context&, realtime::Hub&,
                                         api::Caller, std::shared_ptr<HttpServer::Session>);
template awaitable<void> serve_websocket(TlsStream, http::request<http::string_body>, api::Context&, realtime::Hub&,
                                         api::Caller, std::shared_ptr<HttpServer::Session>);

}  // namespace tourbus::net
