#include <catch2/catch.hpp>

#include "core/logging.hpp"

using namespace tourbus;

TEST_CASE("text from outside cannot break a quoted log field") {
  CHECK(logging::quoted_field("/v1/users?q=a") == "/v1/users?q=a");
  CHECK(logging::quoted_field(R"(/x" status=200 peer="evil)") == R"(/x\" status=200 peer=\"evil)");
  CHECK(logging::quoted_field("a\\b") == "a\\\\b");
  CHECK(logging::quoted_field("line\nnext\r\x01\x7f") == "line\\x0anext\\x0d\\x01\\x7f");
  CHECK(logging::quoted_field("é") == "é");  // UTF-8 is kept as it is
  CHECK(logging::quoted_field(std::string(300, 'a')).size() == 200);
  CHECK(logging::quoted_field("abcdef", 3) == "abc");
}
