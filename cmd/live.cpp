#include "live.hpp"

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/asio/local/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/buffers_to_string.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/asio/ssl/host_name_verification.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket.hpp>
#include <boost/beast/websocket/ssl.hpp>
#include <boost/json/parse.hpp>
#include "core/json.hpp"

#include "api/operation.hpp"
#include "client.hpp"

namespace tourbus::cli {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
namespace websocket = beast::websocket;
namespace ssl = asio::ssl;
using boost::asio::awaitable;
constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

Result<Endpoint> parse_server_url(std::string_view url) {
  Endpoint e;
  for (std::string_view scheme : {"ws://", "http://", "wss://", "https://"}) {
    if (url.starts_with(scheme)) {
      url.remove_prefix(scheme.size());
      e.tls = scheme.starts_with("wss") || scheme.starts_with("https");
      break;
    }
  }
  if (url.find("://") != std::string_view::npos)
    return Error(Code::invalid_argument, "--server: expected ws://, wss://, http:// or https://", "server");
  auto slash = url.find('/');
  auto hostport = url.substr(0, slash);
  if (hostport.empty()) return Error(Code::invalid_argument, "--server: expected ws://HOST[:PORT]", "server");
  if (hostport.front() == '[') {
    auto close = hostport.find(']');
    if (close == std::string_view::npos) return Error(Code::invalid_argument, "--server: bad IPv6 address", "server");
    e.host = hostport.substr(1, close - 1);
    auto rest = hostport.substr(close + 1);
    e.port = rest.starts_with(":") ? std::string(rest.substr(1)) : "3001";
  } else {
    auto colon = hostport.rfind(':');
    e.host = hostport.substr(0, colon);
    e.port = colon == std::string_view::npos ? "3001" : std::string(hostport.substr(colon + 1));
  }
  return e;
}

Live::Live(asio::io_context& io, Endpoint endpoint) : io_(io), endpoint_(std::move(endpoint)) {}

awaitable<Result<Live::Stream>> Live::dial() {
  Stream stream(io_);
  if (!endpoint_.socket.empty()) {
    asio::local::stream_protocol::socket s(io_);
    asio::local::stream_protocol::endpoint where(endpoint_.socket);
    auto [ec] = co_await s.async_connect(where, tuple_awaitable);
    if (ec) co_return Error(Code::unavailable, "cannot reach tourbusd at " + endpoint_.socket + " (" + ec.message() + ")");
    stream.socket() = asio::generic::stream_protocol::socket(std::move(s));
    co_return stream;
  }
  asio::ip::tcp::resolver resolver(io_);
  auto [rec, results] = co_await resolver.async_resolve(endpoint_.host, endpoint_.port, tuple_awaitable);
  if (rec) co_return Error(Code::unavailable, "cannot resolve " + endpoint_.host + ": " + rec.message());
  for (const auto& r : results) {
    asio::ip::tcp::socket s(io_);
    auto [ec] = co_await s.async_connect(r.endpoint(), tuple_awaitable);
    if (ec) continue;
    s.set_option(asio::ip::tcp::no_delay(true));
    stream.socket() = asio::generic::stream_protocol::socket(std::move(s));
    co_return stream;
  }
  co_return Error(Code::unavailable, "cannot reach tourbusd at " + endpoint_.describe());
}

awaitable<Result<Live::TlsStream>> Live::secure(Stream stream) {
  if (!tls_) {
    auto ctx = std::make_unique<ssl::context>(ssl::context::tls_client);
    ctx->set_options(ssl::context::no_sslv2 | ssl::context::no_sslv3 | ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1);
    boost::system::error_code ec;
    ctx->set_default_verify_paths(ec);  // the system's CAs, when it has any
    if (!endpoint_.cacert.empty()) {
      ctx->load_verify_file(endpoint_.cacert, ec);
      if (ec) co_return Error(Code::invalid_argument, "--cacert: cannot use " + endpoint_.cacert + " (" + ec.message() + ")", "cacert");
    }
    ctx->set_verify_mode(ssl::verify_peer);
    tls_ = std::move(ctx);
  }
  TlsStream tls(std::move(stream), *tls_);
  tls.set_verify_callback(ssl::host_name_verification(endpoint_.host));
  boost::system::error_code aec;
  asio::ip::make_address(endpoint_.host, aec);
  if (aec) SSL_set_tlsext_host_name(tls.native_handle(), endpoint_.host.c_str());  // SNI for names, not addresses
  beast::get_lowest_layer(tls).expires_after(std::chrono::seconds(30));
  auto [ec] = co_await tls.async_handshake(ssl::stream_base::client, tuple_awaitable);
  beast::get_lowest_layer(tls).expires_never();
  if (ec) {
    std::string hint = ec.category() == asio::error::get_ssl_category() ? " (a private CA or self-signed certificate: --cacert FILE)" : "";
    co_return Error(Code::unavailable, "TLS handshake with " + endpoint_.describe() + " failed: " + ec.message() + hint);
  }
  co_return tls;
}

template <class S>
awaitable<Status> Live::upgrade(std::unique_ptr<websocket::stream<S>>& ws, S stream) {
  ws = std::make_unique<websocket::stream<S>>(std::move(stream));
  auto endpoint = endpoint_;
  ws->set_option(websocket::stream_base::decorator([endpoint](websocket::request_type& req) {
    req.set(http::field::user_agent, "tourbus/" TOURBUS_VERSION);
    if (!endpoint.token.empty()) req.set(http::field::authorization, "Bearer " + endpoint.token);
    if (!endpoint.as.empty()) req.set(api::kActAsHeader, endpoint.as);
  }));
  ws->set_option(websocket::stream_base::timeout::suggested(beast::role_type::client));
  ws->read_message_max(64 << 20);
  websocket::response_type res;
  auto host = endpoint_.socket.empty() ? endpoint_.host : std::string("localhost");
  auto [ec] = co_await ws->async_handshake(res, host, api::kWebSocketPath, tuple_awaitable);
  if (ec) {
    if (res.result_int() == 401) co_return Error(Code::unauthenticated, "the token was refused (" + endpoint_.describe() + ")");
    if (res.result_int() == 404 && !endpoint_.as.empty())
      co_return Error(Code::not_found, "--as: no user '" + endpoint_.as + "'");
    if (res.result_int() == 403) co_return Error(Code::permission_denied, "refused by tourbusd");
    co_return Error(Code::unavailable, "WebSocket handshake with " + endpoint_.describe() + " failed: " + ec.message());
  }
  open_ = true;
  co_return Status{};
}

awaitable<Status> Live::connect() {
  plain_.reset();
  secure_.reset();
  auto dialed = co_await dial();
  if (!dialed) co_return dialed.error();
  if (!endpoint_.tls) {
    auto upgraded = upgrade(plain_, std::move(*dialed));
    co_return co_await std::move(upgraded);
  }
  auto pending = secure(std::move(*dialed));
  auto tls = co_await std::move(pending);
  if (!tls) co_return tls.error();
  auto upgraded = upgrade(secure_, std::move(*tls));
  co_return co_await std::move(upgraded);
}

awaitable<void> Live::run() {
  beast::flat_buffer buffer;
  while (open_) {
    auto reading = on_ws([&](auto& ws) { return ws.async_read(buffer, tuple_awaitable); });
    auto [ec, n] = co_await std::move(reading);
    if (ec) break;
    auto text = beast::buffers_to_string(buffer.data());
    buffer.consume(buffer.size());
    boost::system::error_code jec;
    auto v = boost::json::parse(text, jec);
    if (jec || !v.is_object()) continue;
    auto& o = v.as_object();
    auto* event = o.if_contains("event");
    if (!event || !event->is_string()) continue;
    std::string name(event->as_string());
    auto* data = o.if_contains("data");
    auto* ref = o.if_contains("ref");
    if ((name == "reply" || name == "error") && ref && ref->is_int64()) {
      auto it = waiting_.find(ref->as_int64());
      if (it == waiting_.end()) continue;
      auto done = std::move(it->second);
      waiting_.erase(it);
      if (name == "reply") {
        done(data ? *data : boost::json::value());
      } else {
        const auto& e = data->as_object();
        auto code = code_from_name(std::string(e.at("code").as_string())).value_or(Code::internal);
        std::string field = e.contains("field") ? std::string(e.at("field").as_string()) : "";
        done(Error(code, std::string(e.at("message").as_string()), field));
      }
      continue;
    }
    if (on_push && data && data->is_object()) on_push(name, data->as_object());
  }
  open_ = false;
  auto waiting = std::move(waiting_);
  waiting_.clear();
  for (auto& [ref, done] : waiting) done(Error(Code::unavailable, "the connection to tourbusd was lost"));
}

void Live::send(std::string frame) {
  outbox_.push_back(std::move(frame));
  if (!writing_) {
    writing_ = true;
    asio::co_spawn(io_, write_loop(), asio::detached);
  }
}

awaitable<void> Live::write_loop() {
  while (!outbox_.empty() && open_) {
    auto frame = std::move(outbox_.front());
    outbox_.pop_front();
    auto writing = on_ws([&](auto& ws) {
      ws.text(true);
      return ws.async_write(asio::buffer(frame), tuple_awaitable);
    });
    auto [ec, n] = co_await std::move(writing);
    if (ec) break;
  }
  outbox_.clear();
  writing_ = false;
}

awaitable<Result<boost::json::value>> Live::call(std::string event, boost::json::object data) {
  if (!open_) co_return Error(Code::unavailable, "not connected to tourbusd");
  auto ref = ++next_ref_;
  boost::json::object frame{{"event", event}, {"data", std::move(data)}, {"ref", ref}};
  send(json::dump(frame));
  auto pending = asio::async_initiate<decltype(asio::use_awaitable), void(Result<boost::json::value>)>(
      [this, ref](auto handler) {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        waiting_[ref] = [this, h](Result<boost::json::value> r) {
          asio::post(io_, [h, r = std::move(r)]() mutable { (*h)(std::move(r)); });
        };
      },
      asio::use_awaitable);
  co_return co_await std::move(pending);
}

awaitable<Result<boost::json::value>> Live::upload(std::string operation, boost::json::object params,
                                                   std::string bytes) {
  auto req = request_for(operation, std::move(params), true);
  if (!req) co_return req.error();
  std::string method = std::move(req->method), target = std::move(req->target), body = std::move(bytes);
  std::string content_type = "application/octet-stream";
  auto dialed = co_await dial();
  if (!dialed) co_return dialed.error();
  if (!endpoint_.tls) {
    auto pending = exchange(*dialed, std::move(method), std::move(target), std::move(body), std::move(content_type));
    co_return co_await std::move(pending);
  }
  auto securing = secure(std::move(*dialed));
  auto tls = co_await std::move(securing);
  if (!tls) co_return tls.error();
  auto pending = exchange(*tls, std::move(method), std::move(target), std::move(body), std::move(content_type));
  co_return co_await std::move(pending);
}

template <class S>
awaitable<Result<boost::json::value>> Live::exchange(S& stream, std::string method, std::string target, std::string body,
                                                     std::string content_type) {
  http::request<http::string_body> req{http::string_to_verb(method), target, 11};
  req.set(http::field::host, endpoint_.socket.empty() ? endpoint_.host : "localhost");
  req.set(http::field::user_agent, "tourbus/" TOURBUS_VERSION);
  if (!endpoint_.token.empty()) req.set(http::field::authorization, "Bearer " + endpoint_.token);
  if (!endpoint_.as.empty()) req.set(api::kActAsHeader, endpoint_.as);
  req.set(http::field::content_type, content_type);
  req.body() = std::move(body);
  req.keep_alive(false);
  req.prepare_payload();
  auto [wec, wn] = co_await http::async_write(stream, req, tuple_awaitable);
  if (wec) co_return Error(Code::unavailable, "sending to tourbusd failed: " + wec.message());
  beast::flat_buffer buffer;
  http::response<http::string_body> res;
  auto [rec, rn] = co_await http::async_read(stream, buffer, res, tuple_awaitable);
  if (rec) co_return Error(Code::unavailable, "no answer from tourbusd: " + rec.message());
  co_return decode_answer(res.result_int(), res.body());
}

void Live::close() {
  if ((!plain_ && !secure_) || !open_) return;
  open_ = false;
  beast::error_code ignored;
  on_ws([&](auto& ws) { beast::get_lowest_layer(ws).socket().close(ignored); });
}

}  // namespace tourbus::cli
