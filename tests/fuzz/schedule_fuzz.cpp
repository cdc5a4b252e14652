// libFuzzer target: what operators type into schedules and campaigns, and what the API passes on
// unchanged: cron expressions (parsed, then their next firings in a zone with daylight saving) and
// segment expressions (compiled to SQL). Errors must say why; nothing may crash or hang.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "schedule/cron.hpp"
#include "schedule/segment.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view text(reinterpret_cast<const char*>(data), size);
  constexpr std::int64_t kNow = 1'774'742'400'000;  // 2026-03-29T00:00:00Z: Europe's spring change
  if (auto cron = schedule::Cron::parse(text)) {
    auto t = kNow;
    for (int i = 0; i < 4; ++i) {
      auto next = cron->next(t, i % 2 ? "America/New_York" : "Europe/Rome");
      if (!next) break;
      if (*next <= t) __builtin_trap();  // always strictly later
      t = *next;
    }
  } else if (cron.error().message.empty()) {
    __builtin_trap();
  }
  auto seg = schedule::compile_segment(text, kNow);
  if (seg) {
    std::size_t marks = 0;
    for (char c : seg->where) marks += c == '?';
    if (marks != seg->binds.size()) __builtin_trap();  // one bound value per placeholder
  } else if (seg.error().message.empty()) {
    __builtin_trap();
  }
  return 0;
}
