// libFuzzer target: a WebSocket text frame's JSON request as the daemon decodes it, through the
// same functions the session calls (net/ws_request.hpp): the frame's shape {"event", "data",
// "ref"}, the operation named by "event" (unknown and HTTP-only ones refused), and its parameters
// checked against the operation's schema (no handler runs). Frames that name no served operation
// are checked against every operation, so the schema checks see every shape of data.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "api/schema.hpp"
#include "net/ws_request.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::optional<boost::json::value> ref;
  auto req = net::decode_request(std::string_view(reinterpret_cast<const char*>(data), size), ref);
  if (!req) return 0;
  if (ref && !(ref->is_string() || ref->is_int64() || ref->is_uint64())) __builtin_trap();  // echoed only when valid
  auto op = net::ws_operation(req->event);
  if (op) {
    (void)api::check_params(**op, req->params);
  } else {
    for (const auto& any : api::operations()) (void)api::check_params(any, req->params);
  }
  return 0;
}
