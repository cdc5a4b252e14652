// The CLI's WebSocket client (docs/protocol.md), used by `tourbus follow` and `tourbus chat`:
// locally over the control socket (as an operator, or --as HANDLE), remotely over TCP with a
// token. Requests are matched to replies by ref; pushes go to a handler. Runs on one io_context;
// not thread-safe.
#pragma once

#include <deque>
#include <functional>
#include <map>
#include <memory>
#include <optional>
#include <string>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/ssl/context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/websocket/stream.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.hpp"

namespace tourbus::cli {

// Where the daemon is: the control socket, or ws://HOST:PORT (wss:// with TLS) with a token.
struct Endpoint {
  std::string socket;  // set for the control socket
  std::string host, port;
  bool tls = false;
  std::string cacert;  // TLS: a PEM file of extra trusted certificates
  std::string token;
  std::string as;  // control socket: act as this user
  std::string describe() const { return socket.empty() ? (tls ? "wss://" : "ws://") + host + ":" + port : socket; }
};

// Parses ws://HOST[:PORT][/v1/ws] or wss://... (http:// and https:// are accepted too); port 3001
// by default.
Result<Endpoint> parse_server_url(std::string_view url);

class Live {
 public:
  using Push = std::function<void(const std::string& event, const boost::json::object& data)>;
  explicit Live(boost::asio::io_context& io, Endpoint endpoint);

  // Connects and upgrades to WebSocket.
  boost::asio::awaitable<Status> connect();
  // Reads frames until the connection ends, handing replies to their callers and pushes to
  // on_push. Afterwards every outstanding call has failed with `unavailable`.
  boost::asio::awaitable<void> run();
  // Sends a request and waits for its reply (the data), or its error.
  boost::asio::awaitable<Result<boost::json::value>> call(std::string event, boost::json::object data);
  // Calls an operation whose body is raw bytes (file.upload) over HTTP, on a fresh connection to
  // the same endpoint: the JSON answer.
  boost::asio::awaitable<Result<boost::json::value>> upload(std::string operation, boost::json::object params,
                                                             std::string bytes);
  void close();
  bool open() const { return open_; }

  Push on_push;

 private:
  using Stream = boost::beast::basic_stream<boost::asio::generic::stream_protocol>;
  using TlsStream = boost::beast::ssl_stream<Stream>;
  boost::asio::awaitable<Result<Stream>> dial();
  // The TLS handshake over a dialled stream, checking the certificate and the host name.
  boost::asio::awaitable<Result<TlsStream>> secure(Stream stream);
  template <class S>
  boost::asio::awaitable<Status> upgrade(std::unique_ptr<boost::beast::websocket::stream<S>>& ws, S stream);
  template <class S>
  boost::asio::awaitable<Result<boost::json::value>> exchange(S& stream, std::string method, std::string target,
                                                              std::string body, std::string content_type);
  // Runs f on the open WebSocket, plain or TLS.
  template <class F>
  auto on_ws(F&& f) {
    return plain_ ? f(*plain_) : f(*secure_);
  }
  void send(std::string frame);
  boost::asio::awaitable<void> write_loop();

  boost::asio::io_context& io_;
  Endpoint endpoint_;
  std::unique_ptr<boost::asio::ssl::context> tls_;
  std::unique_ptr<boost::beast::websocket::stream<Stream>> plain_;
  std::unique_ptr<boost::beast::websocket::stream<TlsStream>> secure_;
  std::map<std::int64_t, std::function<void(Result<boost::json::value>)>> waiting_;
  std::deque<std::string> outbox_;
  bool writing_ = false;
  bool open_ = false;
  std::int64_t next_ref_ = 0;
};

}  // namespace tourbus::cli
