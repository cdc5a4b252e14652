// Parameter checking against an operation's schema, and typed access for handlers. After
// check_params succeeds, every present parameter has its declared type, or is null where the
// parameter is nullable ("clear it").
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "api/operation.hpp"

namespace tourbus::api {

Status check_params(const Operation& op, const boost::json::object& params);

// Converts a text value (path segment, query string) to a parameter's declared type.
Result<boost::json::value> from_text(const Param& param, std::string_view text);

bool has(const boost::json::object& p, std::string_view key);
// Present and null: the caller asks to clear the value.
bool is_null(const boost::json::object& p, std::string_view key);
std::optional<std::string> get_string(const boost::json::object& p, std::string_view key);
std::optional<std::int64_t> get_int(const boost::json::object& p, std::string_view key);
std::optional<double> get_number(const boost::json::object& p, std::string_view key);
std::optional<bool> get_bool(const boost::json::object& p, std::string_view key);
std::vector<std::string> get_strings(const boost::json::object& p, std::string_view key);
// A string_map parameter; numbers become their JSON text.
std::map<std::string, std::string> get_string_map(const boost::json::object& p, std::string_view key);

// An invalid_argument error naming the parameter: "phone: '+1 555' is not ...".
Error field_error(std::string_view field, const Error& cause);

}  // namespace tourbus::api
