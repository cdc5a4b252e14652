#include <cmath>
#include <limits>

#include <boost/json/parse.hpp>
#include <catch2/catch.hpp>

#include "core/json.hpp"

using tourbus::json::dump;

TEST_CASE("numbers are written as people and JSON tools expect, and read back the same", "[json]") {
  CHECK(dump(boost::json::value(41.8902)) == "41.8902");
  CHECK(dump(boost::json::value(15.0)) == "15");
  CHECK(dump(boost::json::value(-0.5)) == "-0.5");
  CHECK(dump(boost::json::value(12.4539)) == "12.4539");
  CHECK(dump(boost::json::value(1e21)) == "1e+21");
  CHECK(dump(boost::json::value(std::int64_t{-9007199254740993})) == "-9007199254740993");
  CHECK(dump(boost::json::value(std::uint64_t{18446744073709551615u})) == "18446744073709551615");
  for (double d : {0.1, 1.0 / 3, 123456.789, 5e-324, 1.7976931348623157e308, -273.15}) {
    CAPTURE(d);
    CHECK(boost::json::parse(dump(boost::json::value(d))).to_number<double>() == d);
  }
}

TEST_CASE("infinities and NaN, which JSON cannot carry, are written as null", "[json]") {
  CHECK(dump(boost::json::value(std::numeric_limits<double>::infinity())) == "null");
  CHECK(dump(boost::json::value(std::nan(""))) == "null");
}

TEST_CASE("strings are escaped as Boost.JSON escapes them, and objects and arrays keep their order", "[json]") {
  auto v = boost::json::parse(R"({"b":[1,true,null,"a\"b\\c\n\t\u0001é/"],"a":{}, "c":[]})");
  CHECK(dump(v) == R"({"b":[1,true,null,"a\"b\\c\n\t\u0001é/"],"a":{},"c":[]})");
  CHECK(boost::json::parse(dump(v)) == v);
}
