// The Socket.IO packet codec and Engine.IO sessions driven without a network: what the official
// suites check end to end (165_socketio_conformance), at the level where a failure names the rule.
#include <catch2/catch.hpp>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "core/crypto.hpp"
#include "socketio/engineio.hpp"
#include "socketio/socketio.hpp"

using namespace tourbus;

TEST_CASE("Socket.IO packets decode as the protocol describes", "[socketio]") {
  auto p = sio::decode(R"(2["hello",1])", 10);
  REQUIRE(p);
  CHECK(p->type == sio::Type::event);
  CHECK(p->nsp == "/");
  CHECK(!p->id);
  CHECK(boost::json::serialize(p->data) == R"(["hello",1])");

  p = sio::decode(R"(2/admin,456["project:delete",123])", 10);
  REQUIRE(p);
  CHECK(p->nsp == "/admin");
  CHECK(p->id == 456u);

  p = sio::decode(R"(51-["hello",{"_placeholder":true,"num":0}])", 10);
  REQUIRE(p);
  CHECK(p->type == sio::Type::binary_event);
  CHECK(p->attachments == 1);

  p = sio::decode("0/random", 10);  // a namespace without the comma
  REQUIRE(p);
  CHECK(p->type == sio::Type::connect);
  CHECK(p->nsp == "/random");
  CHECK(p->data.is_null());

  p = sio::decode(R"(0{"token":"123"})", 10);
  REQUIRE(p);
  CHECK(p->data.as_object().at("token") == "123");

  CHECK(sio::decode("1", 10)->type == sio::Type::disconnect);
  CHECK(sio::decode("3456[1]", 10)->id == 456u);
}

TEST_CASE("Malformed Socket.IO packets are refused", "[socketio]") {
  for (const char* bad : {"", "abc", "7", "2{}", "2[]", "2[1]", "2abc[\"m\"]", R"(2["a")", "0[1]", "1{}", "3[1]",
                          R"(4{"message":"x"})", R"(5["a"])", R"(50-["a"])", R"(5x-["a"])", R"(511-["a"])",
                          "21234567890123456[\"a\"]"}) {
    INFO(bad);
    CHECK(!sio::decode(bad, 10));
  }
}

TEST_CASE("Socket.IO packets encode as the protocol describes", "[socketio]") {
  CHECK(sio::encode(sio::Type::connect, "/", std::nullopt, R"({"sid":"x"})") == R"(0{"sid":"x"})");
  CHECK(sio::encode(sio::Type::connect_error, "/admin", std::nullopt, R"({"message":"no"})") ==
        R"(4/admin,{"message":"no"})");
  CHECK(sio::encode(sio::Type::ack, "/", 7u, "[1]") == "37[1]");
  CHECK(sio::encode(sio::Type::binary_event, "/", std::nullopt, R"(["a",{"_placeholder":true,"num":0}])", 1) ==
        R"(51-["a",{"_placeholder":true,"num":0}])");
  CHECK(sio::event_message("message", {R"({"id":1})"}) == R"(42["message",{"id":1}])");
  CHECK(sio::event_message("a\"b", {"1", "\"x\""}) == R"(42["a\"b",1,"x"])");
}

TEST_CASE("base64 round-trips and refuses what is not base64", "[socketio]") {
  for (std::string s : {std::string(), std::string("\x01\x02\x03\x04", 4), std::string("ab"), std::string(300, '\xff')})
    CHECK(crypto::base64_decode(crypto::base64_encode(s)) == s);
  CHECK(crypto::base64_encode("\x01\x02\x03\x04") == "AQIDBA==");
  for (const char* bad : {"AQIDBA=", "AQI=DBA=", "AQ*DBA==", "A===", "=AAA"}) CHECK(!crypto::base64_decode(bad));
}

namespace {

// What a session handed up (kept by the test: the handler goes with its session).
struct Log {
  std::vector<std::string> messages;
  std::string closed;
};
struct Recorder : eio::Handler {
  explicit Recorder(Log& log) : log(log) {}
  Log& log;
  void on_message(std::string_view data, bool binary) override {
    log.messages.push_back((binary ? "b:" : "t:") + std::string(data));
  }
  void on_close(std::string_view reason) override { log.closed = reason; }
};

template <class T>
T run(boost::asio::io_context& io, boost::asio::awaitable<T> a) {
  std::optional<T> out;
  boost::asio::co_spawn(io, std::move(a), [&](std::exception_ptr e, T v) {
    if (e) std::rethrow_exception(e);
    out = std::move(v);
  });
  while (!out && io.run_one()) {
  }
  io.restart();
  REQUIRE(out);
  return std::move(*out);
}

}  // namespace

TEST_CASE("Engine.IO long-polling: handshake, payloads, bad requests", "[socketio]") {
  boost::asio::io_context io;
  Log log;
  auto* rec = &log;
  eio::Options o;
  o.max_payload = 100;
  eio::Server server(io.get_executor(), o, [&](eio::Session&) { return std::make_unique<Recorder>(log); });
  auto get = [&](std::string target) {
    eio::HttpRequest r{"GET", target, {}, {}};
    return run(io, server.polling(r, {}));
  };
  auto post = [&](std::string target, std::string body) {
    eio::HttpRequest r{"POST", target, body, {}};
    return run(io, server.polling(r, {}));
  };

  CHECK(get("/socket.io/?transport=polling").status == 400);
  CHECK(get("/socket.io/?EIO=3&transport=polling").status == 400);
  CHECK(get("/socket.io/?EIO=4&transport=flash").status == 400);
  CHECK(post("/socket.io/?EIO=4&transport=polling", "").status == 400);

  auto open = get("/socket.io/?EIO=4&transport=polling");
  REQUIRE(open.status == 200);
  REQUIRE(open.body.starts_with("0{"));
  auto sid = std::string(boost::json::parse(open.body.substr(1)).as_object().at("sid").as_string());
  auto at = "/socket.io/?EIO=4&transport=polling&sid=" + sid;

  CHECK(post(at, "4hello\x1e" "bAQIDBA==").body == "ok");
  CHECK(rec->messages == std::vector<std::string>{"t:hello", std::string("b:\x01\x02\x03\x04", 6)});

  auto session = server.sessions() == 1;
  CHECK(session);
  CHECK(post(at, std::string(101, '4')).status == 413);  // past maxPayload: the session ends
  CHECK(rec->closed == "payload too large");
  CHECK(get(at).status == 400);
  CHECK(server.sessions() == 0);
}

TEST_CASE("Engine.IO long-polling: a poll gets what was queued, joined by the record separator", "[socketio]") {
  boost::asio::io_context io;
  std::shared_ptr<eio::Session> session;
  Log log;
  eio::Server server(io.get_executor(), {}, [&](eio::Session& s) {
    session = s.shared_from_this();
    return std::make_unique<Recorder>(log);
  });
  eio::HttpRequest handshake{"GET", "/socket.io/?EIO=4&transport=polling", {}, {}};
  auto open = run(io, server.polling(handshake, {}));
  auto sid = std::string(boost::json::parse(open.body.substr(1)).as_object().at("sid").as_string());
  auto at = "/socket.io/?EIO=4&transport=polling&sid=" + sid;
  session->send(eio::message("a"));
  session->send({std::make_shared<const std::string>("\x01\x02", 2), true});
  session->send(eio::message("b"));
  eio::HttpRequest get{"GET", at, {}, {}};
  auto poll = run(io, server.polling(get, {}));
  CHECK(poll.body == "4a\x1e" "bAQI=\x1e" "4b");
  // The client closes: the session is gone.
  eio::HttpRequest close{"POST", at, "1", {}};
  CHECK(run(io, server.polling(close, {})).body == "ok");
  CHECK(server.sessions() == 0);
  CHECK(log.closed == "client close");
}
