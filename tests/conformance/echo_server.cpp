// The test server of the official Engine.IO and Socket.IO protocol suites (../shared/conformance/),
// built from tourbusd's own layers: lib/socketio (the protocols) and net/'s WebSocket connection
// and Engine.IO transport. It serves, on 127.0.0.1:PORT (3000, as the suites expect):
//   /engine.io/  an Engine.IO echo server (every message sent back);
//   /socket.io/  the suites' reference Socket.IO server: on connecting to "/" or "/custom" a client
//                gets an "auth" event with its auth payload; "message" is echoed as "message-back",
//                "message-with-ack" acknowledged with its arguments (binary attachments included).
// pingInterval 300 ms, pingTimeout 200 ms, maxPayload 1000000, connectTimeout 1000 ms, CORS "*".
// The "auth" event follows the CONNECT answer 50 ms later (see Open::connect).
// Prints "listening PORT" once it accepts connections; runs until killed.
#include <cstdio>
#include <cstdlib>
#include <iostream>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/ip/tcp.hpp>
#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http.hpp>
#include <boost/beast/websocket/rfc6455.hpp>

#include "net/engineio_ws.hpp"
#include "socketio/engineio.hpp"
#include "socketio/socketio.hpp"

using namespace tourbus;
namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;

namespace {

// /engine.io/: every message goes back as it came.
class Echo : public eio::Handler {
 public:
  explicit Echo(eio::Session& s) : session_(s.weak_from_this()) {}
  void on_message(std::string_view data, bool binary) override {
    auto s = session_.lock();
    if (!s) return;
    if (binary) s->send({std::make_shared<const std::string>(data), true});
    else s->send(eio::message(data));
  }
  void on_close(std::string_view) override {}

 private:
  std::weak_ptr<eio::Session> session_;
};

class EchoSocket : public sio::Socket {
 public:
  explicit EchoSocket(std::shared_ptr<sio::Link> link) : link_(std::move(link)) {}
  void on_event(boost::json::array args, std::optional<std::uint64_t> ack, std::vector<std::string> parts) override {
    auto name = std::string(args[0].as_string());
    args.erase(args.begin());
    if (name == "message") link_->emit("message-back", args, parts);
    else if (name == "message-with-ack" && ack) link_->ack(*ack, args, parts);
  }
  void on_disconnect(std::string_view) override {}

 private:
  std::shared_ptr<sio::Link> link_;
};

// The suite's /custom namespace: no handlers.
class Quiet : public sio::Socket {
  void on_event(boost::json::array, std::optional<std::uint64_t>, std::vector<std::string>) override {}
  void on_disconnect(std::string_view) override {}
};

// A namespace that lets everyone in and tells them their auth payload.
class Open : public sio::Namespace {
 public:
  explicit Open(bool echo) : echo_(echo) {}
  void connect(std::shared_ptr<sio::Link> link, const boost::json::value& auth) override {
    std::unique_ptr<sio::Socket> socket;
    if (echo_) socket = std::make_unique<EchoSocket>(link);
    else socket = std::make_unique<Quiet>();
    link->accept(std::move(socket));
    // A moment after the CONNECT packet: the suite's client (ws 8.5) emits the messages of one
    // read synchronously and listens for this one only once it has handled the CONNECT, so the two
    // must not arrive together. The reference server has the same gap by its write buffering.
    auto session = link->session();
    if (!session) return;
    boost::json::value payload = auth.is_null() ? boost::json::value(boost::json::object()) : auth;
    auto timer = std::make_shared<asio::steady_timer>(session->executor(), std::chrono::milliseconds(50));
    timer->async_wait([timer, link, payload](boost::system::error_code) {
      link->emit("auth", boost::json::array{payload});
    });
  }

 private:
  bool echo_;
};

eio::Options options() {
  eio::Options o;
  o.ping_interval = std::chrono::milliseconds(300);
  o.ping_timeout = std::chrono::milliseconds(200);
  o.max_payload = 1000000;
  o.cors_origins = {"*"};
  return o;
}

asio::awaitable<void> serve(net::Stream stream, eio::Server& engine, eio::Server& socketio) {
  beast::flat_buffer buffer;
  for (;;) {
    http::request_parser<http::string_body> parser;
    parser.body_limit(4 << 20);
    auto [ec, n] = co_await http::async_read(stream, buffer, parser, net::tuple_awaitable);
    if (ec == http::error::body_limit) {
      http::response<http::string_body> res{http::status::payload_too_large, 11};
      res.prepare_payload();
      co_await http::async_write(stream, res, net::tuple_awaitable);
      co_return;
    }
    if (ec) co_return;
    auto& req = parser.get();
    std::string target(req.target());
    auto path = target.substr(0, target.find('?'));
    eio::Server* server = path == "/engine.io/" ? &engine : path == "/socket.io/" ? &socketio : nullptr;
    http::response<http::string_body> res{http::status::not_found, req.version()};
    if (server) {
      auto origin = req[http::field::origin];
      std::string method(req.method_string());
      eio::HttpRequest r{method, target, req.body(), std::string_view(origin.data(), origin.size())};
      if (beast::websocket::is_upgrade(req)) {
        auto refused = server->check_websocket(r);
        if (!refused) {
          std::string early(static_cast<const char*>(buffer.data().data()), buffer.size());
          auto http_session = std::make_shared<net::HttpServer::Session>();
          net::WsSettings settings{1000000, 1024, 8 << 20, std::chrono::seconds(60)};
          net::serve_engineio(std::move(stream), req, std::move(early), *server, settings, {"client", "127.0.0.1"},
                              http_session);
          co_return;
        }
        res.result(refused->status);
        res.body() = refused->body;
      } else {
        eio::Peer from{"client", "127.0.0.1"};
        auto polled = server->polling(r, std::move(from));
        auto reply = co_await std::move(polled);
        res.result(reply.status);
        if (!reply.content_type.empty()) res.set(http::field::content_type, reply.content_type);
        for (const auto& [k, v] : reply.headers) res.set(k, v);
        res.body() = std::move(reply.body);
      }
    }
    res.keep_alive(req.keep_alive());
    res.prepare_payload();
    auto [wec, wn] = co_await http::async_write(stream, res, net::tuple_awaitable);
    if (wec || !res.keep_alive()) co_return;
  }
}

}  // namespace

int main(int argc, char** argv) {
  unsigned short port = argc > 1 ? static_cast<unsigned short>(std::atoi(argv[1])) : 3000;
  asio::io_context io(1);
  eio::Server engine(io.get_executor(), options(), [](eio::Session& s) { return std::make_unique<Echo>(s); });
  sio::Server sio({std::chrono::milliseconds(1000), 10});
  Open main_ns(true), custom_ns(false);
  sio.add("/", main_ns);
  sio.add("/custom", custom_ns);
  eio::Server socketio(io.get_executor(), options(), [&](eio::Session& s) { return sio.accept(s); });
  // The suites call "localhost": 127.0.0.1 and, where the host has IPv6, ::1.
  std::vector<std::unique_ptr<asio::ip::tcp::acceptor>> acceptors;
  acceptors.push_back(std::make_unique<asio::ip::tcp::acceptor>(io, asio::ip::tcp::endpoint{asio::ip::make_address("127.0.0.1"), port}));
  try {
    acceptors.push_back(std::make_unique<asio::ip::tcp::acceptor>(io, asio::ip::tcp::endpoint{asio::ip::make_address("::1"), port}));
  } catch (const std::exception&) {
  }
  for (auto& a : acceptors)
    asio::co_spawn(io, [&io, &acceptor = *a, &engine, &socketio]() -> asio::awaitable<void> {
      for (;;) {
        auto [ec, socket] = co_await acceptor.async_accept(net::tuple_awaitable);
        if (ec) continue;
        boost::system::error_code ignored;
        socket.set_option(asio::ip::tcp::no_delay(true), ignored);
        net::Stream s(asio::generic::stream_protocol::socket(std::move(socket)));
        asio::co_spawn(io, serve(std::move(s), engine, socketio), asio::detached);
      }
    }, asio::detached);
  std::printf("listening %u\n", static_cast<unsigned>(port));
  std::fflush(stdout);
  io.run();
}
