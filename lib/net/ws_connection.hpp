// One WebSocket connection after the upgrade, whatever it carries (the daemon's own framing in
// websocket.cpp, Engine.IO in engineio_ws.cpp): RFC 6455 framing (net/ws_frame.hpp, not taken from
// a library, so that the fan-out path stays cheap: a pushed frame is encoded once for all its
// sessions, each session writes all it has queued in one writev, and an idle connection holds no
// read buffer and no timer), keepalive, the closing handshake and the bounded send queue: a client
// that reads too slowly is closed with code 4001 rather than allowed to hold memory or delay anyone
// else. Internal to net/; on the event loop.
#pragma once

#include <chrono>
#include <memory>
#include <string>
#include <vector>

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/write.hpp>

#include "core/events.hpp"
#include "core/logging.hpp"
#include "net/stream.hpp"
#include "net/ws_frame.hpp"

namespace tourbus::net {

// Close code sent to a client whose send queue overflowed.
inline constexpr std::uint16_t kCloseTooSlow = 4001;

using Clock = std::chrono::steady_clock;
// Bytes queued on a connection: a frame, shared with the other connections it goes to.
using Frame = events::Framed;

// Keepalive without a timer per connection: one sweep a second over every open connection pings
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
    static auto* s = new Sweeper;  // never destroyed: connections may end during static destruction
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
      // Backwards: a connection removed now swaps in one already visited.
      for (auto i = list_.size(); i-- > 0;)
        if (i < list_.size()) list_[i]->sweep(now);
      if (timer_) arm();
    });
  }
  std::vector<Live*> list_;
  std::unique_ptr<asio::steady_timer> timer_;
};

struct WsSettings {
  std::size_t max_message;  // bytes of one message from the client
  std::uint32_t max_queue;  // frames queued for it
  std::size_t max_queue_bytes;
  Clock::duration idle_timeout;  // pinged at half of it, dropped after all of it
};

template <class S>
constexpr bool kPlain = std::is_same_v<S, Stream>;

// S is Stream or TlsStream. The derived class handles messages (on_message) and the end (on_end).
template <class S>
class WsConnection : public std::enable_shared_from_this<WsConnection<S>>, public Live {
 public:
  using std::enable_shared_from_this<WsConnection<S>>::shared_from_this;

  WsConnection(S stream, WsSettings settings) : stream_(std::move(stream)), settings_(settings) {}
  ~WsConnection() override { Sweeper::get().remove(this); }

  // Sends the 101 answer (with `accept`, the Sec-WebSocket-Accept value) and starts reading
  // (bytes the client sent right after the upgrade request are in `early`).
  void open(const std::string& accept, std::string early) {
    beast::get_lowest_layer(stream_).expires_never();
    if constexpr (kPlain<S>) {
      boost::system::error_code ignored;
      socket().non_blocking(true, ignored);  // read_some after a wait must never block
    }
    last_read_ = Clock::now();
    push(std::make_shared<const std::string>(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Accept: " +
        accept + "\r\nServer: tourbusd/" TOURBUS_VERSION "\r\n\r\n"));
    Sweeper::get().add(this, stream_.get_executor());
    in_ = std::move(early);
  }
  // Starts reading, once the derived class is ready for messages.
  void start_reading() { resume(); }

  void sweep(Clock::time_point now) override {
    if (ended_) return;
    on_sweep(now);
    if (ended_) return;
    auto quiet = now - last_read_;
    // Dropped only after a ping went unanswered: a late sweep never drops a client unpinged.
    if (quiet >= settings_.idle_timeout && ping_sent_) {
      logging::get("net")->info("net.ws_timeout user={} seconds={}", who(),
                                std::chrono::duration_cast<std::chrono::seconds>(settings_.idle_timeout).count());
      close_now();
    } else if (quiet >= settings_.idle_timeout / 2 && !ping_sent_ && !closing_) {
      ping_sent_ = true;
      static const Frame ping = std::make_shared<const std::string>(ws::server_frame(ws::ping, ""));
      push(ping);
    }
  }

  // Ends the connection with a close frame (1001 on shutdown, 4001 for a slow client, 4003
  // revoked); a client that does not answer it is dropped 5 seconds later. Frames still queued
  // are dropped, unless `drop_queued` is false (they go out first).
  void close_with(std::uint16_t code, std::string_view reason, bool drop_queued = true) {
    if (closing_ || ended_) return;
    closing_ = true;
    if (drop_queued) drop_pending();
    push(std::make_shared<const std::string>(ws::close_frame(code, reason)));
    deadline_ = std::make_unique<asio::steady_timer>(stream_.get_executor());
    deadline_->expires_after(std::chrono::seconds(5));
    deadline_->async_wait([weak = std::weak_ptr<WsConnection>(shared_from_this())](boost::system::error_code e) {
      if (auto s = weak.lock(); s && !e) s->close_now();
    });
  }

  // Drops the connection at once.
  void close_now() {
    beast::error_code ignored;
    socket().close(ignored);
  }

  // Queues a frame. A full queue means the client does not keep up: it is closed, not waited for.
  void enqueue(const Frame& frame) {
    if (closing_ || ended_) return;
    if (pending_.size() + writing_.size() >= settings_.max_queue ||
        pending_bytes_ + writing_bytes_ + frame->size() > settings_.max_queue_bytes) {
      logging::get("net")->warn("net.ws_too_slow user={} queued={} queued_bytes={}", who(),
                                pending_.size() + writing_.size(), pending_bytes_ + writing_bytes_);
      on_too_slow();
      close_with(kCloseTooSlow, "send queue full: the client reads too slowly");
      return;
    }
    push(frame);
  }

 protected:
  // A whole message (text or binary) from the client. Call pause() to handle it asynchronously
  // (nothing more is read meanwhile) and proceed() when done.
  virtual void on_message(ws::Opcode op, std::string_view payload) = 0;
  // The connection is gone (`ec`: why reading stopped, when close_code() is 0).
  virtual void on_end(boost::system::error_code ec) = 0;
  // Once a second, before the keepalive check.
  virtual void on_sweep(Clock::time_point) {}
  virtual void on_too_slow() {}
  // Who is at the other end, for logs.
  virtual std::string who() const = 0;

  void pause() { paused_ = true; }
  void proceed() {
    paused_ = false;
    resume();
  }
  bool paused() const { return paused_; }
  bool closing() const { return closing_; }
  bool ended() const { return ended_; }
  std::uint16_t close_code() const { return close_code_; }
  const std::string& close_reason() const { return close_reason_; }
  S& stream() { return stream_; }

 private:
  auto& socket() { return beast::get_lowest_layer(stream_).socket(); }

  // --- reading ---------------------------------------------------------------------------------

  // Plain sockets wait for readability and read into one buffer shared by all connections, so an
  // idle connection holds no read buffer; TLS reads into the connection's own.
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

  // Parses what waits in in_, then reads on unless a message is being handled.
  void resume() {
    if (ended_) return;
    auto used = process(std::span<char>(in_.data(), in_.size()));
    in_.erase(0, used);
    if (in_.empty() && in_.capacity() > 4096) std::string().swap(in_);
    if (!paused_) read();
  }

  // Handles the complete frames at the start of buf; returns the bytes used. Stops after a
  // message the derived class paused on, or a protocol error.
  std::size_t process(std::span<char> buf) {
    std::size_t pos = 0;
    while (!paused_ && !ended_ && !fatal_) {
      auto f = ws::parse_client_frame(buf.subspan(pos), settings_.max_message);
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
          if (message_.size() + f.payload.size() > settings_.max_message) {
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
    if (closing_) return;  // closing (too slow, revoked): nothing more is done for this client
    if (op == ws::text && !ws::valid_utf8(payload)) return protocol_error(ws::kInvalidData, "a text frame that is not UTF-8");
    on_message(op, payload);
  }

 protected:
  // The client broke the protocol: tell it why and stop reading.
  void protocol_error(std::uint16_t code, const char* why) {
    logging::get("net")->info("net.ws_protocol_error user={} code={} error=\"{}\"", who(), code, why);
    fatal_ = true;
    close_code_ = code;
    if (closing_) return close_now();  // our close frame is out already: nothing more may follow it
    close_with(code, why);
    close_after_write_ = true;  // failing the connection: nothing more is read from it
  }

 private:
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

  // --- writing ---------------------------------------------------------------------------------

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
    close_now();
    drop_pending();
    on_end(ec);
  }

  S stream_;
  WsSettings settings_;
  std::string in_;       // received bytes not yet handled
  std::string message_;  // a fragmented message being put together
  std::vector<Frame> pending_, writing_;
  std::vector<asio::const_buffer> buffers_;
  std::unique_ptr<asio::steady_timer> deadline_;  // only while closing
  std::size_t pending_bytes_ = 0, writing_bytes_ = 0;  // of the frames in pending_ and writing_
  Clock::time_point last_read_;
  std::uint16_t close_code_ = 0;
  std::string close_reason_;
  std::uint8_t fragments_ = 0;  // opcode of the fragmented message being received
  bool paused_ = false, closing_ = false, fatal_ = false, ended_ = false;
  bool writing_now_ = false, write_posted_ = false, close_after_write_ = false, ping_sent_ = false;
};

}  // namespace tourbus::net
