// The WebSocket transport of the API (docs/protocol.md): text frames holding
// {"event": NAME, "data": {...}, "ref": R}; every request gets a reply or an error carrying its ref.
// The connection itself (framing, keepalive, the bounded send queue) is net/ws_connection.hpp.
#pragma once

#include <memory>

#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/context.hpp"
#include "api/operation.hpp"
#include "net/http_server.hpp"
#include "net/stream.hpp"
#include "realtime/hub.hpp"

namespace tourbus::net {

// Takes over a connection whose authenticated HTTP request asks for the upgrade: answers 101 and
// serves the session from then on, on the event loop, without holding the HTTP coroutine (`early`:
// bytes the client sent after the request). The HTTP session's finish() runs when it ends.
// S is Stream or TlsStream.
template <class S>
void serve_websocket(S stream, const boost::beast::http::request<boost::beast::http::string_body>& req,
                     std::string early, api::Context& ctx, realtime::Hub& hub, api::Caller caller,
                     std::shared_ptr<HttpServer::Session> http);

}  // namespace tourbus::net
