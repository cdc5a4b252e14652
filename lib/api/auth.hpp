// Bearer-token authentication for the TCP listener (and later the WebSocket).
#pragma once

#include <string_view>

#include <boost/asio/awaitable.hpp>

#include "api/context.hpp"
#include "api/operation.hpp"

namespace tourbus::api {

// Maps a token secret to its user. Fails with `unauthenticated` when the token is unknown,
// revoked or expired, or its user is disabled. Records last use (at most once a minute).
boost::asio::awaitable<Result<Caller>> authenticate(Context& ctx, std::string_view secret, std::string peer);

// An operator on the control socket acting as the user `handle`, with that user's role and rights.
Result<Caller> act_as(Context& ctx, const Caller& operator_caller, std::string_view handle);

}  // namespace tourbus::api
