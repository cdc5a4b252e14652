// HTTP/1.1 + JSON server for the operation table, on TCP (bearer tokens; TLS when configured) and
// on the Unix control socket (operator rights, peer credentials logged). Runs on one io_context;
// not thread-safe.
#pragma once

#include <chrono>
#include <filesystem>
#include <functional>
#include <list>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>

#include "api/context.hpp"
#include "api/uploads.hpp"
#include "net/limits.hpp"
#include "net/socketio_api.hpp"
#include "net/tls.hpp"
#include "realtime/hub.hpp"

namespace tourbus::net {

class HttpServer {
 public:
  HttpServer(boost::asio::io_context& io, api::Context& ctx, realtime::Hub& hub);
  ~HttpServer();

  // Binds the TCP listener; returns the bound "host:port" (port 0 picks a free one). Throws.
  std::string listen_tcp(const std::string& host, std::uint16_t port);
  // Binds the control socket with mode 0660 (and `group`, when not empty). Throws.
  void listen_unix(const std::filesystem::path& path, const std::string& group);
  // TLS for connections accepted on the TCP listener from now on; null: plain HTTP.
  void set_tls(TlsContext tls) { tls_ = std::move(tls); }
  bool tls() const { return tls_ != nullptr; }
  // Starts accepting on the bound listeners.
  void start();
  // Stops accepting, closes idle keep-alive connections; requests in flight finish and their
  // connections then close.
  void drain();
  // True when no connection remains.
  bool drained() const { return sessions_.empty(); }
  // Closes every connection now.
  void close_all();
  // Takes a reloaded config (for what is not read from it per request).
  void configure() { sio_.configure(); }

  // One connection's state, so drain() can close connections that sit idle between requests.
  struct Session {
    std::function<void()> close;       // drop the connection now
    std::function<void()> going_away;  // end it politely on shutdown (WebSocket: close code 1001)
    bool busy = false;
    bool handed_off = false;           // a WebSocket session took the connection over
    std::int64_t websocket_token = 0;  // the token its WebSocket session counts against
    std::function<void()> finished;    // the server forgets the connection
    void finish() {
      if (auto f = std::move(finished)) {
        finished = nullptr;
        f();
      }
    }
  };

 private:
  // Counts events and says when one may be logged: at most once every 10 seconds.
  struct Throttle {
    std::chrono::steady_clock::time_point last{};
    std::uint64_t count = 0;
    bool due(std::chrono::steady_clock::time_point now);
    std::uint64_t take();  // events since the last line
  };

  boost::asio::awaitable<void> accept_tcp();
  boost::asio::awaitable<void> accept_unix();
  // Waits `backoff` (then doubles it, up to a second) before accepting again.
  boost::asio::awaitable<void> pause_accepting(std::chrono::milliseconds& backoff);

  boost::asio::io_context& io_;
  api::Context& ctx_;
  realtime::Hub& hub_;
  Limits limits_;
  api::Uploads uploads_;
  SocketIoApi sio_;
  std::filesystem::path incoming_;  // upload bodies being received
  boost::asio::ip::tcp::acceptor tcp_;
  boost::asio::local::stream_protocol::acceptor unix_;
  std::filesystem::path unix_path_;
  TlsContext tls_;
  std::list<std::shared_ptr<Session>> sessions_;
  bool draining_ = false;
  // A descriptor held back for the control socket: when accepting an operator fails for want of
  // descriptors, it is closed so the next accept succeeds.
  int reserve_fd_ = -1;
  Throttle accept_log_, refuse_log_, ip_refuse_log_, control_log_;
  std::chrono::steady_clock::time_point short_of_descriptors_until_{};  // an accept failed for want of them
};

}  // namespace tourbus::net
