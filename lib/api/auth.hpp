// Bearer-token authentication for the TCP listener (and later the WebSocket).
#pragma once

#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api/context.hpp"
#include "api/operation.hpp"

namespace tourbus::api {

inline constexpr std::string_view kTokenPrefix = "tb_";

// Maps a token secret to its user. Fails with `unauthenticated` when the token is unknown,
// revoked or expired, or its user is disabled. Records last use (at most once a minute).
boost::asio::awaitable<Result<Caller>> authenticate(Context& ctx, std::string_view secret, std::string peer);

}  // namespace tourbus::api
