// The WebSocket transport of the API (docs/protocol.md): text frames holding
// {"event": NAME, "data": {...}, "ref": R}; every request gets a reply or an error carrying its ref.
// Each connection has a bounded send queue: a client that reads too slowly is closed with code
// 4001 rather than allowed to hold memory or delay anyone else.
#pragma once

#include <memory>

#include <boost/asio/awaitable.hpp>
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

// Completes the upgrade of an authenticated HTTP request and serves the session until it ends.
// S is Stream or TlsStream.
template <class S>
boost::asio::awaitable<void> serve_websocket(S stream, boost::beast::http::request<boost::beast::http::string_body> req,
                                             api::Context& ctx, realtime::Hub& hub, api::Caller caller,
                                             std::shared_ptr<HttpServer::Session> self);

}  // namespace tourbus::net
