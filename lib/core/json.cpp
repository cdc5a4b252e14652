#include "core/json.hpp"

#include <charconv>
#include <cmath>
#include <cstdio>

namespace tourbus::json {

namespace {

void dump_string(std::string& out, boost::json::string_view s) {
  out += '"';
  for (char c : s) {
    switch (c) {
      case '"': out += "\\\""; break;
      case '\\': out += "\\\\"; break;
      case '\b': out += "\\b"; break;
      case '\f': out += "\\f"; break;
      case '\n': out += "\\n"; break;
      case '\r': out += "\\r"; break;
      case '\t': out += "\\t"; break;
      default:
        if (static_cast<unsigned char>(c) < 0x20) {
          char buf[8];
          std::snprintf(buf, sizeof buf, "\\u%04x", static_cast<unsigned>(c));
          out += buf;
        } else {
          out += c;
        }
    }
  }
  out += '"';
}

template <class Number>
void dump_number(std::string& out, Number n) {
  char buf[32];
  auto [end, ec] = std::to_chars(buf, buf + sizeof buf, n);  // shortest round trip for doubles
  out.append(buf, end);
}

}  // namespace

void dump(std::string& out, const boost::json::object& o) {
  out += '{';
  bool first = true;
  for (const auto& kv : o) {
    if (!first) out += ',';
    first = false;
    dump_string(out, kv.key());
    out += ':';
    dump(out, kv.value());
  }
  out += '}';
}

void dump(std::string& out, const boost::json::array& a) {
  out += '[';
  bool first = true;
  for (const auto& v : a) {
    if (!first) out += ',';
    first = false;
    dump(out, v);
  }
  out += ']';
}

void dump(std::string& out, const boost::json::value& v) {
  switch (v.kind()) {
    case boost::json::kind::null: out += "null"; break;
    case boost::json::kind::bool_: out += v.get_bool() ? "true" : "false"; break;
    case boost::json::kind::int64: dump_number(out, v.get_int64()); break;
    case boost::json::kind::uint64: dump_number(out, v.get_uint64()); break;
    case boost::json::kind::double_:
      if (std::isfinite(v.get_double())) {
        dump_number(out, v.get_double());
      } else {
        out += "null";
      }
      break;
    case boost::json::kind::string: dump_string(out, v.get_string()); break;
    case boost::json::kind::array: dump(out, v.get_array()); break;
    case boost::json::kind::object: dump(out, v.get_object()); break;
  }
}

}  // namespace tourbus::json
