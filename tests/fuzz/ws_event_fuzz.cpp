// libFuzzer target: a WebSocket text frame's JSON event as the daemon decodes it: the object
// {"event", "data", "ref"}, the operation named by "event", and its parameters checked against
// the operation's schema (no handler runs). Inputs that name no known operation are checked
// against every operation, so the schema checks see every shape of data.
#include <cstddef>
#include <cstdint>
#include <string_view>

#include <boost/json/parse.hpp>

#include "api/schema.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  boost::system::error_code ec;
  auto v = boost::json::parse(std::string_view(reinterpret_cast<const char*>(data), size), ec);
  if (ec || !v.is_object()) return 0;
  const auto& o = v.as_object();
  const auto* event = o.if_contains("event");
  const auto* params = o.if_contains("data");
  if (params && !params->is_object()) return 0;
  boost::json::object p = params ? params->as_object() : boost::json::object{};
  const api::Operation* op = event && event->is_string() ? api::find_operation(std::string_view(event->as_string())) : nullptr;
  if (op) {
    (void)api::check_params(*op, p);
  } else {
    for (const auto& any : api::operations()) (void)api::check_params(any, p);
  }
  return 0;
}
