#include "realtime/relay.hpp"

#include <nats/nats.h>

#include <boost/asio/post.hpp>
#include <boost/json.hpp>

#include "core/logging.hpp"

namespace tourbus::realtime {

namespace asio = boost::asio;
namespace json = boost::json;

// A relay message: one line of JSON (who sent it, what kind, to whom), then for an event the
// event's own JSON text:
//   {"node":"tb1","kind":"event","users":[3,4],"platform":false,"name":"message.new","data":[29,140]}\n{...}
//   {"node":"tb1","kind":"end_token","user":3,"token":12,"reason":"..."}
//   {"node":"tb1","kind":"end_user","user":3,"reason":"..."}
//   {"node":"tb1","kind":"set_role","user":3,"role":"guide"}
// "data" is where the event's data lies in its JSON text (offset, length).

struct Relay::Nats {
  natsOptions* options = nullptr;
  natsConnection* connection = nullptr;
  natsSubscription* subscription = nullptr;
  ~Nats() {
    if (subscription) natsSubscription_Destroy(subscription);
    if (connection) {
      natsConnection_Close(connection);
      natsConnection_Destroy(connection);
    }
    if (options) natsOptions_Destroy(options);
  }
};

namespace {

void on_message(natsConnection*, natsSubscription*, natsMsg* msg, void* closure) {
  auto* relay = static_cast<Relay*>(closure);
  relay->receive(std::string_view(natsMsg_GetData(msg), static_cast<std::size_t>(natsMsg_GetDataLength(msg))));
  natsMsg_Destroy(msg);
}

}  // namespace

Relay::Relay(asio::io_context& io, Hub& hub, std::string node, const std::string& urls)
    : io_(io), hub_(hub), node_(std::move(node)), nats_(std::make_unique<Nats>()) {
  auto log = logging::get("cluster");
  auto check = [&](natsStatus s, const char* what) {
    if (s != NATS_OK) throw std::runtime_error(std::string("nats: ") + what + ": " + natsStatus_GetText(s));
  };
  check(natsOptions_Create(&nats_->options), "options");
  check(natsOptions_SetURL(nats_->options, urls.c_str()), "cluster.nats");
  check(natsOptions_SetName(nats_->options, ("tourbusd " + node_).c_str()), "name");
  check(natsOptions_SetMaxReconnect(nats_->options, -1), "reconnect");  // for ever
  check(natsOptions_SetReconnectWait(nats_->options, 500), "reconnect wait");
  check(natsOptions_SetReconnectJitter(nats_->options, 100, 1000), "reconnect jitter");
  // Publishes while disconnected are dropped, not buffered: the store has them, and clients
  // catch up by seq (docs/protocol.md); a buffer would deliver them late and out of order.
  check(natsOptions_SetReconnectBufSize(nats_->options, 0), "reconnect buffer");
  check(natsOptions_SetDisconnectedCB(
            nats_->options,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              self->connected_ = false;
              if (!self->closing_)
                logging::get("cluster")->warn("cluster.nats_disconnected (pushes reach this node's sessions only)");
            },
            this),
        "callbacks");
  check(natsOptions_SetReconnectedCB(
            nats_->options,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              self->connected_ = true;
              ++self->stats_.reconnects;
              logging::get("cluster")->info("cluster.nats_reconnected");
            },
            this),
        "callbacks");
  // Not there at start: keep trying in the background (the store has everything meanwhile).
  check(natsOptions_SetRetryOnFailedConnect(
            nats_->options, true,
            [](natsConnection*, void* closure) {
              auto* self = static_cast<Relay*>(closure);
              self->connected_ = true;
              logging::get("cluster")->info("cluster.nats_connected");
            },
            this),
        "retry");
  auto s = natsConnection_Connect(&nats_->connection, nats_->options);
  if (s == NATS_OK) {
    connected_ = true;
    log->info("cluster.nats_connected");
  } else if (s == NATS_NOT_YET_CONNECTED) {
    log->warn("cluster.nats_not_yet_connected (trying in the background)");
  } else {
    check(s, "connect");
  }
  check(natsConnection_Subscribe(&nats_->subscription, nats_->connection, kSubject, on_message, this), "subscribe");
}

Relay::~Relay() {
  closing_ = true;
  nats_.reset();
}

void Relay::send(const std::string& bytes) {
  if (!connected_) return;  // sessions elsewhere catch up from the store
  if (natsConnection_Publish(nats_->connection, kSubject, bytes.data(), static_cast<int>(bytes.size())) == NATS_OK)
    ++stats_.sent;
}

void Relay::publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) {
  hub_.publish(users, event, platform);
  json::array to;
  to.reserve(users.size());
  for (auto u : users) to.push_back(u);
  auto data = event->data();
  auto offset = static_cast<std::int64_t>(data.data() - event->json().data());
  json::object head{{"node", node_},
                    {"kind", "event"},
                    {"users", std::move(to)},
                    {"platform", platform},
                    {"name", event->name()},
                    {"data", json::array{offset, static_cast<std::int64_t>(data.size())}}};
  send(json::serialize(head) + "\n" + event->json());
}

std::size_t Relay::end_token(std::int64_t user, std::int64_t token, std::string_view reason) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "end_token"}, {"user", user}, {"token", token}, {"reason", reason}}));
  return hub_.end_token(user, token, reason);
}

std::size_t Relay::end_user(std::int64_t user, std::string_view reason) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "end_user"}, {"user", user}, {"reason", reason}}));
  return hub_.end_user(user, reason);
}

std::size_t Relay::set_role(std::int64_t user, Role role) {
  send(json::serialize(json::object{{"node", node_}, {"kind", "set_role"}, {"user", user}, {"role", role_name(role)}}));
  return hub_.set_role(user, role);
}

bool Relay::receive(std::string_view bytes) {
  auto drop = [&] {
    ++stats_.dropped;
    return false;
  };
  auto nl = bytes.find('\n');
  boost::system::error_code ec;
  auto head_value = json::parse(bytes.substr(0, nl), ec);
  if (ec || !head_value.is_object()) return drop();
  const auto& head = head_value.as_object();
  const auto* node = head.if_contains("node");
  const auto* kind = head.if_contains("kind");
  if (!node || !node->is_string() || !kind || !kind->is_string()) return drop();
  if (node->as_string() == node_) return true;  // this node's own, delivered already
  auto int_at = [&](const char* key) -> std::optional<std::int64_t> {
    const auto* v = head.if_contains(key);
    if (!v || !v->is_int64()) return std::nullopt;
    return v->as_int64();
  };
  auto text_at = [&](const char* key) -> std::optional<std::string> {
    const auto* v = head.if_contains(key);
    if (!v || !v->is_string()) return std::nullopt;
    return std::string(v->as_string());
  };
  std::string k(kind->as_string());
  if (k == "event") {
    if (nl == std::string_view::npos) return drop();
    std::string text(bytes.substr(nl + 1));
    const auto* users = head.if_contains("users");
    const auto* platform = head.if_contains("platform");
    const auto* data = head.if_contains("data");
    auto name = text_at("name");
    if (!users || !users->is_array() || !platform || !platform->is_bool() || !data || !data->is_array() || !name)
      return drop();
    const auto& span = data->as_array();
    if (span.size() != 2 || !span[0].is_int64() || !span[1].is_int64()) return drop();
    auto off = span[0].as_int64(), len = span[1].as_int64();
    if (off < 0 || len < 0 || static_cast<std::uint64_t>(off) + static_cast<std::uint64_t>(len) > text.size()) return drop();
    std::vector<std::int64_t> to;
    to.reserve(users->as_array().size());
    for (const auto& u : users->as_array()) {
      if (!u.is_int64()) return drop();
      to.push_back(u.as_int64());
    }
    auto event = std::make_shared<const events::Event>(std::move(*name), std::move(text),
                                                       std::pair{static_cast<std::size_t>(off), static_cast<std::size_t>(len)});
    ++stats_.received;
    asio::post(io_, [this, to = std::move(to), event, p = platform->as_bool()] { hub_.publish(to, event, p); });
    return true;
  }
  auto user = int_at("user");
  if (!user) return drop();
  if (k == "end_token") {
    auto token = int_at("token");
    auto reason = text_at("reason");
    if (!token || !reason) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, t = *token, r = std::move(*reason)] { hub_.end_token(u, t, r); });
    return true;
  }
  if (k == "end_user") {
    auto reason = text_at("reason");
    if (!reason) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, r = std::move(*reason)] { hub_.end_user(u, r); });
    return true;
  }
  if (k == "set_role") {
    auto name = text_at("role");
    auto role = name ? role_from_name(*name) : std::nullopt;
    if (!role) return drop();
    ++stats_.received;
    asio::post(io_, [this, u = *user, r = *role] { hub_.set_role(u, r); });
    return true;
  }
  return drop();
}

}  // namespace tourbus::realtime
