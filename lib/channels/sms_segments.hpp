// How an SMS text is encoded and into how many parts it is split.
#pragma once

#include <cstdint>
#include <string_view>

namespace tourbus::channels {

struct Segments {
  bool ucs2 = false;         // false: GSM-7 (3GPP TS 23.038 default alphabet and extension table)
  std::int64_t units = 0;    // GSM-7 septets (extension characters count 2) or UTF-16 code units
  std::int64_t segments = 0;
};

Segments count_segments(std::string_view utf8);

}  // namespace tourbus::channels
