#include "net/websocket.hpp"

#include <chrono>
#include <vector>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>
#include <boost/json/parse.hpp>

#include "api/fanout.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "net/limits.hpp"
#include "net/ws_frame.hpp"
#include "net/ws_request.hpp"

namespace tourbus::net {

namespace {

using Clock = std::chrono::steady_clock;
// Bytes queued on a connection: a framed event, shared with the other sessions it goes to.
using Frame = events::Framed;

// An event as a WebSocket text frame, made once per event.
const Frame& ws_frame(const events::EventPtr& e) {
  return e->framed(events::Framing::websocket, [](const std::string& json) { return ws::server_frame(ws::text, json); });
}

Frame error_frame(const boost::json::value* ref, const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return ws_frame(events::answer("error", std::move(err), ref));
}

std::uint64_t next_session_id() {
  static std::uint64_t last = 0;  // the event loop is single-threaded
  return ++last;
}

// Keepalive without a timer per connection: one sweep a second over every open session pings
// those quiet for half their idle timeout and drops those quiet for all of it.
class Live {
 public:
  virtual ~Live() = default;
  virtual void sweep(Clock::time_point now) = 0;
  std::size_t slot = SIZE_MAX;
};

class Sweeper {
 public:
  static Sweeper& get() {
    static auto* s = new Sweeper;  // never destroyed: sessions may end during static destruction
    return *s;
  }
  void add(Live* l, const asio::any_io_executor& ex) {
    l->slot = list_.size();
    list_.push_back(l);
    if (!timer_) {
      timer_ = std::make_unique<asio::steady_timer>(ex);
      arm();
    }
  }
  void remove(Live* l) {
    if (l->slot == SIZE_MAX) return;
    auto last = list_.back();
    list_[l->slot] = last;
    last->slot = l->slot;
    list_.pop_back();
    l->slot = SIZE_MAX;
    if (list_.empty()) timer_.reset();  // a pending wait completes with operation_aborted
  }

 private:
  void arm() {
    timer_->expires_after(std::chrono::seconds(1));
    timer_->async_wait([this](boost::system::error_code ec) {
      if (ec || !timer_) return;
      auto now = Clock::now();
      // Backwards: a session removed now swaps in one already visited.
      for (auto i = list_.size(); i-- > 0;)
        if (i < list_.size()) list_[i]->sweep(now);
      if (timer_) arm();
    });
  }
  std::vector<Live*> list_;
  std::unique_ptr<asio::steady_timer> timer_;
};

template <class S>
constexpr bool kPlain = std::is_same_v<S, Stream>;

template <class S>
class Session : public std::enable_shared_from_this<Session<S>>, public realtime::Client, public Live {
 public:
  using std::enable_shared_from_this<Session<S>>::shared_from_this;

  Session(S stream, api::Context& ctx, realtime::Hub& hub, api::Caller caller, std::shared_ptr<HttpServer::Session> http)
      : stream_(std::move(stream)),
        ctx_(ctx),
        hub_(hub),
        caller_(std::move(caller)),
        http_(std::move(http)),
        bucket_(static_cast<double>(ctx.config.get()->ws_event_burst)) {
    auto cfg = ctx.config.get();
    rate_ = static_cast<double>(cfg->ws_events_per_second);
    burst_ = static_cast<double>(cfg->ws_event_burst);
    max_queue_ = static_cast<std::uint32_t>(cfg->ws_send_queue_frames);
    max_queue_bytes_ = static_cast<std::size_t>(cfg->ws_send_queue_bytes);
    max_message_ = static_cast<std::size_t>(cfg->ws_max_frame_bytes);
    idle_timeout_ = std::chrono::seconds(cfg->ws_idle_timeout_seconds);
  }

  ~Session() override {
    Sweeper::get().remove(this);
    if (attached_) hub_.detach(caller_.user_id, caller_.session);
  }

  // Sends the 101 answer, joins the hub and starts reading (bytes the client sent right after
  // the upgrade request are in `early`).
  void start(std::string accept, std::string early) {
    beast::get_lowest_layer(stream_).expires_never();
    if constexpr (kPlain<S>) {
      boost::system::error_code ignored;
      socket().non_blocking(true, ignored);  // read_some after a wait must never block
    }
    caller_.session = next_session_id();
    ++ctx_.stats.websocket_connections;
    last_read_ = Clock::now();
    push(std::make_shared<const std::string>(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
        accept + "\r\nServer: tourbusd/" TOURBUS_VERSION "\r\n\r\n"));
    Sweeper::get().add(this, stream_.get_executor());
    logging::get("net")->info("net.ws_opened user={} role={} session={} peer=\"{}\"", caller_.handle,
                              role_name(caller_.role), caller_.session, caller_.peer);
    auto self = shared_from_this();
    http_->close = [weak = std::weak_ptr<Session>(self)] {
      if (auto s = weak.lock()) s->close_now();
    };
    http_->going_away = [weak = std::weak_ptr<Session>(self)] {
      if (auto s = weak.lock()) s->close_with(ws::kGoingAway, "tourbusd is shutting down");
    };
    // From here on the session receives what is published to its user.
    attached_ = true;
    if (auto change = hub_.attach(caller_.user_id, caller_.session, this, caller_.token_id); change.changed())
      api::announce_presence(ctx_, caller_.user_id, change.after);
    in_ = std::move(early);
    resume();
  }

  void deliver(const events::EventPtr& event) override { enqueue(ws_frame(event)); }

  // Rights taken away (docs/protocol.md, close code 4003): nothing more is carried out; a request
  // being served is answered first, then the session closes.
  void revoke(std::uint16_t code, std::string_view reason) override {
    if (revoked_ || ended_) return;
    revoked_ = true;
    logging::get("net")->info("net.ws_revoked user={} session={} code={} reason=\"{}\"", caller_.handle, caller_.session,
                              code, reason);
    revoke_code_ = code;
    revoke_reason_ = reason;
    if (!paused_) close_with(code, reason, false);
  }

  void set_role(Role role) override {
    if (role == caller_.role) return;
    logging::get("net")->info("net.ws_role_changed user={} session={} role={}", caller_.handle, caller_.session,
                              role_name(role));
    caller_.role = role;
  }

  void sweep(Clock::time_point now) override {
    if (ended_) return;
    if (caller_.token_expires_at && !revoked_ && timeutil::now_ms() >= *caller_.token_expires_at)
      revoke(sessions::kCloseRevoked, "the token expired");
    auto quiet = now - last_read_;
    // Dropped only after a ping went unanswered: a late sweep never drops a client unpinged.
    if (quiet >= idle_timeout_ && ping_sent_) {
      logging::get("net")->info("net.ws_timeout user={} session={} seconds={}", caller_.handle, caller_.session,
                                std::chrono::duration_cast<std::chrono::seconds>(idle_timeout_).count());
      close_now();
    } else if (quiet >= idle_timeout_ / 2 && !ping_sent_ && !closing_) {
      ping_sent_ = true;
      push(ping_frame());
    }
  }

  // Ends the session with a close frame (1001 on shutdown, 4001 for a slow client, 4003 revoked);
  // a client that does not answer it is dropped 5 seconds later. Frames still queued are dropped,
  // unless `drop_queued` is false (they go out first).
  void close_with(std::uint16_t code, std::string_view reason, bool drop_queued = true) {
    if (closing_ || ended_) return;
    closing_ = true;
    if (drop_queued) drop_pending();
    push(std::make_shared<const std::string>(ws::close_frame(code, reason)));
    deadline_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
    deadline_->expires_after(std::chrono::seconds(5));
    deadline_->async_wait([weak = std::weak_ptr<Session>(shared_from_this())](boost::system::error_code e) {
      if (auto s = weak.lock(); s && !e) s->close_now();
    });
  }

  // Drops the connection at once.
  void close_now() {
    beast::error_code ignored;
    socket().close(ignored);
  }

 private:
  static Frame ping_frame() {
    static const Frame f = std::make_shared<const std::string>(ws::server_frame(ws::ping, ""));
    return f;
  }

  auto& socket() { return beast::get_lowest_layer(stream_).socket(); }

  // --- reading ---------------------------------------------------------------------------------

  // Plain sockets wait for readability and read into one buffer shared by all sessions, so an
  // idle connection holds no read buffer; TLS reads into the session's own.
  void read() {
    if (ended_) return;
    if constexpr (kPlain<S>) {
      socket().async_wait(asio::socket_base::wait_read, [self = shared_from_this()](boost::system::error_code ec) {
        if (ec) return self->end(ec);
        static thread_local std::vector<char> scratch(64 * 1024);
        boost::system::error_code rec;
        auto n = self->socket().read_some(asio::buffer(scratch), rec);
        if (rec == asio::error::would_block || rec == asio::error::try_again) return self->read();
        if (rec) return self->end(rec);
        self->received(std::span<char>(scratch.data(), n), false);
      });
    } else {
      auto old = in_.size();
      in_.resize(old + 16 * 1024);
      stream_.async_read_some(asio::buffer(in_.data() + old, 16 * 1024),
                              [self = shared_from_this(), old](boost::system::error_code ec, std::size_t n) {
                                self->in_.resize(old + n);
                                if (ec) return self->end(ec);
                                self->received(std::span<char>(self->in_.data() + old, n), true);
                              });
    }
  }

  // New bytes: parsed straight from the read buffer unless earlier bytes wait in in_.
  void received(std::span<char> data, bool in_place) {
    last_read_ = Clock::now();
    ping_sent_ = false;
    if (!in_place && !in_.empty()) {
      in_.append(data.data(), data.size());
      in_place = true;
    }
    if (in_place) return resume();
    auto used = process(data);
    if (used < data.size()) in_.assign(data.data() + used, data.size() - used);
    if (!paused_) read();
  }

  // Parses what waits in in_, then reads on unless a request is being served.
  void resume() {
    if (ended_) return;
    auto used = process(std::span<char>(in_.data(), in_.size()));
    in_.erase(0, used);
    if (in_.empty() && in_.capacity() > 4096) std::string().swap(in_);
    if (!paused_) read();
  }

  // Handles the complete frames at the start of buf; returns the bytes used. Stops after a
  // request (the next is parsed when it has been answered) or a protocol error.
  std::size_t process(std::span<char> buf) {
    std::size_t pos = 0;
    while (!paused_ && !ended_ && !fatal_) {
      auto f = ws::parse_client_frame(buf.subspan(pos), max_message_);
      if (f.status == ws::Parsed::need_more) break;
      if (f.status == ws::Parsed::error) {
        protocol_error(f.close_code, f.why);
        return buf.size();
      }
      pos += f.consumed;
      switch (f.opcode) {
        case ws::ping:
          if (!closing_) enqueue(std::make_shared<const std::string>(ws::server_frame(ws::pong, f.payload)));
          break;
        case ws::pong: break;
        case ws::close: closed_by_client(f.payload); return buf.size();
        case ws::text:
        case ws::binary:
          if (fragments_) {
            protocol_error(ws::kProtocolError, "a new message before the last one ended");
            return buf.size();
          }
          if (f.fin) {
            message(f.opcode, f.payload);
          } else {
            fragments_ = f.opcode;
            message_.assign(f.payload);
          }
          break;
        case ws::continuation:
          if (!fragments_) {
            protocol_error(ws::kProtocolError, "a continuation frame without a message");
            return buf.size();
          }
          if (message_.size() + f.payload.size() > max_message_) {
            protocol_error(ws::kTooBig, "message too big");
            return buf.size();
          }
          message_.append(f.payload);
          if (f.fin) {
            auto op = static_cast<ws::Opcode>(fragments_);
            fragments_ = 0;
            std::string whole;
            whole.swap(message_);
            message(op, whole);
          }
          break;
      }
    }
    return pos;
  }

  void message(ws::Opcode op, std::string_view payload) {
    if (closing_ || revoked_) return;  // closing (too slow, revoked): nothing more is done for this client
    // Every message counts against the rate, binary and malformed ones included.
    bool allowed = bucket_.take(rate_, burst_);
    if (!allowed) ctx_.stats.count(api::Limit::ws_events);
    if (op != ws::text) {
      enqueue(error_frame(nullptr, allowed ? Error(Code::bad_request, "send text frames holding JSON objects") : too_fast()));
      return;
    }
    if (!ws::valid_utf8(payload)) return protocol_error(ws::kInvalidData, "a text frame that is not UTF-8");
    paused_ = true;
    asio::co_spawn(stream_.get_executor(), handle(std::string(payload), allowed),
                   [self = shared_from_this()](std::exception_ptr) {
                     self->paused_ = false;
                     if (self->revoked_) return self->close_with(self->revoke_code_, self->revoke_reason_, false);
                     self->resume();
                   });
  }

  // The client broke the protocol: tell it why and stop reading.
  void protocol_error(std::uint16_t code, const char* why) {
    logging::get("net")->info("net.ws_protocol_error user={} code={} error=\"{}\"", caller_.handle, code, why);
    fatal_ = true;
    close_code_ = code;
    if (closing_) return close_now();  // our close frame is out already: nothing more may follow it
    close_with(code, why);
    close_after_write_ = true;  // failing the connection: nothing more is read from it
  }

  void closed_by_client(std::string_view payload) {
    auto close = ws::read_close(payload);
    if (close.error) return protocol_error(close.error, close.why);
    close_code_ = close.code;
    // The client chose the close reason: keep quotes and control characters out of the log.
    close_reason_.assign(close.reason);
    for (auto& c : close_reason_)
      if (c == '"' || static_cast<unsigned char>(c) < 0x20) c = '_';
    fatal_ = true;
    if (closing_) return close_now();  // it answered our close
    closing_ = true;
    drop_pending();
    std::uint16_t echo = payload.empty() ? ws::kNormal : close_code_;
    close_after_write_ = true;
    push(std::make_shared<const std::string>(ws::close_frame(echo, "")));
  }

  Error too_fast() const {
    return Error(Code::rate_limited, "too many events; at most " + std::to_string(static_cast<std::int64_t>(rate_)) + " a second");
  }

  // `allowed`: within the rate; if not, only the request's ref is read, for the answer.
  awaitable<void> handle(std::string text, bool allowed) {
    auto self = shared_from_this();  // alive until the answer is queued
    std::optional<boost::json::value> ref;
    auto req = decode_request(text, ref);
    const boost::json::value* r = ref ? &*ref : nullptr;
    if (!allowed || !req) {
      enqueue(error_frame(r, allowed ? req.error() : too_fast()));
      co_return;
    }
    auto op = ws_operation(req->event);
    if (!op) {
      enqueue(error_frame(r, op.error()));
      co_return;
    }
    boost::json::object params = std::move(req->params);
    api::Caller caller = caller_;
    caller.request_id = ++ctx_.stats.requests;
    auto pending = api::invoke(ctx_, **op, caller, std::move(params));
    auto reply = co_await std::move(pending);
    if (reply) {
      enqueue(ws_frame(events::answer("reply", std::move(reply->json), r)));
      co_return;
    }
    auto status = info(reply.error().code).http_status;
    ++(status >= 500 ? ctx_.stats.requests_5xx : ctx_.stats.requests_4xx);
    enqueue(error_frame(r, reply.error()));
  }

  // --- writing ---------------------------------------------------------------------------------

  // Queues a frame. A full queue means the client does not keep up: it is closed, not waited for.
  void enqueue(const Frame& frame) {
    if (closing_ || ended_) return;
    if (pending_.size() + writing_.size() >= max_queue_ ||
        pending_bytes_ + writing_bytes_ + frame->size() > max_queue_bytes_) {
      logging::get("net")->warn("net.ws_too_slow user={} queued={} queued_bytes={} peer=\"{}\"", caller_.handle,
                                pending_.size() + writing_.size(), pending_bytes_ + writing_bytes_, caller_.peer);
      ctx_.stats.count(api::Limit::ws_send_queue);
      close_with(kCloseTooSlow, "send queue full: the client reads too slowly");
      return;
    }
    push(frame);
  }

  // Queues a frame without the checks (the upgrade's answer, pings, the close frame).
  void push(Frame frame) {
    pending_bytes_ += frame->size();
    pending_.push_back(std::move(frame));
    schedule_write();
  }
  void drop_pending() {
    pending_.clear();
    pending_bytes_ = 0;
  }

  // Everything queued during one turn of the event loop goes out in one write (writev).
  void schedule_write() {
    if (writing_now_ || write_posted_ || ended_) return;
    write_posted_ = true;
    asio::post(stream_.get_executor(), [self = shared_from_this()] {
      self->write_posted_ = false;
      self->write();
    });
  }

  void write() {
    if (pending_.empty() || ended_) return;
    writing_.swap(pending_);
    writing_bytes_ = std::exchange(pending_bytes_, 0);
    buffers_.clear();
    for (const auto& f : writing_) buffers_.emplace_back(f->data(), f->size());
    writing_now_ = true;
    auto done = [self = shared_from_this()](boost::system::error_code ec, std::size_t) {
      self->writing_now_ = false;
      self->writing_.clear();
      self->writing_bytes_ = 0;
      if (ec) return self->close_now();
      if (self->close_after_write_ && self->pending_.empty()) return self->close_now();
      if (!self->pending_.empty()) return self->write();
      // A burst is over: give back what it needed beyond a few frames.
      if (self->writing_.capacity() > 16) {
        decltype(self->writing_)().swap(self->writing_);
        decltype(self->pending_)().swap(self->pending_);
        decltype(self->buffers_)().swap(self->buffers_);
      }
    };
    if constexpr (kPlain<S>) asio::async_write(socket(), buffers_, std::move(done));
    else asio::async_write(stream_, buffers_, std::move(done));
  }

  // --- the end ---------------------------------------------------------------------------------

  void end(boost::system::error_code ec) {
    if (ended_) return;
    ended_ = true;
    Sweeper::get().remove(this);
    if (deadline_) deadline_->cancel();
    std::string why = close_code_ ? close_reason_ : ec.message();
    logging::get("net")->info("net.ws_closed user={} code={} reason=\"{}\"", caller_.handle, close_code_, why);
    close_now();
    drop_pending();
    --ctx_.stats.websocket_connections;
    attached_ = false;
    http_->close = nullptr;
    http_->going_away = nullptr;
    if (auto change = hub_.detach(caller_.user_id, caller_.session); change.changed())
      api::announce_presence(ctx_, caller_.user_id, change.after);
    http_->finish();
  }

  S stream_;
  api::Context& ctx_;
  realtime::Hub& hub_;
  api::Caller caller_;
  std::shared_ptr<HttpServer::Session> http_;
  std::string in_;       // received bytes not yet handled
  std::string message_;  // a fragmented message being put together
  std::vector<Frame> pending_, writing_;
  std::vector<asio::const_buffer> buffers_;
  std::unique_ptr<asio::steady_timer> deadline_;  // only while closing
  TokenBucket bucket_;
  double rate_, burst_;
  std::size_t max_queue_bytes_;
  std::size_t pending_bytes_ = 0, writing_bytes_ = 0;  // of the frames in pending_ and writing_
  Clock::time_point last_read_;
  Clock::duration idle_timeout_;
  std::size_t max_message_;
  std::uint32_t max_queue_;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::uint16_t revoke_code_ = 0;  // rights revoked: closed with this once the request in hand is answered
  std::string revoke_reason_;
  std::uint8_t fragments_ = 0;  // opcode of the fragmented message being received
  bool paused_ = false, closing_ = false, fatal_ = false, ended_ = false, attached_ = false;
  bool writing_now_ = false, write_posted_ = false, close_after_write_ = false, ping_sent_ = false, revoked_ = false;
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
