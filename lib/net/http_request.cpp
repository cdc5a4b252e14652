#include "net/http_request.hpp"

#include <sys/socket.h>

#include <boost/beast/http/error.hpp>
#include <boost/url/parse.hpp>

#include "api/auth.hpp"
#include "core/json.hpp"
#include "core/links.hpp"
#include "net/limits.hpp"
#include "net/router.hpp"
#include "net/ws_frame.hpp"

namespace tourbus::net {
namespace {

std::string error_body(const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return json::dump(boost::json::object{{"error", std::move(err)}}) + "\n";
}

// The secret of an "Authorization: Bearer ..." header, or empty.
std::string_view bearer_token(const RequestHeader& req) {
  auto auth = std::string_view(req[http::field::authorization]);
  if (auth.size() <= 7 || !(auth.starts_with("Bearer ") || auth.starts_with("bearer "))) return {};
  return auth.substr(7);
}

}  // namespace

Answer from_error(const Error& e) { return {info(e.code).http_status, "application/json", error_body(e), {}}; }

Answer too_many(const Error& e, std::int64_t retry_after_seconds) {
  auto a = from_error(e);
  a.retry_after = std::max<std::int64_t>(retry_after_seconds, 1);
  return a;
}

std::optional<Answer> unreadable(const beast::error_code& ec, const Error& too_large) {
  if (ec == http::error::header_limit)
    return from_error(Error(Code::payload_too_large, "the request headers are larger than 16 KiB"));
  if (ec == http::error::body_limit) return from_error(too_large);
  bool parse = ec.category() == http::make_error_code(http::error::end_of_stream).category() &&
               ec != http::error::end_of_stream && ec != http::error::partial_message;
  if (parse) return from_error(Error(Code::bad_request, "malformed HTTP request: " + ec.message()));
  return std::nullopt;
}

std::optional<Answer> upgrade_refusal(const RequestHeader& req) {
  if (req[http::field::sec_websocket_version] != "13") {
    auto a = from_error(Error(Code::bad_request, "WebSocket version 13 is required"));
    a.status = 426;
    return a;
  }
  auto key = req[http::field::sec_websocket_key];
  if (!ws::valid_key(std::string_view(key.data(), key.size())))
    return from_error(Error(Code::bad_request, "Sec-WebSocket-Key: missing or malformed"));
  return std::nullopt;
}

std::string peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "uid=? pid=?";
  return "uid=" + std::to_string(cred.uid) + " pid=" + std::to_string(cred.pid);
}

bool is_upload(const RequestHeader& req) {
  auto target = std::string_view(req.target());
  auto path = target.substr(0, target.find('?'));
  for (const auto& op : api::operations())
    if (op.raw_body && op.route == path && op.method == std::string_view(req.method_string())) return true;
  return false;
}

Status websocket_target(const RequestHeader& req) {
  auto url = boost::urls::parse_origin_form(std::string_view(req.target()));
  if (!url) return Error(Code::bad_request, "malformed request target");
  if (url->path() != api::kWebSocketPath)
    return Error(Code::not_found, "the WebSocket endpoint is " + std::string(api::kWebSocketPath));
  return {};
}

bool is_public_link(const RequestHeader& req) {
  return std::string_view(req.target()).starts_with(links::kPath);
}

bool is_webhook(const RequestHeader& req) {
  return std::string_view(req.target()).starts_with(api::kWebhookPath);
}

awaitable<Result<api::Caller>> identify(api::Context& ctx, Limits& limits, const RequestHeader& req, Sender from,
                                        bool websocket) {
  auto transport = websocket ? api::Transport::websocket : from.transport;
  api::Caller caller{Role::operator_, 0, {}, transport, from.peer, from.request_id};
  if (!websocket && from.transport != api::Transport::unix_socket && (is_public_link(req) || is_webhook(req))) {
    // Someone following a link from a message, or a provider's webhook: no token, no rights
    // beyond what the link or the signed body says.
    caller.role = Role::tourist;
    co_return caller;
  }
  if (from.transport == api::Transport::unix_socket) {
    if (websocket)
      if (auto st = websocket_target(req); !st) co_return st.error();
    if (auto as = std::string_view(req[api::kActAsHeader]); !as.empty()) co_return api::act_as(ctx, caller, as);
    co_return caller;
  }
  std::string token(bearer_token(req));  // the header wins over the query parameter
  if (websocket && token.empty()) {
    auto url = boost::urls::parse_origin_form(std::string_view(req.target()));
    if (!url) co_return Error(Code::bad_request, "malformed request target");
    if (auto it = url->params().find("access_token"); it != url->params().end()) token = (*it).value;
  }
  if (token.empty())
    co_return Error(Code::unauthenticated, websocket ? "send a token: Authorization: Bearer tb_... or ?access_token=tb_..."
                                                     : "send a token: Authorization: Bearer tb_...");
  auto pending = api::authenticate(ctx, token, from.peer);
  auto authenticated = co_await std::move(pending);
  if (!authenticated) {
    limits.auth_failed(from.ip);
    co_return authenticated.error();
  }
  if (websocket)  // as on HTTP: nothing is revealed before the token
    if (auto st = websocket_target(req); !st) co_return st.error();
  caller = *authenticated;
  caller.transport = transport;
  caller.request_id = from.request_id;
  co_return caller;
}

awaitable<Answer> run(api::Context& ctx, api::Caller caller, const RequestHeader& req, std::string_view body,
                      const std::filesystem::path* body_file) {
  auto ctype = std::string_view(req[http::field::content_type]);
  auto target = std::string_view(req.target());
  if (is_public_link(req)) {
    // The link says it all: a one-click unsubscribe posts a form, and mail link rewriters append
    // query parameters (utm_source=...); both are ignored.
    body = {};
    target = target.substr(0, target.find('?'));
  }
  std::optional<std::string> webhook_body;
  if (is_webhook(req)) {
    // The provider's form, as it came, and its signature: the operation checks both.
    webhook_body = std::string(body);
    body = {};
  }
  if (!body_file && !body.empty() && !ctype.empty() && !ctype.starts_with("application/json"))
    co_return from_error(Error(Code::unsupported_media_type, "send the body as application/json"));
  auto routed = route(std::string_view(req.method_string()), target, body);
  if (!routed) co_return from_error(routed.error());
  if (webhook_body) {
    if (!routed->op->route.starts_with(api::kWebhookPath) || !routed->op->public_link)
      co_return from_error(Error(Code::not_found, "no such webhook"));
    routed->params["content"] = *webhook_body;
    routed->params["signature"] = std::string(req["X-Twilio-Signature"]);
  }
  caller.body_file = body_file;
  auto pending = api::invoke(ctx, *routed->op, caller, std::move(routed->params));
  auto reply = co_await std::move(pending);
  if (!reply) co_return from_error(reply.error());
  Answer answer;
  answer.status = reply->status;
  answer.content_type = reply->content_type;
  answer.file = reply->file;
  answer.keep_file = reply->keep_file;
  answer.disposition = std::move(reply->disposition);
  if (!reply->location.empty()) answer.headers.emplace_back("Location", reply->location);
  answer.body = reply->file.empty() && reply->content_type == "application/json" ? json::dump(reply->json) + "\n"
                                                                                  : std::move(reply->text);
  co_return answer;
}

}  // namespace tourbus::net
