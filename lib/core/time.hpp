// Time: UTC inside (milliseconds since the epoch), local at the edges (IANA zones via the OS tzdb).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tourbus::timeutil {

using Millis = std::int64_t;

Millis now_ms();
// "2026-12-01T08:00:00Z" (milliseconds only when non-zero).
std::string format_utc(Millis t);
// The same instant in a zone, with its offset: "2026-12-01T09:00:00+01:00".
std::string format_local(Millis t, std::string_view zone);
// For people, in a zone: "Sun 2026-12-06 09:00 CET" (minutes; weekday and zone abbreviation in English).
std::string format_wall(Millis t, std::string_view zone);
// True when the OS time zone database knows the zone.
bool valid_zone(std::string_view zone);
// Parses RFC 3339 with an offset or Z, or a local "YYYY-MM-DDTHH:MM[:SS]" (a space may replace T)
// read in `zone`. Local times that do not exist (DST gap) are errors; ambiguous ones take the earlier.
Result<Millis> parse_time(std::string_view text, std::string_view zone);

// Quiet hours [start, end) in minutes after local midnight (start > end wraps past midnight;
// start == end is no quiet period). When `t` falls inside them in `zone`, the instant they end;
// otherwise nothing. An unknown zone is read as UTC.
std::optional<Millis> quiet_until(Millis t, std::string_view zone, int start, int end);

}  // namespace tourbus::timeutil
