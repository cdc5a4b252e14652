// JSON text as people and JSON tools expect it. Boost.JSON writes every double in exponent form
// (41.8902 as 4.18902E1, 15.0 as 1.5E1); dump() writes the shortest decimal that reads back as
// the same double (41.8902, 15, 1e+21) and null for infinities and NaN, which JSON cannot carry.
// Strings are escaped as Boost.JSON does: `"`, `\` and control characters, nothing else. Every
// piece of JSON the daemon or the CLI writes goes through here.
#pragma once

#include <string>

#include <boost/json/array.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

namespace tourbus::json {

void dump(std::string& out, const boost::json::value& v);
void dump(std::string& out, const boost::json::object& o);
void dump(std::string& out, const boost::json::array& a);

template <class Json>
std::string dump(const Json& v) {
  std::string out;
  dump(out, v);
  return out;
}

}  // namespace tourbus::json
