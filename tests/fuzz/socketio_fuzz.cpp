// libFuzzer target: what a Socket.IO client sends, as the daemon's layers take it (lib/socketio):
// the input is a long-polling POST body (Engine.IO packets joined by the record separator, binary
// ones base64) to a session whose default namespace lets everyone in and echoes every event with its
// attachments, then the same bytes as one WebSocket message. Each Socket.IO packet that decodes must
// encode back to a packet that decodes the same.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "socketio/engineio.hpp"
#include "socketio/socketio.hpp"

using namespace tourbus;

namespace {

struct Echo : sio::Socket {
  explicit Echo(std::shared_ptr<sio::Link> l) : link(std::move(l)) {}
  std::shared_ptr<sio::Link> link;
  void on_event(boost::json::array args, std::optional<std::uint64_t> ack, std::vector<std::string> parts) override {
    if (ack) link->ack(*ack, args, parts);
    else link->emit("echo", args, parts);
  }
  void on_disconnect(std::string_view) override {}
};

struct Open : sio::Namespace {
  void connect(std::shared_ptr<sio::Link> link, const boost::json::value&) override {
    link->accept(std::make_unique<Echo>(link));
  }
};

struct Sink : eio::WsLink {
  void send(const eio::Packet&) override {}
  void close() override {}
};

void round_trip(std::string_view text) {
  auto p = sio::decode(text, 10);
  if (!p) return;
  auto data = p->data.is_null() ? std::string() : boost::json::serialize(p->data);
  auto again = sio::decode(sio::encode(p->type, p->nsp, p->id, data, p->attachments), 10);
  if (!again || again->type != p->type || again->nsp != p->nsp || again->id != p->id || again->data != p->data ||
      again->attachments != p->attachments)
    __builtin_trap();
}

}  // namespace

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* bytes, std::size_t size) {
  std::string_view input(reinterpret_cast<const char*>(bytes), size);
  round_trip(input);
  boost::asio::io_context io;
  Open ns;
  sio::Server sio({std::chrono::milliseconds(1000), 10});
  sio.add("/", ns);
  eio::Options o;
  o.max_payload = 1 << 16;
  eio::Server server(io.get_executor(), o, [&](eio::Session& s) { return sio.accept(s); });
  eio::HttpRequest open{"GET", "/socket.io/?EIO=4&transport=polling", {}, {}};
  std::string sid;
  boost::asio::co_spawn(io, server.polling(open, {}), [&](std::exception_ptr, eio::HttpReply r) {
    sid = std::string(boost::json::parse(r.body.substr(1)).as_object().at("sid").as_string());
  });
  io.run_one();
  io.restart();
  auto at = "/socket.io/?EIO=4&transport=polling&sid=" + sid;
  // A connected client first, so that events reach the namespace, then the input.
  for (std::string_view body : {std::string_view("40"), input}) {
    eio::HttpRequest post{"POST", at, body, {}};
    boost::asio::co_spawn(io, server.polling(post, {}), [](std::exception_ptr, eio::HttpReply) {});
    io.poll();
    io.restart();
  }
  // The same bytes on a WebSocket session.
  Sink link;
  eio::HttpRequest upgrade{"GET", "/socket.io/?EIO=4&transport=websocket", {}, {}};
  if (auto s = server.open_websocket(link, upgrade, {})) {
    s->ws_message(link, "40", false);
    s->ws_message(link, input, false);
    s->ws_message(link, input, true);
    s->ws_closed(link);
  }
  io.poll();
  server.close_all("done");
  io.poll();
  return 0;
}
