#include <catch2/catch.hpp>

#include "../support.hpp"
#include "notify/templates.hpp"

using namespace tourbus;

TEST_CASE("a missing template names the languages looked for, each once") {
  test::TempDir dir;
  notify::Templates templates(dir.path(), "en");
  auto none = templates.find("booking", "");
  REQUIRE_FALSE(none);
  CHECK(none.error().code == Code::not_found);
  CHECK_THAT(none.error().message, Catch::EndsWith("in language 'en'"));
  auto italian = templates.find("booking", "it-CH");
  REQUIRE_FALSE(italian);
  CHECK_THAT(italian.error().message, Catch::EndsWith("in language 'it-CH' or 'it' or 'en'"));
  auto english = templates.find("booking", "en");
  REQUIRE_FALSE(english);
  CHECK_THAT(english.error().message, Catch::EndsWith("in language 'en'"));
}
