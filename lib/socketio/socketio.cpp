#include "socketio/socketio.hpp"

#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto.hpp"

namespace tourbus::sio {

namespace {

bool digit(char c) { return c >= '0' && c <= '9'; }

Error bad(std::string why) { return Error(Code::bad_request, std::move(why)); }

}  // namespace

Result<Packet> decode(std::string_view text, std::size_t max_attachments) {
  if (text.empty() || !digit(text[0]) || text[0] > '6') return bad("unknown packet type");
  Packet p;
  p.type = static_cast<Type>(text[0] - '0');
  std::size_t i = 1;
  if (p.type == Type::binary_event || p.type == Type::binary_ack) {
    auto start = i;
    std::size_t n = 0;
    while (i < text.size() && digit(text[i]) && i - start < 6) n = n * 10 + static_cast<std::size_t>(text[i++] - '0');
    if (i == start || i >= text.size() || text[i] != '-') return bad("a binary packet without its attachment count");
    if (n == 0 || n > max_attachments) return bad("too many binary attachments");
    p.attachments = n;
    ++i;
  }
  if (i < text.size() && text[i] == '/') {
    auto comma = text.find(',', i);
    auto end = comma == std::string_view::npos ? text.size() : comma;
    p.nsp.assign(text.substr(i, end - i));
    i = comma == std::string_view::npos ? end : end + 1;
  }
  if (i < text.size() && digit(text[i])) {
    auto start = i;
    std::uint64_t id = 0;
    while (i < text.size() && digit(text[i])) {
      if (i - start >= 15) return bad("an ack id that is too long");
      id = id * 10 + static_cast<std::uint64_t>(text[i++] - '0');
    }
    p.id = id;
  }
  if (i < text.size()) {
    boost::system::error_code ec;
    p.data = boost::json::parse(text.substr(i), ec);
    if (ec) return bad("a payload that is not JSON");
  }
  switch (p.type) {
    case Type::connect:
      if (!p.data.is_null() && !p.data.is_object()) return bad("a CONNECT payload that is not an object");
      break;
    case Type::disconnect:
      if (!p.data.is_null()) return bad("a DISCONNECT with a payload");
      break;
    case Type::event:
    case Type::binary_event:
      if (!p.data.is_array() || p.data.as_array().empty() || !p.data.as_array()[0].is_string())
        return bad("an EVENT payload that is not an array starting with the event name");
      break;
    case Type::ack:
    case Type::binary_ack:
      if (!p.data.is_array() || !p.id) return bad("an ACK without an id or an array payload");
      break;
    case Type::connect_error: return bad("CONNECT_ERROR comes from servers only");
  }
  return p;
}

std::string encode(Type type, std::string_view nsp, std::optional<std::uint64_t> id, std::string_view data,
                   std::size_t attachments) {
  std::string s;
  s.reserve(data.size() + nsp.size() + 24);
  s += static_cast<char>('0' + static_cast<int>(type));
  if (type == Type::binary_event || type == Type::binary_ack) {
    s += std::to_string(attachments);
    s += '-';
  }
  if (nsp != "/") {
    s += nsp;
    s += ',';
  }
  if (id) s += std::to_string(*id);
  s += data;
  return s;
}

std::string event_message(std::string_view name, std::initializer_list<std::string_view> args) {
  std::string s = "42[";
  s += boost::json::serialize(boost::json::string_view(name.data(), name.size()));
  for (auto a : args) {
    s += ',';
    s += a;
  }
  s += ']';
  return s;
}

// --- one Engine.IO session's namespaces --------------------------------------------------------

class Connection : public eio::Handler {
 public:
  Connection(Server& server, eio::Session& session)
      : server_(server), session_(session.weak_from_this()), timer_(session.executor()) {
    timer_.expires_after(server.options_.connect_timeout);
    timer_.async_wait([weak = session_](boost::system::error_code ec) {
      if (ec) return;
      if (auto s = weak.lock()) s->close("connect timeout");
    });
  }

  void on_message(std::string_view data, bool binary) override {
    if (binary) {
      if (!pending_) return fail();
      parts_.emplace_back(data);
      if (parts_.size() == pending_->attachments) {
        auto p = std::move(*pending_);
        pending_.reset();
        dispatch(std::move(p), std::exchange(parts_, {}));
      }
      return;
    }
    if (pending_) return fail();  // text before the attachments of the last packet
    auto p = decode(data, server_.options_.max_attachments);
    if (!p) return fail();
    if (p->attachments) {
      pending_ = std::move(*p);
      return;
    }
    dispatch(std::move(*p), {});
  }

  void on_close(std::string_view reason) override {
    timer_.cancel();
    auto links = std::make_shared<decltype(links_)>(std::move(links_));
    links_.clear();
    for (auto& [nsp, entry] : *links) {
      entry.link->state_ = Link::State::gone;
      if (entry.socket) entry.socket->on_disconnect(reason);
    }
    // The sockets may be what closed the session: they go once their calls have returned.
    boost::asio::post(timer_.get_executor(), [links] {});
  }

  void on_heartbeat() override {
    std::vector<Socket*> sockets;  // a socket may leave meanwhile
    for (auto& [nsp, entry] : links_)
      if (entry.socket) sockets.push_back(entry.socket.get());
    for (auto* socket : sockets) socket->on_heartbeat();
  }

  void joined(Link& link, std::unique_ptr<Socket> socket) {
    auto it = links_.find(link.nsp());
    if (it == links_.end() || it->second.link.get() != &link) return;
    it->second.socket = std::move(socket);
    timer_.cancel();
  }
  // The server ended the link (refused or disconnected it): its socket hears of it, later, since
  // it may be what ended it.
  void left(Link& link, std::string_view reason) {
    auto it = links_.find(link.nsp());
    if (it == links_.end() || it->second.link.get() != &link) return;
    auto socket = std::shared_ptr<Socket>(std::move(it->second.socket));
    links_.erase(it);
    if (socket)
      boost::asio::post(timer_.get_executor(), [socket, why = std::string(reason)] { socket->on_disconnect(why); });
  }

 private:
  struct Entry {
    std::shared_ptr<Link> link;
    std::unique_ptr<Socket> socket;  // once accepted
  };

  // A malformed packet: the protocol says the connection is closed.
  void fail() {
    if (auto s = session_.lock()) s->close("parse error");
  }

  void dispatch(Packet p, std::vector<std::string> parts) {
    switch (p.type) {
      case Type::connect: {
        if (links_.contains(p.nsp)) return;  // already joined (or joining)
        auto ns = server_.namespaces_.find(p.nsp);
        if (ns == server_.namespaces_.end()) {
          if (auto s = session_.lock())
            s->send(eio::message(encode(Type::connect_error, p.nsp, std::nullopt, R"({"message":"Invalid namespace"})")));
          return;
        }
        auto link = std::make_shared<Link>(session_, p.nsp);
        links_[p.nsp] = Entry{link, nullptr};
        ns->second->connect(link, p.data);
        return;
      }
      case Type::disconnect: {
        auto it = links_.find(p.nsp);
        if (it == links_.end()) return;
        auto entry = std::move(it->second);
        links_.erase(it);
        entry.link->state_ = Link::State::gone;
        if (entry.socket) entry.socket->on_disconnect("client namespace disconnect");
        return;
      }
      case Type::event:
      case Type::binary_event: {
        auto it = links_.find(p.nsp);
        if (it == links_.end() || !it->second.socket) return;  // not in that namespace: ignored
        it->second.socket->on_event(std::move(p.data.as_array()), p.id, std::move(parts));
        return;
      }
      default: return;  // acks: the server asks for none
    }
  }

  Server& server_;
  std::weak_ptr<eio::Session> session_;
  boost::asio::steady_timer timer_;
  std::map<std::string, Entry, std::less<>> links_;
  std::optional<Packet> pending_;  // a binary packet waiting for its attachments
  std::vector<std::string> parts_;
};

std::unique_ptr<eio::Handler> Server::accept(eio::Session& session) {
  return std::make_unique<Connection>(*this, session);
}

// --- Link --------------------------------------------------------------------------------------

Link::Link(std::weak_ptr<eio::Session> session, std::string nsp)
    : session_(std::move(session)), nsp_(std::move(nsp)), id_(crypto::random_token(15)) {}

std::shared_ptr<eio::Session> Link::session() const {
  if (state_ == State::gone) return nullptr;
  auto s = session_.lock();
  return s && !s->closed() ? s : nullptr;
}

void Link::accept(std::unique_ptr<Socket> socket, boost::json::object extra) {
  auto s = session();
  if (!s || state_ != State::connecting) return;
  state_ = State::connected;
  extra["sid"] = id_;
  s->send(eio::message(encode(Type::connect, nsp_, std::nullopt, boost::json::serialize(extra))));
  static_cast<Connection*>(s->handler())->joined(*this, std::move(socket));
}

void Link::refuse(boost::json::value data) {
  auto s = session();
  if (!s || state_ != State::connecting) return;
  state_ = State::gone;
  s->send(eio::message(encode(Type::connect_error, nsp_, std::nullopt, boost::json::serialize(data))));
  static_cast<Connection*>(s->handler())->left(*this, "refused");
}

void Link::send(const eio::Packet& packet) {
  if (state_ != State::connected) return;
  if (auto s = session()) s->send(packet);
}

void Link::write(Type type, std::optional<std::uint64_t> id, const boost::json::value& data,
                 const std::vector<std::string>& attachments) {
  auto s = state_ == State::connected ? session() : nullptr;
  if (!s) return;
  if (!attachments.empty())
    type = type == Type::event ? Type::binary_event : Type::binary_ack;
  s->send(eio::message(encode(type, nsp_, id, boost::json::serialize(data), attachments.size())));
  for (const auto& a : attachments) s->send({std::make_shared<const std::string>(a), true});
}

void Link::emit(std::string_view name, const boost::json::array& args, const std::vector<std::string>& attachments) {
  boost::json::array all;
  all.reserve(args.size() + 1);
  all.emplace_back(boost::json::string_view(name.data(), name.size()));
  for (const auto& a : args) all.push_back(a);
  write(Type::event, std::nullopt, all, attachments);
}

void Link::ack(std::uint64_t id, const boost::json::array& args, const std::vector<std::string>& attachments) {
  write(Type::ack, id, args, attachments);
}

void Link::disconnect() {
  auto s = state_ == State::connected ? session() : nullptr;
  if (!s) return;
  s->send(eio::message(encode(Type::disconnect, nsp_, std::nullopt, "")));
  state_ = State::gone;
  auto* c = static_cast<Connection*>(s->handler());
  c->left(*this, "server namespace disconnect");
}

}  // namespace tourbus::sio
