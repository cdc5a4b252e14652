// The byte streams under HTTP and WebSocket connections. TCP and Unix sockets share one type, so
// the protocol machinery is compiled once for plain streams and once for TLS.
#pragma once

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/awaitable.hpp>
#include <boost/asio/generic/stream_protocol.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/beast/core/basic_stream.hpp>
#include <boost/beast/ssl/ssl_stream.hpp>
#include <boost/beast/http/message.hpp>

namespace tourbus::net {

namespace asio = boost::asio;
namespace beast = boost::beast;
namespace http = beast::http;
using asio::awaitable;

using Stream = beast::basic_stream<asio::generic::stream_protocol>;
// The TCP listener with server.tls_certificate set.
using TlsStream = beast::ssl_stream<Stream>;

// Completion token for coroutines that look at error codes instead of catching exceptions.
inline constexpr auto tuple_awaitable = asio::as_tuple(asio::use_awaitable);

}  // namespace tourbus::net
