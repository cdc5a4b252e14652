// Engine.IO v4 (docs/socketio.md): the sessions under Socket.IO, carried by HTTP long-polling, by a
// WebSocket, or by polling first and then upgraded to a WebSocket. This layer knows no HTTP server
// and no WebSocket implementation: the host hands it each polling request (polling()) and each
// WebSocket that asks for it (open_websocket(), then the session's ws_* calls), and it answers
// through WsLink. What a session carries is handed to its Handler (the Socket.IO layer, or the
// conformance suite's echo server).
// Lives on one event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <unordered_map>
#include <utility>
#include <vector>

#include <boost/asio/any_io_executor.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/steady_timer.hpp>

namespace tourbus::eio {

namespace asio = boost::asio;
using Bytes = std::shared_ptr<const std::string>;

struct Options {
  std::chrono::milliseconds ping_interval{25000};
  std::chrono::milliseconds ping_timeout{20000};
  std::size_t max_payload = 1000000;  // bytes of one POST body or WebSocket message from a client
  bool polling = true;                // the long-polling transport is offered
  bool websocket = true;              // the WebSocket transport is offered
  // Packets (and bytes) held for a polling client between two polls; beyond, it is too slow and
  // its session is closed.
  std::size_t queue_packets = 1024;
  std::size_t queue_bytes = 8 << 20;
  // Origins that browsers may call from (CORS); "*": any. Empty: none (same origin only).
  std::vector<std::string> cors_origins;
};

// A packet on its way to the client: a whole Engine.IO text packet (type digit first), or binary
// data. `ws`: the same packet already framed for a WebSocket, when the caller made it once for many
// sessions (else the link frames it).
struct Packet {
  Bytes data;
  bool binary = false;
  Bytes ws;
};
// A message packet ("4" + text).
Packet message(std::string_view text);

// An HTTP request at the Engine.IO path, as the host received it.
struct HttpRequest {
  std::string_view method;
  std::string_view target;  // path and query
  std::string_view body;
  std::string_view origin;  // the Origin header, if any
};

struct HttpReply {
  int status = 200;
  std::string content_type = "text/plain; charset=UTF-8";
  std::string body;
  std::vector<std::pair<std::string, std::string>> headers;
};

// A WebSocket connection as Engine.IO sees it; implemented by the host.
class WsLink {
 public:
  virtual ~WsLink() = default;
  virtual void send(const Packet& packet) = 0;
  // Ends the connection (a close frame); the host then calls Session::ws_closed().
  virtual void close() = 0;
};

class Session;

// What a session carries, for the layer above; one per session, owned by it.
class Handler {
 public:
  virtual ~Handler() = default;
  // A message packet: text (the packet without its "4") or binary data.
  virtual void on_message(std::string_view data, bool binary) = 0;
  // The session is over (`reason`: "transport close", "ping timeout", "client close", ...).
  // Nothing may be sent on it any more.
  virtual void on_close(std::string_view reason) = 0;
  // A heartbeat went by (once a ping interval): time for periodic checks.
  virtual void on_heartbeat() {}
};

// Who opened a session, as the host knows it.
struct Peer {
  std::string name;      // for logs
  std::string ip;        // the client's address (TCP)
  bool control = false;  // it came on the host's control socket (trusted)
};

// The opening request of a session: its query parameters and who sent it.
struct Handshake {
  std::vector<std::pair<std::string, std::string>> query;
  Peer from;
  const std::string* param(std::string_view name) const;
};

class Server;

class Session : public std::enable_shared_from_this<Session> {
 public:
  Session(Server& server, std::string id, Handshake handshake, Options options);
  ~Session();
  Session(const Session&) = delete;
  Session& operator=(const Session&) = delete;

  const std::string& id() const { return id_; }
  const Handshake& handshake() const { return handshake_; }
  const Options& options() const { return options_; }
  asio::any_io_executor executor() const;
  Handler* handler() const { return handler_.get(); }
  bool closed() const { return closed_; }
  bool websocket() const { return transport_ == Transport::websocket; }

  // Queues a packet for the client (dropped once the session is closed).
  void send(Packet packet);
  // Ends the session: the client is told (a close packet), the handler learns `reason`.
  void close(std::string_view reason);

  // --- for the host ---------------------------------------------------------------------------
  // A long-polling GET: answered when packets are ready (at the latest with the next ping).
  asio::awaitable<HttpReply> poll();
  // A long-polling POST of packets.
  HttpReply post(std::string_view body);
  // A message from a WebSocket carrying (or probing) this session.
  void ws_message(WsLink& link, std::string_view data, bool binary);
  // That WebSocket is gone.
  void ws_closed(WsLink& link);

 private:
  friend class Server;
  enum class Transport { polling, websocket };
  // Handles one packet from the client; false: malformed (the session is then closed).
  bool receive(std::string_view packet, bool binary);
  void start(std::unique_ptr<Handler> handler);
  void heartbeat();
  bool pong_overdue() const { return awaiting_pong_ && asio::steady_timer::clock_type::now() >= heartbeat_.expiry(); }
  void wake();
  void end(std::string_view reason, std::string_view last_poll);

  Server& server_;
  std::string id_;
  Handshake handshake_;
  Options options_;
  std::unique_ptr<Handler> handler_;
  Transport transport_ = Transport::polling;
  WsLink* ws_ = nullptr;     // the WebSocket carrying the session
  WsLink* probe_ = nullptr;  // a WebSocket upgrading it
  bool upgrading_ = false;   // probed: polls get a noop until the upgrade completes
  std::vector<Packet> queue_;  // for the next poll (a vector: nothing allocated for a WebSocket session)
  std::size_t queued_bytes_ = 0;
  bool polling_ = false;    // a GET is waiting
  std::string last_poll_;   // what the waiting GET answers once the session is over
  asio::steady_timer wake_;  // a waiting GET sleeps on it
  asio::steady_timer heartbeat_;
  bool awaiting_pong_ = false;
  bool closed_ = false;
};

class Server {
 public:
  // Makes the handler of a new session (before its open packet is sent).
  using Accept = std::function<std::unique_ptr<Handler>(Session&)>;
  Server(asio::any_io_executor executor, Options options, Accept accept);
  ~Server();

  // Options for sessions opened from now on (reload).
  void set_options(Options options) { options_ = std::move(options); }
  const Options& options() const { return options_; }

  // A request at the path that is not a WebSocket upgrade.
  asio::awaitable<HttpReply> polling(HttpRequest req, Peer from);
  // A WebSocket upgrade at the path: a refusal (400, a bad EIO or transport) or nothing when it
  // may go ahead.
  std::optional<HttpReply> check_websocket(const HttpRequest& req) const;
  // After the upgrade: the session the link carries from now on (a new one, or the one it
  // upgrades), or null when it may not (an unknown sid, or one upgraded already: close the link).
  std::shared_ptr<Session> open_websocket(WsLink& link, const HttpRequest& req, Peer from);

  std::size_t sessions() const { return sessions_.size(); }
  // Closes every session (shutdown).
  void close_all(std::string_view reason);
  asio::any_io_executor executor() const { return executor_; }

 private:
  friend class Session;
  std::shared_ptr<Session> open(Handshake handshake);
  std::string open_packet(const Session& s) const;
  HttpReply cors(HttpReply reply, std::string_view origin) const;
  // A session the client closed with no poll waiting: one more poll within a ping interval gets
  // the noop it would have got had it come first (its poll and its close raced).
  void closed_by_client(const std::string& sid);
  bool last_poll(const std::string& sid);

  asio::any_io_executor executor_;
  Options options_;
  Accept accept_;
  std::unordered_map<std::string, std::shared_ptr<Session>> sessions_;
  std::vector<std::pair<std::string, std::chrono::steady_clock::time_point>> closed_;
};

// Engine.IO's error answers to bad requests: {"code": N, "message": ...} with HTTP 400.
HttpReply bad_request(int code, std::string_view message);

}  // namespace tourbus::eio
