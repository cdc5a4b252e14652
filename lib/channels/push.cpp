// The push channels: Web Push to browsers (RFC 8030, payloads encrypted per RFC 8291 with
// aes128gcm, VAPID per RFC 8292), FCM HTTP v1 for Android (OAuth2 access token from a
// service-account JWT, RS256, cached until it expires) and APNs for iOS (token auth with an
// ES256 JWT, renewed every 50 minutes, over HTTP/2). A subscription or device token the service
// says is gone (404/410, UNREGISTERED, BadDeviceToken) is removed.
#include <chrono>
#include <fstream>
#include <mutex>
#include <sstream>

#include <boost/json/parse.hpp>
#include "core/json.hpp"

#include "channels/channels.hpp"
#include "channels/http.hpp"
#include "channels/webpush_crypto.hpp"
#include "core/jwt.hpp"
#include "core/time.hpp"

namespace tourbus::channels {
namespace {

using boost::json::object;

std::int64_t unix_now() { return timeutil::now_ms() / 1000; }

Result<std::string> read_file(const std::string& path, std::string_view key) {
  std::ifstream in(path, std::ios::binary);
  if (!in) return Error(Code::invalid_argument, std::string(key) + ": cannot read " + path);
  std::stringstream ss;
  ss << in.rdbuf();
  return ss.str();
}

// What the person sees, the same on every push channel; push services take about 4 KB, so the
// text is cut to fit (the whole text is in the feed and the e-mail).
object payload(const notify::Job& job) {
  return object{{"title", clip_utf8(job.subject.empty() ? job.body : job.subject, 120)},
                {"body", clip_utf8(job.body, 2000)},
                {"category", job.category},
                {"notification", job.notification_id},
                {"delivery", job.id}};
}

// Addresses: one job per browser subscription or phone, by id; ids are never reused, and a job's
// subscription or device must still be its user's (and of its platform) when it is delivered.
std::vector<std::string> subscription_addresses(store::Db& db, const store::User& u, const config::Config&) {
  std::vector<std::string> out;
  for (const auto& s : notify::addresses::subscriptions(db, u.id)) out.push_back(std::to_string(s.id));
  return out;
}

std::optional<notify::Destination> subscription_resolve(store::Db& db, notify::Job& job) {
  auto id = notify::addresses::address_id(job.address);
  if (!id) return std::nullopt;
  auto sub = notify::addresses::subscription(db, *id);
  if (!sub || sub->user_id != job.user_id) return std::nullopt;
  return notify::Destination{.subscription = std::move(sub)};
}

void subscription_forget(store::Db& db, const notify::Job& job) {
  if (auto id = notify::addresses::address_id(job.address)) notify::addresses::unsubscribe(db, job.user_id, *id);
}

template <const std::string_view& Platform>
std::vector<std::string> device_addresses(store::Db& db, const store::User& u, const config::Config&) {
  std::vector<std::string> out;
  for (const auto& d : notify::addresses::devices(db, u.id))
    if (d.platform == Platform) out.push_back(std::to_string(d.id));
  return out;
}

std::optional<notify::Destination> device_resolve(store::Db& db, notify::Job& job) {
  auto id = notify::addresses::address_id(job.address);
  if (!id) return std::nullopt;
  auto dev = notify::addresses::device(db, *id);
  if (!dev || dev->user_id != job.user_id || dev->platform != job.channel) return std::nullopt;
  return notify::Destination{.device = std::move(dev)};
}

void device_forget(store::Db& db, const notify::Job& job) {
  if (auto id = notify::addresses::address_id(job.address)) notify::addresses::unregister_device(db, job.user_id, *id);
}

constexpr std::string_view kWebPushName = "webpush", kFcmName = "fcm", kApnsName = "apns";
constexpr std::string_view kWebPushKeys[] = {"webpush.vapid_public_key", "webpush.vapid_private_key", "webpush.subject",
                                             "webpush.endpoint_hosts",   "webpush.ttl_seconds",       "webpush.rate_per_second"};
constexpr std::string_view kFcmKeys[] = {"fcm.service_account_file", "fcm.url", "fcm.rate_per_second"};
constexpr std::string_view kApnsKeys[] = {"apns.key_file", "apns.key_id", "apns.team_id",
                                          "apns.topic",    "apns.url",    "apns.rate_per_second"};
const notify::Descriptor kWebPush{.name = kWebPushName,
                                  .auto_rank = 2,
                                  .addresses = subscription_addresses,
                                  .resolve = subscription_resolve,
                                  .forget = subscription_forget,
                                  .config_keys = kWebPushKeys};
const notify::Descriptor kFcm{.name = kFcmName,
                              .auto_rank = 3,
                              .addresses = device_addresses<kFcmName>,
                              .resolve = device_resolve,
                              .forget = device_forget,
                              .config_keys = kFcmKeys};
const notify::Descriptor kApns{.name = kApnsName,
                               .auto_rank = 4,
                               .addresses = device_addresses<kApnsName>,
                               .resolve = device_resolve,
                               .forget = device_forget,
                               .config_keys = kApnsKeys};

// ---------------------------------------------------------------------------------------------
class WebPush : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kWebPush; }
  bool configured(const config::Config& c) const override { return !c.webpush_private_key.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.webpush_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination& to, const config::Config& c) override {
    const auto& sub = *to.subscription;
    auto body = webpush::encrypt(json::dump(payload(job)), sub.p256dh, sub.auth);
    if (!body) return notify::Outcome::permanent("bad_subscription", body.error().message);
    webpush::VapidKeys keys{c.webpush_public_key, c.webpush_private_key};
    auto auth = webpush::vapid_authorization(sub.endpoint, c.webpush_subject, keys, unix_now() + 12 * 3600);
    if (!auth) return notify::Outcome::retry("vapid", auth.error().message);  // a config problem: fixable
    HttpRequest req;
    req.url = sub.endpoint;
    req.body = std::move(*body);
    auto urgency = job.category == "emergency" ? "high" : job.category == "marketing" ? "low" : "normal";
    req.headers = {"Content-Type: application/octet-stream", "Content-Encoding: aes128gcm",
                   "TTL: " + std::to_string(c.webpush_ttl_seconds), std::string("Urgency: ") + urgency,
                   "Authorization: " + *auth};
    auto res = perform(req, c);
    auto o = classify(res);
    if (res.status == 404 || res.status == 410) o.forget_address = true;  // the subscription expired
    return o;
  }
};

// ---------------------------------------------------------------------------------------------
class Fcm : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kFcm; }
  bool configured(const config::Config& c) const override { return !c.fcm_service_account_file.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.fcm_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination& to, const config::Config& c) override {
    auto token = access_token(c);
    if (!token) return notify::Outcome::retry("oauth", token.error().message);
    auto shown = payload(job);
    object message{{"token", to.device->token},
                   {"notification", object{{"title", shown["title"]}, {"body", shown["body"]}}},
                   {"data", object{{"category", job.category},
                                   {"notification", std::to_string(job.notification_id)},
                                   {"delivery", std::to_string(job.id)}}},
                   {"android", object{{"priority", job.category == "emergency" ? "high" : "normal"}}}};
    HttpRequest req;
    auto base = c.fcm_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + "/v1/projects/" + url_encode(project_) + "/messages:send";
    req.headers = {"Content-Type: application/json", "Authorization: Bearer " + *token};
    req.body = json::dump(object{{"message", std::move(message)}});
    auto res = perform(req, c);
    if (res.status == 401) {  // the token was revoked or expired early: get a new one next time
      std::lock_guard lock(mutex_);
      token_.clear();
    }
    auto o = classify(res);
    if (res.status == 401) o.kind = notify::Outcome::Kind::retry;
    // The device token is gone or malformed: remove it.
    if (res.status == 404 || (res.status == 400 && res.body.find("registration token") != std::string::npos) ||
        res.body.find("\"UNREGISTERED\"") != std::string::npos) {
      o.kind = notify::Outcome::Kind::permanent;
      o.forget_address = true;
    }
    return o;
  }

 private:
  // The cached OAuth2 access token, or a new one from the token endpoint (RFC 7523 JWT bearer).
  Result<std::string> access_token(const config::Config& c) {
    std::lock_guard lock(mutex_);
    auto now = unix_now();
    if (!token_.empty() && now < token_expires_ - 60 && account_file_ == c.fcm_service_account_file) return token_;
    auto text = read_file(c.fcm_service_account_file, "fcm.service_account_file");
    if (!text) return text.error();
    boost::system::error_code ec;
    auto doc = boost::json::parse(*text, ec);
    if (ec || !doc.is_object()) return Error(Code::invalid_argument, "fcm.service_account_file: not JSON");
    auto field = [&](const char* k) -> std::string {
      auto* v = doc.as_object().if_contains(k);
      return v && v->is_string() ? std::string(v->as_string()) : std::string();
    };
    auto email = field("client_email"), pem = field("private_key"), token_uri = field("token_uri");
    project_ = field("project_id");
    if (email.empty() || pem.empty() || token_uri.empty() || project_.empty())
      return Error(Code::invalid_argument, "fcm.service_account_file: needs client_email, private_key, token_uri and project_id");
    auto key = jwt::Key::from_pem(pem);
    if (!key) return key.error();
    object header{{"alg", "RS256"}, {"typ", "JWT"}};
    if (auto kid = field("private_key_id"); !kid.empty()) header["kid"] = kid;
    object claims{{"iss", email}, {"scope", "https://www.googleapis.com/auth/firebase.messaging"},
                  {"aud", token_uri}, {"iat", now}, {"exp", now + 3600}};
    auto assertion = jwt::sign_rs256(json::dump(header), json::dump(claims), *key);
    if (!assertion) return assertion.error();
    HttpRequest req;
    req.url = token_uri;
    req.headers = {"Content-Type: application/x-www-form-urlencoded"};
    req.body = "grant_type=" + url_encode("urn:ietf:params:oauth:grant-type:jwt-bearer") + "&assertion=" + *assertion;
    auto res = perform(req, c);
    if (res.status != 200)
      return Error(Code::unavailable, "token endpoint answered " + (res.status ? std::to_string(res.status) : res.curl_error) + ": " +
                                          res.body.substr(0, 200));
    auto answer = boost::json::parse(res.body, ec);
    const boost::json::value* at = (!ec && answer.is_object()) ? answer.as_object().if_contains("access_token") : nullptr;
    if (!at || !at->is_string()) return Error(Code::unavailable, "token endpoint: no access_token in the answer");
    token_ = std::string(at->as_string());
    auto* expires = answer.as_object().if_contains("expires_in");
    token_expires_ = now + (expires && expires->is_int64() ? expires->as_int64() : 3600);
    account_file_ = c.fcm_service_account_file;
    return token_;
  }

  std::mutex mutex_;
  std::string token_, project_, account_file_;
  std::int64_t token_expires_ = 0;
};

// ---------------------------------------------------------------------------------------------
class Apns : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kApns; }
  bool configured(const config::Config& c) const override { return !c.apns_key_file.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.apns_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination& to, const config::Config& c) override {
    auto jwt = provider_token(c);
    if (!jwt) return notify::Outcome::retry("jwt", jwt.error().message);
    auto shown = payload(job);
    object alert{{"title", shown["title"]}, {"body", shown["body"]}};
    object aps{{"alert", std::move(alert)}, {"sound", "default"}};
    if (job.category == "emergency") aps["interruption-level"] = "time-sensitive";
    object body{{"aps", std::move(aps)}, {"category", job.category}, {"notification", job.notification_id},
                {"delivery", job.id}};
    HttpRequest req;
    auto base = c.apns_url;
    while (!base.empty() && base.back() == '/') base.pop_back();
    req.url = base + "/3/device/" + url_encode(to.device->token);
    req.http2 = true;
    req.body = json::dump(body);
    req.headers = {"authorization: bearer " + *jwt, "apns-topic: " + c.apns_topic, "apns-push-type: alert",
                   std::string("apns-priority: ") + (job.category == "marketing" ? "5" : "10"),
                   "apns-expiration: " + std::to_string(unix_now() + 86400), "content-type: application/json"};
    auto res = perform(req, c);
    auto o = classify(res);
    if (res.status == 403 && res.body.find("ExpiredProviderToken") != std::string::npos) {
      std::lock_guard lock(mutex_);
      jwt_.clear();
      o.kind = notify::Outcome::Kind::retry;
    }
    // 410 and BadDeviceToken: the token is gone. (DeviceTokenNotForTopic is left alone: it usually
    // means a wrong apns.topic or a development token on the production server, not a dead device.)
    if (res.status == 410 || (res.status == 400 && res.body.find("BadDeviceToken") != std::string::npos)) {
      o.kind = notify::Outcome::Kind::permanent;
      o.forget_address = true;
    }
    return o;
  }

 private:
  // Apple wants the same token reused for 20-60 minutes: renewed after 50.
  Result<std::string> provider_token(const config::Config& c) {
    std::lock_guard lock(mutex_);
    auto now = unix_now();
    if (!jwt_.empty() && now - issued_ < 50 * 60 && key_file_ == c.apns_key_file) return jwt_;
    auto pem = read_file(c.apns_key_file, "apns.key_file");
    if (!pem) return pem.error();
    auto key = jwt::Key::from_pem(*pem);
    if (!key) return key.error();
    auto signed_jwt = jwt::sign_es256(json::dump(object{{"alg", "ES256"}, {"kid", c.apns_key_id}}),
                                      json::dump(object{{"iss", c.apns_team_id}, {"iat", now}}), *key);
    if (!signed_jwt) return signed_jwt.error();
    jwt_ = *signed_jwt;
    issued_ = now;
    key_file_ = c.apns_key_file;
    return jwt_;
  }

  std::mutex mutex_;
  std::string jwt_, key_file_;
  std::int64_t issued_ = 0;
};

}  // namespace

std::string clip_utf8(std::string_view s, std::size_t max) {
  if (s.size() <= max) return std::string(s);
  constexpr std::string_view kMark = "…";
  auto n = max - kMark.size();
  while (n > 0 && (static_cast<unsigned char>(s[n]) & 0xC0) == 0x80) --n;  // not inside a character
  return std::string(s.substr(0, n)) + std::string(kMark);
}

std::unique_ptr<Channel> make_webpush() { return std::make_unique<WebPush>(); }
std::unique_ptr<Channel> make_fcm() { return std::make_unique<Fcm>(); }
std::unique_ptr<Channel> make_apns() { return std::make_unique<Apns>(); }

}  // namespace tourbus::channels
