#include "net/engineio_ws.hpp"

namespace tourbus::net {

namespace {

template <class S>
class EioConnection : public WsConnection<S>, public eio::WsLink {
  using Base = WsConnection<S>;

 public:
  EioConnection(S stream, WsSettings settings, std::shared_ptr<HttpServer::Session> http)
      : Base(std::move(stream), settings), http_(std::move(http)) {}
  ~EioConnection() override {
    // Gone without its end having run (the event loop destroyed at exit): the session must not
    // keep a pointer to it.
    if (auto s = std::exchange(session_, nullptr)) s->ws_closed(*this);
  }

  void start(eio::Server& server, const http::request<http::string_body>& req, std::string early, eio::Peer from) {
    auto key = req[http::field::sec_websocket_key];
    this->open(ws::accept_key(std::string_view(key.data(), key.size())), std::move(early));
    auto self = std::static_pointer_cast<EioConnection>(this->shared_from_this());
    http_->close = [weak = std::weak_ptr<EioConnection>(self)] {
      if (auto s = weak.lock()) s->close_now();
    };
    http_->going_away = [weak = std::weak_ptr<EioConnection>(self)] {
      if (auto s = weak.lock()) s->close_with(ws::kGoingAway, "tourbusd is shutting down");
    };
    peer_ = from.name;
    // The session's first packet goes out after the 101, in a write of its own, as from the
    // reference server (some clients listen for it only once they saw the upgrade).
    asio::post(this->stream().get_executor(), [self, &server, target = std::string(req.target()), from]() mutable {
      eio::HttpRequest r{"GET", target, {}, {}};
      self->session_ = server.open_websocket(*self, r, std::move(from));
      if (!self->session_) self->close_with(ws::kPolicyViolation, "Session ID unknown");
      self->start_reading();  // refused, only to see the client's close: the connection ends as any
    });
  }

  void send(const eio::Packet& p) override {
    if (p.ws) return this->enqueue(p.ws);
    this->enqueue(std::make_shared<const std::string>(ws::server_frame(p.binary ? ws::binary : ws::text, *p.data)));
  }
  void close() override { this->close_with(ws::kNormal, "", false); }  // the close packet goes out first

 private:
  std::string who() const override { return peer_; }

  void on_message(ws::Opcode op, std::string_view payload) override {
    if (session_) session_->ws_message(*this, payload, op == ws::binary);
  }

  void on_end(boost::system::error_code) override {
    if (auto s = std::exchange(session_, nullptr)) s->ws_closed(*this);
    http_->close = nullptr;
    http_->going_away = nullptr;
    http_->finish();
  }

  std::shared_ptr<HttpServer::Session> http_;
  std::shared_ptr<eio::Session> session_;
  std::string peer_;
};

}  // namespace

template <class S>
void serve_engineio(S stream, const http::request<http::string_body>& req, std::string early, eio::Server& server,
                    WsSettings settings, eio::Peer from, std::shared_ptr<HttpServer::Session> http) {
  http->handed_off = true;
  http->close = nullptr;  // it pointed into the HTTP coroutine, which ends now
  auto c = std::make_shared<EioConnection<S>>(std::move(stream), settings, std::move(http));
  c->start(server, req, std::move(early), std::move(from));
}

template void serve_engineio(Stream, const http::request<http::string_body>&, std::string, eio::Server&, WsSettings,
                             eio::Peer, std::shared_ptr<HttpServer::Session>);
template void serve_engineio(TlsStream, const http::request<http::string_body>&, std::string, eio::Server&,
                             WsSettings, eio::Peer, std::shared_ptr<HttpServer::Session>);

}  // namespace tourbus::net
