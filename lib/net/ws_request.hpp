// A request on the daemon's own WebSocket framing: a text frame holding {"event": NAME,
// "data": {...}, "ref": R}. Decoded in two steps so that the session can take its rate-limit token
// between them: the frame's shape (decode_request), then the operation it names (ws_operation).
// The fuzz target tests/fuzz/ws_event_fuzz.cpp drives the same two functions.
#pragma once

#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "api/operation.hpp"
#include "core/error.hpp"

namespace tourbus::net {

struct WsRequest {
  std::string event;
  boost::json::object params;            // "data", {} when absent or null
  std::optional<boost::json::value> ref;  // a string or an integer, echoed in the answer
};

// The frame's shape: a JSON object with only event (a string), data (an object or null) and ref (a
// string or an integer). On error, `ref` holds the frame's ref when it was valid, for the answer.
Result<WsRequest> decode_request(std::string_view text, std::optional<boost::json::value>& ref);

// The operation an event names, if the WebSocket serves it (not_found, or bad_request for the
// HTTP-only ones).
Result<const api::Operation*> ws_operation(std::string_view event);

}  // namespace tourbus::net
