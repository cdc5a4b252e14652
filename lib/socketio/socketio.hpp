// Socket.IO v5 over Engine.IO (docs/socketio.md): the packet codec, and namespaces: a client joins
// a namespace with CONNECT (and an auth payload), then EVENT and ACK packets flow between it and
// the application's Socket for that namespace. Binary attachments are put together here (the
// application gets them beside the arguments, placeholders left in place).
// Lives on one event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <string_view>
#include <vector>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.hpp"
#include "socketio/engineio.hpp"

namespace tourbus::sio {

enum class Type : std::uint8_t { connect, disconnect, event, ack, connect_error, binary_event, binary_ack };

struct Packet {
  Type type = Type::event;
  std::string nsp = "/";
  std::optional<std::uint64_t> id;  // the ack id
  boost::json::value data;          // null when the packet has none
  std::size_t attachments = 0;      // binary parts that follow (binary_event, binary_ack)
};

// A Socket.IO packet as it travels in an Engine.IO message; bad_request says what is wrong.
Result<Packet> decode(std::string_view text, std::size_t max_attachments);
// The text of a packet (`data`: JSON text or empty), without Engine.IO's "4".
std::string encode(Type type, std::string_view nsp, std::optional<std::uint64_t> id, std::string_view data,
                   std::size_t attachments = 0);
// An EVENT as a whole Engine.IO message ("42[...]"): `name` and JSON text of the arguments after it.
std::string event_message(std::string_view name, std::initializer_list<std::string_view> args);

class Link;

// The application's side of one client in one namespace.
class Socket {
 public:
  virtual ~Socket() = default;
  // An EVENT: args[0] is the event name. `attachments`: binary parts, in placeholder order.
  virtual void on_event(boost::json::array args, std::optional<std::uint64_t> ack,
                        std::vector<std::string> attachments) = 0;
  // The client left the namespace, or its connection ended.
  virtual void on_disconnect(std::string_view reason) = 0;
  // Once a ping interval, for periodic checks.
  virtual void on_heartbeat() {}
};

// A namespace's application: decides on each CONNECT.
class Namespace {
 public:
  virtual ~Namespace() = default;
  // Answer with link->accept(...) or link->refuse(...), at once or later.
  virtual void connect(std::shared_ptr<Link> link, const boost::json::value& auth) = 0;
};

class Connection;

// One client's place in one namespace, for the application to answer on. Safe to hold after the
// connection ended: everything then does nothing.
class Link : public std::enable_shared_from_this<Link> {
 public:
  Link(std::weak_ptr<eio::Session> session, std::string nsp);
  const std::string& nsp() const { return nsp_; }
  const std::string& id() const { return id_; }
  // The Engine.IO session, while the client is in the namespace.
  std::shared_ptr<eio::Session> session() const;
  bool connected() const { return state_ == State::connected; }

  // Lets the client in: CONNECT {"sid": id, ...extra}; `socket` receives its events from now on.
  void accept(std::unique_ptr<Socket> socket, boost::json::object extra = {});
  // Keeps it out: CONNECT_ERROR with `data` ({"message": ..., "data": ...}).
  void refuse(boost::json::value data);
  // Sends an EVENT (a whole Engine.IO packet made by the caller, e.g. once for many clients).
  void send(const eio::Packet& packet);
  void emit(std::string_view name, const boost::json::array& args, const std::vector<std::string>& attachments = {});
  void ack(std::uint64_t id, const boost::json::array& args, const std::vector<std::string>& attachments = {});
  // Ends the client's membership from the server's side (DISCONNECT).
  void disconnect();

 private:
  friend class Connection;
  enum class State { connecting, connected, gone };
  void write(Type type, std::optional<std::uint64_t> id, const boost::json::value& data,
             const std::vector<std::string>& attachments);
  std::weak_ptr<eio::Session> session_;
  std::string nsp_;
  std::string id_;
  State state_ = State::connecting;
};

struct Options {
  // A client that joins no namespace this soon is disconnected.
  std::chrono::milliseconds connect_timeout{45000};
  std::size_t max_attachments = 10;
};

// The namespaces, and the Engine.IO handler of each session.
class Server {
 public:
  explicit Server(Options options) : options_(options) {}
  void set_options(Options options) { options_ = options; }
  // `ns` stays owned by the caller and must outlive the server's sessions.
  void add(std::string nsp, Namespace& ns) { namespaces_[std::move(nsp)] = &ns; }
  // eio::Server's Accept.
  std::unique_ptr<eio::Handler> accept(eio::Session& session);

 private:
  friend class Connection;
  Options options_;
  std::map<std::string, Namespace*, std::less<>> namespaces_;
};

}  // namespace tourbus::sio
