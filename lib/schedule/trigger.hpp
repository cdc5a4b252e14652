// What starts a schedule (a cron expression, one instant, a tour's start or end with an offset, or a
// platform event) and who it reaches; both are stored as JSON in the schedules table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include <boost/json/object.hpp>

#include "core/error.hpp"
#include "core/time.hpp"

namespace tourbus::schedule {

using timeutil::Millis;

struct Trigger {
  enum class Kind { cron, at, tour, event };
  Kind kind = Kind::at;
  std::string cron, zone;     // cron: the expression and the IANA zone it is read in
  Millis at = 0;              // at: the instant
  std::string anchor;         // tour: "start" or "end"
  Millis offset_ms = 0;       // tour: added to the anchor (negative: before); event: the delay
  int nudges = 0;             // review requests: further messages after the first,
  Millis every_ms = 0;        //   this far apart
  std::string event;          // event: the platform event type ("booking.confirmed")

  boost::json::object to_json() const;
  static Result<Trigger> from_json(const boost::json::object& o);
  // For listings: "cron 0 9 * * mon (Europe/Rome)", "at 2026-12-24T09:00:00Z", "start-24h",
  // "event booking.confirmed +10m".
  std::string describe() const;
};

// Who a schedule reaches. Exactly one is set.
struct Audience {
  std::optional<std::string> user;     // a handle
  std::optional<std::int64_t> tour;    // one tour's participants
  bool all_tours = false;              // every tour's participants (tour-relative triggers)
  std::optional<std::string> role;     // everyone with a role
  std::optional<std::string> segment;  // a segment expression (docs/schedules.md)
  std::optional<std::string> event;    // rules: "user" (the event's user), "tour" (its tour's participants), "guide"

  boost::json::object to_json() const;
  static Audience from_json(const boost::json::object& o);
  std::string describe() const;
};

// "90s", "15m", "24h", "3d", "2w", "1d12h": a positive duration. Errors name `field`.
Result<Millis> parse_duration(std::string_view text, std::string_view field);
// The largest units that divide it: 86400000 -> "1d", 5400000 -> "1h30m".
std::string format_duration(Millis ms);
// "start-24h", "end+2h", "start" (anchor and signed offset). Errors name `field`.
Result<Trigger> parse_tour_offset(std::string_view text, std::string_view field);

}  // namespace tourbus::schedule
