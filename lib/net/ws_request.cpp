#include "net/ws_request.hpp"

#include <boost/json/parse.hpp>

namespace tourbus::net {

Result<WsRequest> decode_request(std::string_view text, std::optional<boost::json::value>& ref) {
  ref.reset();
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return Error(Code::invalid_json, "a frame is a JSON object {\"event\", \"data\", \"ref\"}");
  auto& o = v.as_object();
  if (const auto* r = o.if_contains("ref")) {
    if (!(r->is_string() || r->is_int64() || r->is_uint64()))
      return Error(Code::invalid_argument, "ref: a string or an integer", "ref");
    ref = *r;
  }
  for (const auto& [key, value] : o)
    if (key != "event" && key != "data" && key != "ref")
      return Error(Code::unknown_field, "'" + std::string(key) + "' is not a frame field (event, data, ref)", std::string(key));
  const auto* event = o.if_contains("event");
  if (!event || !event->is_string()) return Error(Code::invalid_argument, "event: required, a string", "event");
  auto* data = o.if_contains("data");
  if (data && !data->is_object() && !data->is_null()) return Error(Code::invalid_argument, "data: an object", "data");
  WsRequest req{.event = std::string(event->as_string()), .ref = ref};
  if (data && data->is_object()) req.params = std::move(data->as_object());
  return req;
}

Result<const api::Operation*> ws_operation(std::string_view event) {
  const auto* op = api::find_operation(event);
  if (!op) return Error(Code::not_found, "no such event: '" + std::string(event) + "'", "event");
  if (!op->websocket) return Error(Code::bad_request, std::string(op->name) + " is served over HTTP only", "event");
  return op;
}

}  // namespace tourbus::net
