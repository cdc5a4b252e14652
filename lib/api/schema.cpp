#include "api/schema.hpp"

#include <charconv>

#include "core/json.hpp"

namespace tourbus::api {
namespace {

bool matches(Type t, const boost::json::value& v) {
  switch (t) {
    case Type::string: return v.is_string();
    case Type::integer: return v.is_int64() || (v.is_uint64() && v.as_uint64() <= INT64_MAX);
    case Type::number: return v.is_number();
    case Type::boolean: return v.is_bool();
    case Type::string_list:
      if (!v.is_array()) return false;
      for (const auto& e : v.as_array())
        if (!e.is_string()) return false;
      return true;
    case Type::string_map:
      if (!v.is_object()) return false;
      for (const auto& [k, e] : v.as_object())
        if (!e.is_string() && !e.is_number()) return false;
      return true;
  }
  return false;
}

}  // namespace

Status check_params(const Operation& op, const boost::json::object& params) {
  for (const auto& [key, value] : params) {
    const Param* p = find_param(op, key);
    if (!p) {
      std::string known;
      for (const auto& q : op.params) known += (known.empty() ? "" : ", ") + std::string(q.name);
      return Error(Code::unknown_field,
                   "'" + std::string(key) + "' is not a parameter of " + std::string(op.name) +
                       (known.empty() ? " (it takes none)" : " (it takes: " + known + ")"),
                   std::string(key));
    }
    if (value.is_null()) {
      if (p->nullable) continue;
      if (p->required) return Error(Code::invalid_argument, std::string(key) + ": required", std::string(key));
      return Error(Code::invalid_argument, std::string(key) + ": cannot be cleared (null or empty)", std::string(key));
    }
    if (!matches(p->type, value))
      return Error(Code::invalid_argument,
                   std::string(key) + ": expected " + std::string(type_name(p->type)), std::string(key));
  }
  for (const auto& p : op.params) {
    auto it = params.find(p.name);
    if (p.required && (it == params.end() || it->value().is_null()))
      return Error(Code::invalid_argument, std::string(p.name) + ": required", std::string(p.name));
  }
  return {};
}

Result<boost::json::value> from_text(const Param& p, std::string_view text) {
  auto bad = [&] {
    return Error(Code::invalid_argument,
                 std::string(p.name) + ": '" + std::string(text) + "' is not " + std::string(type_name(p.type)),
                 std::string(p.name));
  };
  switch (p.type) {
    case Type::string: return boost::json::value(boost::json::string(text));
    case Type::integer: {
      std::int64_t v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) return bad();
      return boost::json::value(v);
    }
    case Type::number: {
      double v = 0;
      auto [ptr, ec] = std::from_chars(text.data(), text.data() + text.size(), v);
      if (ec != std::errc{} || ptr != text.data() + text.size() || text.empty()) return bad();
      return boost::json::value(v);
    }
    case Type::boolean:
      if (text == "true" || text == "1") return boost::json::value(true);
      if (text == "false" || text == "0") return boost::json::value(false);
      return bad();
    case Type::string_list: {
      boost::json::array a;
      std::size_t start = 0;
      while (start <= text.size()) {
        auto comma = text.find(',', start);
        auto part = text.substr(start, comma == std::string_view::npos ? std::string_view::npos : comma - start);
        if (!part.empty()) a.emplace_back(boost::json::string(part));
        if (comma == std::string_view::npos) break;
        start = comma + 1;
      }
      return boost::json::value(std::move(a));
    }
    case Type::string_map: return bad();  // only in JSON bodies
  }
  return bad();
}

bool has(const boost::json::object& p, std::string_view key) { return p.contains(key); }

bool is_null(const boost::json::object& p, std::string_view key) {
  auto it = p.find(key);
  return it != p.end() && it->value().is_null();
}

std::optional<std::string> get_string(const boost::json::object& p, std::string_view key) {
  auto it = p.find(key);
  if (it == p.end() || !it->value().is_string()) return std::nullopt;
  return std::string(it->value().as_string());
}

std::optional<std::int64_t> get_int(const boost::json::object& p, std::string_view key) {
  auto it = p.find(key);
  if (it == p.end()) return std::nullopt;
  if (it->value().is_int64()) return it->value().as_int64();
  if (it->value().is_uint64()) return static_cast<std::int64_t>(it->value().as_uint64());
  return std::nullopt;
}

std::optional<double> get_number(const boost::json::object& p, std::string_view key) {
  auto it = p.find(key);
  if (it == p.end() || !it->value().is_number()) return std::nullopt;
  return it->value().to_number<double>();
}

std::optional<bool> get_bool(const boost::json::object& p, std::string_view key) {
  auto it = p.find(key);
  if (it == p.end() || !it->value().is_bool()) return std::nullopt;
  return it->value().as_bool();
}

std::vector<std::string> get_strings(const boost::json::object& p, std::string_view key) {
  std::vector<std::string> out;
  auto it = p.find(key);
  if (it == p.end() || !it->value().is_array()) return out;
  for (const auto& e : it->value().as_array()) out.emplace_back(e.as_string());
  return out;
}

Error field_error(std::string_view field, const Error& cause) {
  return Error(cause.code, std::string(field) + ": " + cause.message, std::string(field));
}

std::map<std::string, std::string> get_string_map(const boost::json::object& p, std::string_view key) {
  std::map<std::string, std::string> out;
  auto it = p.find(key);
  if (it == p.end() || !it->value().is_object()) return out;
  for (const auto& [k, v] : it->value().as_object())
    out.emplace(std::string(k), v.is_string() ? std::string(v.as_string()) : json::dump(v));
  return out;
}

}  // namespace tourbus::api
