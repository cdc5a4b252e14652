// libFuzzer target: the config loader on arbitrary TOML text: syntax, key names, types, ranges
// and the cross-key checks, with errors naming the line (never a crash).
#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/config.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  auto r = config::parse_text(std::string_view(reinterpret_cast<const char*>(data), size), "fuzz.toml");
  if (!r && r.error().message.empty()) __builtin_trap();  // every refusal says why
  return 0;
}
