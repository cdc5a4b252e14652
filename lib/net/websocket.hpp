// The WebSocket transport of the API (docs/protocol.md): text frames holding
// {"event": NAME, "data": {...}, "ref": R}; every request gets a reply or an error carrying its ref.
// RFC 6455 is implemented here (net/ws_frame.hpp), not taken from a library, so that the fan-out
// path stays cheap: a pushed frame is encoded once for all its sessions, each session writes all
// it has queued in one writev, and an idle connection holds no read buffer and no timer.
// Each connection has a bounded send queue: a client that reads too slowly is closed with code
// 4001 rather than allowed to hold memory or delay anyone else.
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

// Close code sent to a client whose send queue overflowed.
inline constexpr std::uint16_t kCloseTooSlow = 4001;

// Takes over a connection whose authenticated HTTP request asks for the upgrade: answers 101 and
// serves the session from then on, on the event loop, without holding the HTTP coroutine (`early`:
// bytes the client sent after the request). The HTTP session's finish() runs when it ends.
// S is Stream or TlsStream.
template <class S>
void serve_websocket(S stream, const boost::beast::http::request<boost::beast::http::string_body>& req,
                     std::string early, api::Context& ctx, realtime::Hub& hub, api::Caller caller,
                     std::shared_ptr<HttpServer::Session> http);

}  // namespace tourbus::net
