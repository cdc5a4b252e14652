#include "calls/janus.hpp"

#include <chrono>

#include <boost/json/parse.hpp>

#include "channels/http.hpp"
#include "core/crypto.hpp"
#include "core/json.hpp"

namespace tourbus::calls {
namespace {

using boost::json::object;

Error unreachable(const std::string& why) { return Error(Code::unavailable, "the media server (Janus) " + why); }

std::int64_t now_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

}  // namespace

std::optional<Error> plugin_error(const object& data) {
  const auto* code = data.if_contains("error_code");
  if (!code || !code->is_int64()) return std::nullopt;
  const auto* e = data.if_contains("error");
  std::string why = e && e->is_string() ? std::string(e->as_string()) : "error " + std::to_string(code->as_int64());
  auto n = code->as_int64();
  if (n == 426 || n == 428) return Error(Code::unavailable, "the media server has no such stream: " + why);
  return Error(Code::internal, "the media server refused: " + why + " (" + std::to_string(n) + ")");
}

Result<object> Janus::post(const std::string& path, object body) const {
  body["transaction"] = crypto::random_token(12);
  if (!config_->calls_janus_api_secret.empty()) body["apisecret"] = config_->calls_janus_api_secret;
  channels::HttpRequest req;
  req.url = config_->calls_janus_url + path;
  req.headers = {"Content-Type: application/json"};
  req.body = json::dump(body);
  req.timeout_ms = 5000;
  auto res = channels::perform(req, *config_);
  if (res.status == 0) return unreachable("cannot be reached: " + res.curl_error);
  if (res.status != 200) return unreachable("answered HTTP " + std::to_string(res.status));
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec || !v.is_object()) return unreachable("answered something that is not JSON");
  auto& o = v.as_object();
  if (o.contains("error") && o.at("error").is_object()) {
    const auto& e = o.at("error").as_object();
    return unreachable("refused: " + (e.contains("reason") ? std::string(e.at("reason").as_string()) : std::string("?")));
  }
  return std::move(o);
}

Result<JanusHandle> Janus::open() const {
  auto created = post("", object{{"janus", "create"}});
  if (!created) return created.error();
  JanusHandle h;
  h.session = static_cast<std::uint64_t>(created->at("data").at("id").to_number<std::int64_t>());
  auto attached = post("/" + std::to_string(h.session), object{{"janus", "attach"}, {"plugin", "janus.plugin.videoroom"}});
  if (!attached) {
    close(h);
    return attached.error();
  }
  h.handle = static_cast<std::uint64_t>(attached->at("data").at("id").to_number<std::int64_t>());
  return h;
}

void Janus::close(const JanusHandle& h) const {
  if (h.session == 0) return;
  (void)post("/" + std::to_string(h.session), object{{"janus", "destroy"}});
}

Status Janus::keepalive(const JanusHandle& h) const {
  auto r = post("/" + std::to_string(h.session), object{{"janus", "keepalive"}});
  if (!r) return r.error();
  return {};
}

Result<object> Janus::request(const JanusHandle& h, object body) const {
  if (body.at("request") == "create" && !config_->calls_janus_admin_key.empty()) body["admin_key"] = config_->calls_janus_admin_key;
  auto r = post("/" + std::to_string(h.session) + "/" + std::to_string(h.handle), object{{"janus", "message"}, {"body", std::move(body)}});
  if (!r) return r.error();
  const auto* pd = r->if_contains("plugindata");
  if (!pd || !pd->is_object() || !pd->as_object().contains("data")) return unreachable("answered without the plugin's data");
  auto data = pd->at("data").as_object();
  if (auto e = plugin_error(data)) return *e;
  return data;
}

Result<JanusEvent> Janus::exchange(const JanusHandle& h, object body, std::optional<std::string> sdp, const std::string& sdp_type,
                                   std::int64_t timeout_ms) const {
  object msg{{"janus", "message"}, {"body", std::move(body)}};
  if (sdp) msg["jsep"] = object{{"type", sdp_type}, {"sdp", *sdp}};
  auto ack = post("/" + std::to_string(h.session) + "/" + std::to_string(h.handle), std::move(msg));
  if (!ack) return ack.error();
  auto transaction = std::string(ack->at("transaction").as_string());
  // The event comes on the session's long poll, tagged with the request's transaction.
  auto deadline = now_ms() + timeout_ms;
  while (now_ms() < deadline) {
    channels::HttpRequest req;
    req.method = "GET";
    req.url = config_->calls_janus_url + "/" + std::to_string(h.session) + "?maxev=5";
    if (!config_->calls_janus_api_secret.empty()) req.url += "&apisecret=" + channels::url_encode(config_->calls_janus_api_secret);
    req.timeout_ms = std::max<std::int64_t>(1000, std::min<std::int64_t>(deadline - now_ms(), 10'000));
    auto res = channels::perform(req, *config_);
    if (res.status == 0 && res.curl_error.find("imeout") != std::string::npos) continue;
    if (res.status != 200) return unreachable(res.status == 0 ? "cannot be reached: " + res.curl_error : "answered HTTP " + std::to_string(res.status));
    boost::system::error_code ec;
    auto v = boost::json::parse(res.body, ec);
    if (ec) return unreachable("answered something that is not JSON");
    boost::json::array events;
    if (v.is_array()) events = v.as_array();
    else events.push_back(v);
    for (auto& e : events) {
      if (!e.is_object()) continue;
      auto& o = e.as_object();
      const auto* t = o.if_contains("transaction");
      if (o.if_contains("janus") == nullptr || o.at("janus") != "event" || !t || !t->is_string() || t->as_string() != transaction) continue;
      JanusEvent out;
      if (const auto* pd = o.if_contains("plugindata"); pd && pd->is_object() && pd->as_object().contains("data"))
        out.data = pd->at("data").as_object();
      if (auto err = plugin_error(out.data)) return *err;
      if (const auto* j = o.if_contains("jsep"); j && j->is_object()) {
        out.sdp = std::string(j->at("sdp").as_string());
        out.sdp_type = std::string(j->at("type").as_string());
      }
      return out;
    }
  }
  return unreachable("did not answer within " + std::to_string(timeout_ms) + " ms");
}

Result<object> Janus::once(object body) const {
  auto h = open();
  if (!h) return h.error();
  auto r = request(*h, std::move(body));
  close(*h);
  return r;
}

}  // namespace tourbus::calls
