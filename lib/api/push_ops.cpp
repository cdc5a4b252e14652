// push.* and device.* operations: the browsers' Web Push subscriptions and the phones' FCM and
// APNs tokens that push notifications go to.
#include <boost/url/parse.hpp>

#include "api/handlers.hpp"
#include "api/schema.hpp"
#include "core/jwt.hpp"
#include "core/time.hpp"
#include "notify/feed.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {

using boost::json::array;
using boost::json::object;

namespace {

// True when the URL's host is one of the comma-separated hosts or a subdomain of one: the daemon
// only ever calls the push services it was told about, whatever a client registers.
bool known_push_service(std::string_view endpoint, std::string_view hosts) {
  auto url = boost::urls::parse_uri(endpoint);
  if (!url || url->has_userinfo()) return false;
  std::string host(url->host());
  for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    auto h = hosts.substr(0, comma);
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    if (!h.empty() && (host == h || (host.size() > h.size() && host.ends_with(h) && host[host.size() - h.size() - 1] == '.')))
      return true;
    hosts = comma == std::string_view::npos ? std::string_view() : hosts.substr(comma + 1);
  }
  return false;
}

bool token_chars(std::string_view t) {
  return !t.empty() && t.size() <= 4096 && std::ranges::all_of(t, [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == ':' || ch == '_' || ch == '-' || ch == '.';
  });
}

}  // namespace

boost::asio::awaitable<Result<Reply>> push_subscribe(Context& ctx, const Caller& caller, const object& p) {
  notify::PushSubscription s;
  s.endpoint = *get_string(p, "endpoint");
  s.p256dh = *get_string(p, "p256dh");
  s.auth = *get_string(p, "auth");
  if (!s.endpoint.starts_with("https://") || s.endpoint.size() > 2048 || s.endpoint.find_first_of(" \r\n") != std::string::npos)
    co_return Error(Code::invalid_argument, "endpoint: the push service's https:// URL from PushSubscription.endpoint", "endpoint");
  if (auto url = boost::urls::parse_uri(s.endpoint); !url)
    co_return Error(Code::invalid_argument, "endpoint: not a URL", "endpoint");
  else if (url->has_userinfo())
    co_return Error(Code::invalid_argument, "endpoint: a push service URL carries no user name or password", "endpoint");
  if (!known_push_service(s.endpoint, ctx.config.get()->webpush_endpoint_hosts))
    co_return Error(Code::invalid_argument, "endpoint: not a known push service (webpush.endpoint_hosts)", "endpoint");
  auto key = jwt::base64url_decode(s.p256dh);
  if (!key || key->size() != 65 || (*key)[0] != '\x04')
    co_return Error(Code::invalid_argument, "p256dh: the browser's P-256 public key, base64url (65 bytes)", "p256dh");
  auto secret = jwt::base64url_decode(s.auth);
  if (!secret || secret->size() != 16)
    co_return Error(Code::invalid_argument, "auth: the 16-byte authentication secret, base64url", "auth");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  s.user_id = *user;
  s.created_at = timeutil::now_ms();
  auto pending = ctx.writer.run<notify::PushSubscription>(
      [s](store::Db& db) -> Result<notify::PushSubscription> { return notify::addresses::subscribe(db, s); });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::created(object{{"id", done->id}, {"endpoint", done->endpoint}, {"created_at", timeutil::format_utc(done->created_at)}});
}

boost::asio::awaitable<Result<Reply>> push_unsubscribe(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto pending = ctx.writer.run<bool>([uid = *user, id](store::Db& db) -> Result<bool> {
    if (!notify::addresses::unsubscribe(db, uid, id)) return Error(Code::not_found, "id: no subscription " + std::to_string(id), "id");
    return true;
  });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::ok(object{{"id", id}, {"removed", true}});
}

boost::asio::awaitable<Result<Reply>> device_register(Context& ctx, const Caller& caller, const object& p) {
  notify::Device d;
  d.platform = *get_string(p, "platform");
  d.token = *get_string(p, "token");
  if (d.platform != "fcm" && d.platform != "apns")
    co_return Error(Code::invalid_argument, "platform: fcm (Android) or apns (iOS)", "platform");
  if (!token_chars(d.token)) co_return Error(Code::invalid_argument, "token: the device's push token as the platform gave it", "token");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  d.user_id = *user;
  d.created_at = timeutil::now_ms();
  auto pending = ctx.writer.run<notify::Device>([d](store::Db& db) -> Result<notify::Device> { return notify::addresses::register_device(db, d); });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::created(object{{"id", done->id}, {"platform", done->platform}, {"created_at", timeutil::format_utc(done->created_at)}});
}

boost::asio::awaitable<Result<Reply>> device_unregister(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto pending = ctx.writer.run<bool>([uid = *user, id](store::Db& db) -> Result<bool> {
    if (!notify::addresses::unregister_device(db, uid, id)) return Error(Code::not_found, "id: no device " + std::to_string(id), "id");
    return true;
  });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::ok(object{{"id", id}, {"removed", true}});
}

boost::asio::awaitable<Result<Reply>> push_list(Context& ctx, const Caller& caller, const object& p) {
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto uid = subject_user(db, caller, p);
    if (!uid) return uid.error();
    array subs, devices;
    for (const auto& s : notify::addresses::subscriptions(db, *uid))
      subs.push_back(object{{"id", s.id}, {"endpoint", s.endpoint}, {"created_at", timeutil::format_utc(s.created_at)}});
    for (const auto& d : notify::addresses::devices(db, *uid))
      devices.push_back(object{{"id", d.id}, {"platform", d.platform}, {"token", d.token.substr(0, 8) + "…"},
                               {"created_at", timeutil::format_utc(d.created_at)}});
    return object{{"subscriptions", std::move(subs)}, {"devices", std::move(devices)}};
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> push_vapid_key(Context& ctx, const Caller&, const object&) {
  auto cfg = ctx.config.get();
  if (cfg->webpush_public_key.empty())
    co_return Error(Code::not_found, "Web Push is not configured on this daemon (webpush.vapid_public_key)");
  co_return Reply::ok(object{{"public_key", cfg->webpush_public_key}});
}

namespace {
const Binding kBindings[] = {
    {"push.vapid_key", push_vapid_key},
    {"push.subscribe", push_subscribe},
    {"push.unsubscribe", push_unsubscribe},
    {"push.list", push_list},
    {"device.register", device_register},
    {"device.unregister", device_unregister},
};
}  // namespace

std::span<const Binding> push_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
