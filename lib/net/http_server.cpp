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

#include "core/links.hpp"
#include "core/logging.hpp"
#include "net/http_request.hpp"
#include "net/http_upload.hpp"
#include "net/limits.hpp"
#include "net/stream.hpp"
#include "net/engineio_ws.hpp"
#include "net/websocket.hpp"

namespace tourbus::net {

namespace websocket = beast::websocket;

namespace {

// The answer to a request, or to one that could not be read.
template <class S>
awaitable<beast::error_code> send(S& stream, Conn& c, Answer& answer, unsigned version, bool keep_alive,
                                  std::uint64_t request_id) {
  auto log = logging::get("net");
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
  if (answer.status >= 500) ++c.ctx.stats.requests_5xx;
  else if (answer.status >= 400) ++c.ctx.stats.requests_4xx;
  if (file.is_open()) {
    http::response<http::file_body> res{static_cast<http::status>(answer.status), version};
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
    http::response<http::string_body> res{static_cast<http::status>(answer.status), version};
    if (!answer.content_type.empty()) res.set(http::field::content_type, answer.content_type);
    if (answer.status == 401) res.set(http::field::www_authenticate, "Bearer");
    if (answer.status == 426) res.set(http::field::sec_websocket_version, "13");
    if (answer.retry_after > 0) res.set(http::field::retry_after, std::to_string(answer.retry_after));
    for (const auto& [name, value] : answer.headers) res.set(name, value);
    res.keep_alive(keep_alive);
    res.body() = std::move(answer.body);
    res.prepare_payload();
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(c.ctx.config.get()->idle_timeout_seconds));
    std::tie(wec, std::ignore) = co_await http::async_write(stream, res, tuple_awaitable);
  }
  co_return wec;
}

Answer eio_answer(eio::HttpReply r) {
  Answer a;
  a.status = r.status;
  a.content_type = std::move(r.content_type);
  a.body = std::move(r.body);
  a.headers = std::move(r.headers);
  return a;
}

template <class S>
awaitable<void> serve(S stream, Conn c, std::shared_ptr<HttpServer::Session> self) {
  auto log = logging::get("net");
  auto& ctx = c.ctx;
  bool tcp = c.transport == api::Transport::tcp;
  // `stream` lives in this coroutine's frame, so its address is stable until we return.
  self->close = [&stream] {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
  };
  beast::flat_buffer buffer;
  for (bool first = true;; first = false) {
    auto cfg = ctx.config.get();
    auto header_timeout = std::chrono::seconds(std::min(cfg->header_timeout_seconds, cfg->idle_timeout_seconds));
    // Between requests a connection may sit idle; once a request's first byte is in, its headers
    // must follow within server.header_timeout_seconds, and a new connection's first request
    // must arrive that soon: slow or half-open requests cannot hold connections for long.
    if (buffer.size() == 0) {
      beast::get_lowest_layer(stream).expires_after(first ? header_timeout : std::chrono::seconds(cfg->idle_timeout_seconds));
      auto [ec, n] = co_await stream.async_read_some(buffer.prepare(4096), tuple_awaitable);
      if (ec) {
        if (first && ec == beast::error::timeout && tcp) ctx.stats.count(api::Limit::header_timeout);
        break;
      }
      buffer.commit(n);
    }
    http::request_parser<http::string_body> parser;
    // Uploads may be larger than other requests: the limit is chosen once the target is known
    // (the parser checks Content-Length against it with the headers already).
    parser.body_limit(static_cast<std::uint64_t>(std::max(cfg->max_body_bytes, cfg->files_max_bytes)));
    parser.header_limit(16 * 1024);
    beast::get_lowest_layer(stream).expires_after(header_timeout);
    auto [ec, n] = co_await http::async_read_header(stream, buffer, parser, tuple_awaitable);
    if (ec == beast::error::timeout && tcp) ctx.stats.count(api::Limit::header_timeout);
    auto request_id = ++ctx.stats.requests;
    Answer answer;
    bool close = false;
    if (ec) {
      auto largest = std::max(cfg->max_body_bytes, cfg->files_max_bytes);
      auto unread = unreadable(ec, Error(Code::payload_too_large,
                                         "the request body is larger than " + std::to_string(largest) + " bytes"));
      if (!unread) {
        --ctx.stats.requests;
        break;  // closed, timed out or cancelled
      }
      answer = std::move(*unread);
      close = true;
    }
    // A request is in flight from the moment its headers are in: drain() lets it finish.
    self->busy = true;
    ++ctx.stats.in_flight;
    // An upload's parser gives its header away with the body: keep what the answer needs.
    const auto& head = parser.get();
    auto version = head.version() ? head.version() : 11;
    bool wants_keep_alive = head.keep_alive();
    std::string method(head.method_string()), target(head.target());
    auto started = std::chrono::steady_clock::now();
    if (close) {
    } else if (tcp && !c.limits.request_from(c.ip)) {
      answer = too_many(Error(Code::rate_limited, "too many requests from your address (server.requests_per_second_per_ip)"), 1);
      close = true;
    } else if (auto wait = tcp ? c.limits.auth_wait(c.ip) : 0; wait > 0) {
      answer = too_many(Error(Code::rate_limited, "too many failed authentications from your address; try again in " +
                                                      std::to_string(wait) + " seconds"),
                        wait);
      close = true;
    } else if (is_upload(head)) {
      auto receiving = receive_upload(stream, buffer, parser, c, request_id, close);
      answer = co_await std::move(receiving);
      if (answer.status == 0) {
        --ctx.stats.in_flight;
        self->busy = false;
        break;
      }
    } else {
      log->debug("net.request_headers method={} peer=\"{}\"", std::string_view(head.method_string()), c.peer);
      if (parser.content_length() && *parser.content_length() > static_cast<std::uint64_t>(cfg->max_body_bytes))
        ec = http::error::body_limit;
      parser.body_limit(static_cast<std::uint64_t>(cfg->max_body_bytes));
      if (!ec && !parser.is_done()) std::tie(ec, n) = co_await http::async_read(stream, buffer, parser, tuple_awaitable);
      auto unread = ec ? unreadable(ec, Error(Code::payload_too_large, "the request body is larger than " +
                                                                           std::to_string(cfg->max_body_bytes) + " bytes"))
                       : std::nullopt;
      if (ec && !unread) {
        --ctx.stats.in_flight;
        self->busy = false;
        break;
      }
      if (unread) {
        answer = std::move(*unread);
        close = true;
      } else if (c.sio.enabled() && SocketIoApi::is_path(target)) {
        auto& req = parser.get();
        auto origin = req[http::field::origin];
        eio::HttpRequest r{method, target, req.body(), std::string_view(origin.data(), origin.size())};
        eio::Peer from{c.peer, c.ip, !tcp};
        if (websocket::is_upgrade(req)) {
          auto refused = upgrade_refusal(req);
          if (!refused)
            if (auto no = c.sio.engine().check_websocket(r)) refused = eio_answer(std::move(*no));
          if (!refused) {
            --ctx.stats.in_flight;
            self->busy = false;
            std::string early(static_cast<const char*>(buffer.data().data()), buffer.size());
            serve_engineio(std::move(stream), req, std::move(early), c.sio.engine(), c.sio.ws_settings(), std::move(from), self);
            co_return;
          }
          answer = std::move(*refused);
        } else {
          auto polled = c.sio.engine().polling(r, std::move(from));
          answer = eio_answer(co_await std::move(polled));
        }
      } else if (websocket::is_upgrade(parser.get())) {
        auto& req = parser.get();
        auto pending = identify(ctx, c.limits, req, {c.transport, c.peer, c.ip, request_id}, true);
        auto caller = co_await std::move(pending);
        auto refused = caller ? upgrade_refusal(req) : std::optional<Answer>(from_error(caller.error()));
        if (!refused && !c.limits.open_websocket(caller->token_id))
          refused = too_many(Error(Code::rate_limited, "too many WebSocket sessions on this token (server.max_websockets_per_token)"), 1);
        if (!refused) {
          --ctx.stats.in_flight;
          self->busy = false;
          self->websocket_token = caller->token_id;
          std::string early(static_cast<const char*>(buffer.data().data()), buffer.size());
          serve_websocket(std::move(stream), req, std::move(early), ctx, c.hub, *caller, self);
          co_return;
        }
        answer = std::move(*refused);
      } else {
        auto pending = identify(ctx, c.limits, parser.get(), {c.transport, c.peer, c.ip, request_id}, false);
        auto caller = co_await std::move(pending);
        if (!caller) {
          answer = from_error(caller.error());
        } else if (tcp && !c.limits.request_by_token(caller->token_id)) {
          answer = too_many(Error(Code::rate_limited, "too many requests on this token (server.requests_per_second_per_token)"), 1);
        } else {
          auto running = run(ctx, *caller, parser.get(), parser.get().body());
          answer = co_await std::move(running);
        }
      }
    }

    bool keep_alive = !close && wants_keep_alive && !c.draining;
    auto sending = send(stream, c, answer, version, keep_alive, request_id);
    auto wec = co_await std::move(sending);
    auto ms = std::chrono::duration<double, std::milli>(std::chrono::steady_clock::now() - started).count();
    // A browser's WebSocket token travels in the query string: tokens never reach the log.
    if (target.find("access_token") != std::string::npos) target.resize(target.find('?'));
    // Nor do the signed links in messages (each one acts for a person).
    if (target.starts_with(links::kPath)) target = std::string(links::kPath) + "...";
    log->debug("net.request req={} method={} target=\"{}\" status={} ms={:.2f} peer=\"{}\"", request_id,
               logging::quoted_field(method, 20), logging::quoted_field(target), answer.status, ms, c.peer);
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
awaitable<void> serve_tls(Stream plain, TlsContext tls, Conn c, std::shared_ptr<HttpServer::Session> self) {
  TlsStream stream(std::move(plain), *tls);
  self->close = [&stream] {
    beast::error_code ignored;
    beast::get_lowest_layer(stream).socket().close(ignored);
  };
  auto cfg = c.ctx.config.get();
  beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(std::min(cfg->header_timeout_seconds, cfg->idle_timeout_seconds)));
  auto [ec] = co_await stream.async_handshake(asio::ssl::stream_base::server, tuple_awaitable);
  self->close = nullptr;
  if (ec) {
    if (ec == beast::error::timeout) c.ctx.stats.count(api::Limit::header_timeout);
    logging::get("net")->info("net.tls_handshake_failed peer=\"{}\" error=\"{}\"", c.peer, ec.message());
    co_return;
  }
  auto session = serve(std::move(stream), std::move(c), std::move(self));
  co_await std::move(session);
}

}  // namespace

HttpServer::HttpServer(asio::io_context& io, api::Context& ctx, realtime::Hub& hub)
    : io_(io),
      ctx_(ctx),
      hub_(hub),
      limits_(ctx),
      uploads_(ctx),
      sio_(io.get_executor(), ctx, hub, limits_),
      incoming_(ctx.files_dir / "incoming" / ctx.node),  // per node: nodes may share files.dir
      tcp_(io),
      unix_(io) {}

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
  // Bodies of uploads cut short by a crash are of no use: start with an empty directory.
  std::error_code ec;
  std::filesystem::remove_all(incoming_, ec);
  std::filesystem::create_directories(incoming_, ec);
  if (ec) throw std::runtime_error("cannot create " + incoming_.string() + ": " + ec.message());
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
    // The control socket's reserve comes first: when an operator used it, it is taken back
    // before any client (if it cannot be, the client is refused so that its descriptor becomes
    // the reserve again). Lately out of descriptors, a client keeps its connection only if
    // another descriptor is still free.
    bool last_fd = false;
    if (reserve_fd_ < 0) reserve_fd_ = ::open("/dev/null", O_RDONLY | O_CLOEXEC);
    if (reserve_fd_ < 0) {
      last_fd = true;
    } else if (std::chrono::steady_clock::now() < short_of_descriptors_until_) {
      int probe = ::fcntl(socket.native_handle(), F_DUPFD_CLOEXEC, 0);
      if (probe >= 0) ::close(probe);
      last_fd = probe < 0;
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
    std::string ip = pec ? "?" : address_key(remote.address());
    if (!limits_.open_connection(ip)) {
      if (ip_refuse_log_.due(std::chrono::steady_clock::now()))
        log->warn("net.connection_refused limit={} reason=max_connections_per_ip ip={} refused={}",
                  cfg->max_connections_per_ip, ip, ip_refuse_log_.take());
      beast::error_code ignored;
      socket.close(ignored);
      continue;
    }
    std::string peer = pec ? "?" : remote.address().to_string() + ":" + std::to_string(remote.port());
    auto session = std::make_shared<Session>();
    sessions_.push_back(session);
    auto it = std::prev(sessions_.end());
    ++ctx_.stats.tcp_connections;
    socket.set_option(asio::ip::tcp::no_delay(true), pec);
    Stream s(asio::generic::stream_protocol::socket(std::move(socket)));
    session->finished = [this, it, ip, self = session.get()] {
      --ctx_.stats.tcp_connections;
      limits_.close_connection(ip);
      if (self->websocket_token) limits_.close_websocket(self->websocket_token);
      sessions_.erase(it);
    };
    auto done = [session](std::exception_ptr) {
      if (!session->handed_off) session->finish();
    };
    Conn c{ctx_, hub_, limits_, uploads_, api::Transport::tcp, peer, ip, draining_, incoming_, sio_};
    if (tls_)
      asio::co_spawn(io_, serve_tls(std::move(s), tls_, std::move(c), session), std::move(done));
    else
      asio::co_spawn(io_, serve(std::move(s), std::move(c), session), std::move(done));
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
    asio::co_spawn(io_, serve(std::move(s), Conn{ctx_, hub_, limits_, uploads_, api::Transport::unix_socket, peer, {}, draining_, incoming_, sio_}, session),
                   [session](std::exception_ptr) {
                     if (!session->handed_off) session->finish();
                   });
  }
}

void HttpServer::drain() {
  draining_ = true;
  sio_.close_all();  // waiting polls are answered, Socket.IO WebSockets closed
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
