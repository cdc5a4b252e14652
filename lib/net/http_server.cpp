#include "net/http_server.hpp"

#include <fcntl.h>
#include <grp.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <unistd.h>

#include <chrono>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/ssl.hpp>
#include <boost/beast/websocket/rfc6455.hpp>
#include <boost/url/parse.hpp>
#include "core/json.hpp"

#include "api/auth.hpp"
#include "core/logging.hpp"
#include "net/router.hpp"
#include "net/stream.hpp"
#include "net/websocket.hpp"
#include "net/ws_frame.hpp"

namespace tourbus::net {

namespace websocket = beast::websocket;

namespace {

std::string error_body(const Error& e) {
  boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
  if (!e.field.empty()) err["field"] = e.field;
  return json::dump(boost::json::object{{"error", std::move(err)}}) + "\n";
}

struct Answer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::filesystem::path file;
  bool keep_file = false;
  std::string disposition;
};

Answer from_error(const Error& e) { return {info(e.code).http_status, "application/json", error_body(e), {}}; }

// The upgrade's own fields, checked after the token (nothing is revealed before it): version 13
// (else 426, answered with Sec-WebSocket-Version: 13) and a well-formed key (else 400).
std::optional<Answer> upgrade_refusal(const http::request<http::string_body>& req) {
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

// Credentials of the process at the other end of a Unix socket.
std::string peer_credentials(int fd) {
  ucred cred{};
  socklen_t len = sizeof cred;
  if (getsockopt(fd, SOL_SOCKET, SO_PEERCRED, &cred, &len) != 0) return "uid=? pid=?";
  return "uid=" + std::to_string(cred.uid) + " pid=" + std::to_string(cred.pid);
}

// The secret of an "Authorization: Bearer ..." header, or empty.
std::string_view bearer_token(const http::request<http::string_body>& req) {
  auto auth = std::string_view(req[http::field::authorization]);
  if (auth.size() <= 7 || !(auth.starts_with("Bearer ") || auth.starts_with("bearer "))) return {};
  return auth.substr(7);
}

// A request for an operation whose body is raw bytes (an upload): its body limit is
// files.max_bytes and its body is not JSON.
bool is_upload(const http::request<http::string_body>& req) {
  auto target = std::string_view(req.target());
  auto path = target.substr(0, target.find('?'));
  for (const auto& op : api::operations())
    if (op.raw_body && op.route == path && op.method == std::string_view(req.method_string())) return true;
  return false;
}

// Authenticates, routes and runs one request. The control socket grants operator rights; on TCP
// nothing is looked at before the token is valid.
awaitable<Answer> handle(api::Context& ctx, const http::request<http::string_body>& req, api::Transport transport,
                         const std::string& peer, std::uint64_t request_id) {
  api::Caller caller{Role::operator_, 0, {}, transport, peer, request_id};
  if (transport == api::Transport::unix_socket) {
    if (auto as = std::string_view(req[api::kActAsHeader]); !as.empty()) {
      auto acting = api::act_as(ctx, caller, as);
      if (!acting) co_return from_error(acting.error());
      caller = *acting;
    }
  } else {
    auto token = bearer_token(req);
    if (token.empty()) co_return from_error(Error(Code::unauthenticated, "send a token: Authorization: Bearer tb_..."));
    auto pending = api::authenticate(ctx, token, peer);
    auto authenticated = co_await std::move(pending);
    if (!authenticated) co_return from_error(authenticated.error());
    caller = *authenticated;
    caller.request_id = request_id;
  }
  auto ctype = std::string_view(req[http::field::content_type]);
  if (!is_upload(req) && !req.body().empty() && !ctype.empty() && !ctype.starts_with("application/json"))
    co_return from_error(Error(Code::unsupported_media_type, "send the body as application/json"));
  auto routed = route(std::string_view(req.method_string()), std::string_view(req.target()), req.body());
  if (!routed) co_return from_error(routed.error());

  auto pending = api::invoke(ctx, *routed->op, caller, std::move(routed->params));
  auto reply = co_await std::move(pending);
  if (!reply) co_return from_error(reply.error());
  Answer answer;
  answer.status = reply->status;
  answer.content_type = reply->content_type;
  answer.file = reply->file;
  answer.keep_file = reply->keep_file;
  answer.disposition = std::move(reply->disposition);
  answer.body = reply->file.empty() && reply->content_type == "application/json"
                    ? json::dump(reply->json) + "\n"
                    : std::move(reply->text);
  co_return answer;
}

// Who opens a WebSocket: on TCP a token from the Authorization header or, for browsers, the
// access_token query parameter; on the control socket an operator.
awaitable<Result<api::Caller>> websocket_caller(api::Context& ctx, const http::request<http::string_body>& req,
                                                api::Transport transport, const std::string& peer,
                                                std::uint64_t request_id) {
  auto url = boost::urls::parse_origin_form(std::string_view(req.target()));
  if (!url) co_return Error(Code::bad_request, "malformed request target");
  api::Caller caller{Role::operator_, 0, {}, api::Transport::websocket, peer, request_id};
  auto where = [&]() -> Status {
    if (url->path() != api::kWebSocketPath)
      return Error(Code::not_found, "the WebSocket endpoint is " + std::string(api::kWebSocketPath));
    return {};
  };
  if (transport == api::Transport::unix_socket) {
    if (auto st = where(); !st) co_return st.error();
    if (auto as = std::string_view(req[api::kActAsHeader]); !as.empty()) co_return api::act_as(ctx, caller, as);
    co_return caller;
  }
  std::string token(bearer_token(req));  // the header wins over the query parameter
  if (auto it = url->params().find("access_token"); token.empty() && it != url->params().end()) token = (*it).value;
  if (token.empty())
    co_return Error(Code::unauthenticated, "send a token: Authorization: Bearer tb_... or ?access_token=tb_...");
  auto pending = api::authenticate(ctx, token, peer);
  auto authenticated = co_await std::move(pending);
  if (!authenticated) co_return authenticated.error();
  if (auto st = where(); !st) co_return st.error();  // as on HTTP: nothing is revealed before the token
  caller = *authenticated;
  caller.transport = api::Transport::websocket;
  caller.request_id = request_id;
  co_return caller;
}

template <class S>
awaitable<void> serve(S stream, api::Context& ctx, realtime::Hub& hub, api::Transport transport, std::string peer,
                      std::shared_ptr<HttpServer::Session> self, const bool& draining) {
  auto log = logging::get("net");
  // `stream` lives in this coroutine's frame, so its address is stable until we return.
  self->close = [&stream] {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
  };
  beast::flat_buffer buffer;
  for (;;) {
    auto cfg = ctx.config.get();
    http::request_parser<http::string_body> parser;
    // Uploads may be larger than other requests: the limit is chosen once the target is known.
    parser.body_limit(static_cast<std::uint64_t>(std::max(cfg->max_body_bytes, cfg->files_max_bytes)));
    parser.header_limit(16 * 1024);
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(cfg->idle_timeout_seconds));
    // A request is in flight from the moment its headers are in: drain() lets it finish.
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
    if (!ec) {
      self->busy = true;
      log->debug("net.request_headers method={} peer=\"{}\"", std::string_view(parser.get().method_string()), peer);
      auto limit = is_upload(parser.get()) ? cfg->files_max_bytes : cfg->max_body_bytes;
      if (parser.content_length() && *parser.content_length() > static_cast<std::uint64_t>(limit)) ec = http::error::body_limit;
      else parser.body_limit(static_cast<std::uint64_t>(limit));
      if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
    }
    if (ec) {
      self->busy = false;
      Answer bad;
      if (ec == http::error::body_limit)
        bad = from_error(Error(Code::payload_too_large,
                               is_upload(parser.get())
                                   ? "the file is larger than " + std::to_string(cfg->files_max_bytes) + " bytes (files.max_bytes)"
                                   : "the request body is larger than " + std::to_string(cfg->max_body_bytes) + " bytes"));
      else if (ec == http::error::header_limit)
        bad = from_error(Error(Code::payload_too_large, "the request headers are larger than 16 KiB"));
      else if (ec.category() == http::make_error_code(http::error::end_of_stream).category() && ec != http::error::end_of_stream &&
               ec != http::error::partial_message)
        bad = from_error(Error(Code::bad_request, "malformed HTTP request: " + ec.message()));
      else
        break;  // closed, timed out or cancelled
      http::response<http::string_body> res{static_cast<http::status>(bad.status), 11};
      res.set(http::field::content_type, bad.content_type);
      res.set(http::field::connection, "close");
      res.body() = bad.body;
      res.prepare_payload();
      co_await http::async_write(stream, res, tuple_awaitable);
      ++ctx.stats.requests;
      ++ctx.stats.requests_4xx;
      break;
    }
    ++ctx.stats.in_flight;
    auto request_id = ++ctx.stats.requests;
    auto& req = parser.get();
    auto started = std::chrono::steady_clock::now();
    Answer answer;
    if (websocket::is_upgrade(req)) {
      auto pending = websocket_caller(ctx, req, transport, peer, request_id);
      auto caller = co_await std::move(pending);
      auto refused = caller ? upgrade_refusal(req) : std::optional<Answer>(from_error(caller.error()));
      if (!refused) {
        --ctx.stats.in_flight;
        self->busy = false;
        std::string early(static_cast<const char*>(buffer.data().data()), buffer.size());
        serve_websocket(std::move(stream), req, std::move(early), ctx, hub, *caller, self);
        co_return;
      }
      answer = std::move(*refused);
    } else {
      auto pending = handle(ctx, req, transport, peer, request_id);
      answer = co_await std::move(pending);
    }

    bool keep_alive = req.keep_alive() && !draining;

    beast::error_code wec;
    http::file_body::value_type file;
    if (!answer.file.empty()) {
      file.open(answer.file.c_str(), beast::file_mode::scan, wec);
      std::error_code rm;
      if (!answer.keep_file) std::filesystem::remove(answer.file, rm);  // the open descriptor keeps the data readable
      if (wec) {
        log->error("net.file_unreadable req={} error=\"{}\"", request_id, wec.message());
        answer = from_error(Error(Code::internal, "the file to send could not be read; see the daemon log"));
        wec = {};
      }
    }
    if (answer.status >= 500) ++ctx.stats.requests_5xx;
    else if (answer.status >= 400) ++ctx.stats.requests_4xx;
    if (file.is_open()) {
      http::response<http::file_body> res{static_cast<http::status>(answer.status), req.version()};
      res.set(http::field::content_type, answer.content_type);
      if (!answer.disposition.empty()) res.set(http::field::content_disposition, answer.disposition);
      res.set("X-Content-Type-Options", "nosniff");
      res.body() = std::move(file);
      res.keep_alive(keep_alive);
      res.prepare_payload();
      // A backup may be large and the operator's disk slow: no deadline on streaming it.
      beast::get_lowest_layer(stream).expires_never();
      std::tie(wec, std::ignore) = co_await http::async_write(stream, res, tuple_awaitable);
    } else {
      http::response<http::string_body> res{static_cast<http::status>(answer.status), req.version()};
      res.set(http::field::content_type, answer.content_type);
      if (answer.status == 401) res.set(http::field::www_authenticate, "Bearer");
      if (answer.status == 426) res.set(http::field::sec_websocket_version, "13");
      res.keep_alive(keep_alive);
      res.body() = std::move(answer.body);
      res.prepare_payload();
      beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(ctx.config.get()->idle_timeout_seconds));
      std::tie(wec, std::ignore) = co_await http::async_write(stream, res, tuple_awaitable);
    }
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    // A browser's WebSocket token travels in the query string: tokens never reach the log.
    auto target = std::string_view(req.target());
    if (target.find("access_token") != std::string_view::npos) target = target.substr(0, target.find('?'));
    log->debug("net.request req={} method={} target=\"{}\" status={} ms={:.2f} peer=\"{}\"", request_id,
               logging::quoted_field(req.method_string(), 20), logging::quoted_field(target), answer.status, ms, peer);
    --ctx.stats.in_flight;
    self->busy = false;
    if (wec || !keep_alive) break;
  }
  self->close = nullptr;
  beast::error_code ignored;
  beast::get_lowest_layer(stream).socket().shutdown(asio::socket_base::shutdown_both, ignored);
}

// A TLS connection: the handshake must finish within the idle timeout, then it is served like
// any other. `tls` stays alive as long as the connection uses it, across reloads.
awaitable<void> serve_tls(Stream plain, TlsContext tls, api::Context& ctx, realtime::Hub& hub, std::string peer,
                          std::shared_ptr<HttpServer::Session> self, const bool& draining) {
  TlsStream stream(std::move(plain), *tls);
  self->close = [&stream] {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
  };
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(ctx.config.get()->idle_timeout_seconds));
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
  self->close = nullptr;
  if (ec) {
    logging::get("net")->info("net.tls_handshake_failed peer=\"{}\" error=\"{}\"", peer, ec.message());
    co_return;
  }
  auto session = serve(std::move(stream), ctx, hub, api::Transport::tcp, std::move(peer), std::move(self), draining);
  co_await std::move(session);
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, api::Context& ctx, realtime::Hub& hub)
    : io_(io), ctx_(ctx), hub_(hub), tcp_(io), unix_(io) {}

HttpServer::~HttpServer() {
  if (reserve_fd_ >= 0) ::close(reserve_fd_);
  if (!unix_path_.empty()) {
    std::error_code ec;
    std::filesystem::remove(unix_path_, ec);
  }
}

std::string HttpServer::listen_tcp(const std::string& host, std::uint16_t port) {
  asio::ip::tcp::endpoint ep(asio::ip::make_address(host), port);
  tcp_.open(ep.protocol());
  tcp_.set_option(asio::socket_base::reuse_address(true));
  tcp_.bind(ep);
  tcp_.listen(asio::socket_base::max_listen_connections);
  auto bound = tcp_.local_endpoint();
  auto addr = bound.address().to_string();
  if (bound.address().is_v6()) addr = "[" + addr + "]";
  return addr + ":" + std::to_string(bound.port());
}

void HttpServer::listen_unix(const std::filesystem::path& path, const std::string& group) {
  std::error_code ec;
  if (path.has_parent_path()) std::filesystem::create_directories(path.parent_path(), ec);
  // The caller holds the state dir lock, so a socket file left here belongs to a dead daemon.
  std::filesystem::remove(path, ec);
  auto old = ::umask(0117);
  unix_.open();
  unix_.bind(asio::local::stream_protocol::endpoint(path.string()));
  ::umask(old);
  unix_.listen(asio::socket_base::max_listen_connections);
  unix_path_ = path;
  if (::chmod(path.c_str(), 0660) != 0) throw std::runtime_error("cannot chmod " + path.string());
  if (!group.empty()) {
    struct group* g = ::getgrnam(group.c_str());
    if (!g) throw std::runtime_error("server.socket_group: no group named '" + group + "'");
    if (::chown(path.c_str(), static_cast<uid_t>(-1), g->gr_gid) != 0)
      throw std::runtime_error("cannot give " + path.string() + " to group " + group);
  }
}

void HttpServer::start() {
  reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
  if (tcp_.is_open()) asio::co_spawn(io_, accept_tcp(), asio::detached);
  if (unix_.is_open()) asio::co_spawn(io_, accept_unix(), asio::detached);
}

namespace {

// Out of file descriptors (or kernel memory): accepting again at once would fail again.
bool out_of_descriptors(const boost::system::error_code& ec) {
  return ec == asio::error::no_descriptors || ec == boost::system::errc::too_many_files_open_in_system ||
         ec == asio::error::no_buffer_space || ec == asio::error::no_memory;
}

}  // namespace

bool HttpServer::Throttle::due(std::chrono::steady_clock::time_point now) {
  ++count;
  if (now - last < std::chrono::seconds(10)) return false;
  last = now;
  return true;
}

std::uint64_t HttpServer::Throttle::take() { return std::exchange(count, 0); }

awaitable<void> HttpServer::pause_accepting(std::chrono::milliseconds& backoff) {
  asio::steady_timer timer(io_, backoff);
  co_await timer.async_wait(tuple_awaitable);
  backoff = std::min(backoff * 2, std::chrono::milliseconds(1000));
}

awaitable<void> HttpServer::accept_tcp() {
  auto log = logging::get("net");
  auto backoff = std::chrono::milliseconds(50);
  while (tcp_.is_open()) {
    auto [ec, socket] = co_await tcp_.async_accept(tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted || !tcp_.is_open()) break;
      ++ctx_.stats.accept_failures;
      // Never spin: pause, backing off, and say so once in a while with how often it happened.
      if (accept_log_.due(std::chrono::steady_clock::now()))
        log->warn("net.accept_failed transport=tcp error=\"{}\" failures={} paused_ms={}", ec.message(),
                  accept_log_.take(), backoff.count());
      if (out_of_descriptors(ec)) {
        short_of_descriptors_until_ = std::chrono::steady_clock::now() + std::chrono::seconds(10);
        co_await pause_accepting(backoff);
      }
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    auto cfg = ctx_.config.get();
    auto limit = config::connection_limit(*cfg, ctx_.stats.fd_limit.load());
    // Lately out of descriptors: the control socket's reserve comes first (a client is refused
    // so that its descriptor becomes the reserve again), and a client keeps its connection only
    // if another descriptor is still free.
    bool last_fd = false;
    if (std::chrono::steady_clock::now() < short_of_descriptors_until_) {
      if (reserve_fd_ < 0) {
        last_fd = true;
      } else {
        int probe = ::fcntl(socket.native_handle(), F_DUPFD_CLOEXEC, 0);
        if (probe >= 0) ::close(probe);
        last_fd = probe < 0;
      }
    }
    if (last_fd || ctx_.stats.tcp_connections.load() >= limit) {
      ++ctx_.stats.rejected_connections;
      if (refuse_log_.due(std::chrono::steady_clock::now()))
        log->warn("net.connection_refused limit={} reason={} refused={}", limit,
                  last_fd || limit < cfg->max_connections ? "fd_limit" : "max_connections", refuse_log_.take());
      beast::error_code ignored;
      socket.close(ignored);
      if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
      continue;
    }
    beast::error_code pec;
    auto remote = socket.remote_endpoint(pec);
    std::string peer = pec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    auto session = std::make_shared<Session>();
    sessions_.push_back(session);
    auto it = std::prev(sessions_.end());
    ++ctx_.stats.tcp_connections;
    socket.set_option(asio::ip::tcp::no_delay(true), pec);
    Stream s(asio::generic::stream_protocol::socket(std::move(socket)));
    session->finished = [this, it] {
      --ctx_.stats.tcp_connections;
      sessions_.erase(it);
    };
    auto done = [session](std::exception_ptr) {
      if (!session->handed_off) session->finish();
    };
    if (tls_)
      asio::co_spawn(io_, serve_tls(std::move(s), tls_, ctx_, hub_, peer, session, draining_), std::move(done));
    else
      asio::co_spawn(io_, serve(std::move(s), ctx_, hub_, api::Transport::tcp, peer, session, draining_), std::move(done));
  }
}

awaitable<void> HttpServer::accept_unix() {
  auto log = logging::get("net");
  auto backoff = std::chrono::milliseconds(50);
  while (unix_.is_open()) {
    auto [ec, socket] = co_await unix_.async_accept(tuple_awaitable);
    if (ec) {
      if (ec == asio::error::operation_aborted || !unix_.is_open()) break;
      ++ctx_.stats.accept_failures;
      // Out of descriptors: the one held in reserve goes to the operator; without it, back off.
      bool reserve = out_of_descriptors(ec) && reserve_fd_ >= 0;
      if (reserve) {
        ::close(reserve_fd_);
        reserve_fd_ = -1;
      }
      if (control_log_.due(std::chrono::steady_clock::now()))
        log->warn("net.accept_failed transport=unix error=\"{}\" failures={} reserve_used={}", ec.message(),
                  control_log_.take(), reserve);
      if (!reserve && out_of_descriptors(ec)) co_await pause_accepting(backoff);
      continue;
    }
    backoff = std::chrono::milliseconds(50);
    if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    auto peer = peer_credentials(socket.native_handle());
    log->info("net.control_connection {}", peer);
    auto session = std::make_shared<Session>();
    sessions_.push_back(session);
    auto it = std::prev(sessions_.end());
    ++ctx_.stats.unix_connections;
    Stream s(asio::generic::stream_protocol::socket(std::move(socket)));
    session->finished = [this, it] {
      --ctx_.stats.unix_connections;
      sessions_.erase(it);
      // The reserve went to an operator: take it back once this connection's descriptor is free.
      if (reserve_fd_ < 0)
        asio::post(io_, [this] {
          if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
        });
    };
    asio::co_spawn(io_, serve(std::move(s), ctx_, hub_, api::Transport::unix_socket, peer, session, draining_),
                   [session](std::exception_ptr) {
                     if (!session->handed_off) session->finish();
                   });
  }
}

void HttpServer::drain() {
  draining_ = true;
  beast::error_code ignored;
  tcp_.close(ignored);
  unix_.close(ignored);
  for (auto& s : sessions_) {
    if (s->going_away) s->going_away();
    else if (!s->busy && s->close) s->close();
  }
}

void HttpServer::close_all() {
  for (auto& s : sessions_)
    if (s->close) s->close();
}

}  // namespace tourbus::net
