// Maps an HTTP request onto an operation of the table and gathers its parameters from the path,
// the query string and the JSON body.
#pragma once

#include <string_view>

#include <boost/json/object.hpp>

#include "api/operation.hpp"

namespace tourbus::net {

struct Routed {
  const api::Operation* op = nullptr;
  boost::json::object params;
};

// `target` is the request target ("/v1/users/anna?x=1"); `body` the raw request body.
// Errors: not_found (no route), method_not_allowed, invalid_json, invalid_argument.
Result<Routed> route(std::string_view method, std::string_view target, std::string_view body);

}  // namespace tourbus::net
