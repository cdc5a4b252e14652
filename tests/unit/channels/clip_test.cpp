#include <catch2/catch.hpp>

#include "channels/channels.hpp"
#include "net/ws_frame.hpp"

using namespace tourbus;

TEST_CASE("push texts are cut to their documented size, never inside a character") {
  CHECK(channels::clip_utf8("short", 120) == "short");
  CHECK(channels::clip_utf8(std::string(120, 'a'), 120) == std::string(120, 'a'));
  auto cut = channels::clip_utf8(std::string(500, 'a'), 120);
  CHECK(cut.size() == 120);
  CHECK(cut.ends_with("…"));
  CHECK(channels::clip_utf8(std::string(5000, 'b'), 2000).size() == 2000);
  // 2-byte characters: the cut falls between two of them, the result is valid UTF-8.
  std::string umlauts;
  for (int i = 0; i < 100; ++i) umlauts += "ü";
  auto u = channels::clip_utf8(umlauts, 120);
  CHECK(u.size() <= 120);
  CHECK(u.size() >= 118);
  CHECK(net::ws::valid_utf8(u));
}
