// libFuzzer target: what alert.send and the SMS webhook take from outside: CAP 1.2 documents
// (parsed with libxml2; a parsed one must survive export and parse again with the same content),
// the text forms of circles and polygons, and SMS reply keywords. Errors must say why; nothing
// may crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "safety/cap.hpp"
#include "safety/geo.hpp"
#include "safety/rollcall.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  if (auto alert = safety::cap::parse(text)) {
    auto again = safety::cap::parse(safety::cap::to_xml(*alert));
    if (!again) __builtin_trap();  // what we export, we read back
    if (safety::cap::to_xml(*again) != safety::cap::to_xml(*alert)) __builtin_trap();
    for (const auto& info : alert->infos)
      for (const auto& area : info.areas) (void)area.contains(safety::geo::Point{41.9, 12.5});
    if (!alert->infos.empty()) (void)safety::cap::pick(*alert, "es-MX", "en");
  } else if (alert.error().message.empty()) {
    __builtin_trap();
  }
  if (auto c = safety::geo::parse_circle(text)) {
    if (safety::geo::check(*c)) (void)safety::geo::boxes(safety::geo::Area{"", {}, {*c}});
  }
  if (auto p = safety::geo::parse_polygon(text)) {
    if (safety::geo::check(*p)) (void)safety::geo::in_polygon({0, 0}, *p);
  }
  (void)safety::rollcall::parse_reply(text, "es");
  return 0;
}
