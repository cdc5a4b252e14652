// Engine.IO's WebSocket transport on the daemon's WebSocket connection (net/ws_connection.hpp):
// each message is one Engine.IO packet (text, or binary data), and the connection carries one
// session, new or upgraded from long-polling. Used by tourbusd (net/socketio_api.cpp) and by the
// conformance suites' echo server (tests/conformance).
#pragma once

#include <memory>
#include <string>

#include <boost/beast/http/message.hpp>
#include <boost/beast/http/string_body.hpp>

#include "net/http_server.hpp"
#include "net/stream.hpp"
#include "net/ws_connection.hpp"
#include "socketio/engineio.hpp"

namespace tourbus::net {

// Takes over a connection whose request asks for the upgrade at the Engine.IO path (checked with
// eio::Server::check_websocket): answers 101 and carries the session from then on. `http`'s
// finish() runs when it ends. S is Stream or TlsStream.
template <class S>
void serve_engineio(S stream, const http::request<http::string_body>& req, std::string early, eio::Server& server,
                    WsSettings settings, eio::Peer from, std::shared_ptr<HttpServer::Session> http);

}  // namespace tourbus::net
