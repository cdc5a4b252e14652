// Cron expressions: parsing the five-field (Vixie/cronie) syntax and finding the next firing in an
// IANA time zone, daylight-saving changes included.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/time.hpp"

namespace tourbus::schedule {

// A parsed cron expression: immutable, cheap to copy, safe to share between threads.
//
// Syntax: "minute hour day-of-month month day-of-week", fields separated by spaces or tabs.
//   minute 0-59, hour 0-23, day of month 1-31, month 1-12 or jan-dec, day of week 0-7 or sun-sat
//   (0 and 7 are both Sunday; names are three letters, any case). Each field is a list of items
//   separated by ',': `*`, a value `a`, a range `a-b`, or any of those with a step: `*/n`, `a-b/n`,
//   `a/n` (from a to the field's maximum; Saturday for the day of week). A step runs from 1 to the
//   field's size (60 for minutes, 24, 31, 12, 7). Ranges do not wrap: `fri-mon` is an error.
//   Macros: @yearly = @annually = "0 0 1 1 *", @monthly = "0 0 1 * *", @weekly = "0 0 * * 0",
//   @daily = @midnight = "0 0 * * *", @hourly = "0 * * * *". @reboot is not supported.
//
// Days, as in cronie: a field "is `*`" when it is `*` or `*/n` alone. When neither day field is
//   `*`, a day matches if EITHER matches ("0 9 13 * fri": the 13th and every Friday); otherwise a
//   day must match both, so a `*` field leaves the other one alone to decide ("0 0 */2 * mon": the
//   Mondays that fall on an odd day, as in cronie). A day that a month lacks (the 31st, Feb 29) is
//   simply not in that month: "0 0 31 * *" fires in January, March, May, ...
//
// Daylight saving (cronie's rule, keyed on the hour field alone; cronie also counts a `*` minute):
//   - hour field `*` (or `*/n`): the job follows real time. Local times that do not exist (the
//     spring-forward gap) do not run; a local time that occurs twice on a fall-back day runs on
//     both passes, so an hourly job runs every real hour (23 on the spring day, 25 in autumn).
//   - hour field restricted (a fixed-time job): a matching local time inside a spring-forward gap
//     runs once, at the instant the gap ends (all the matching times in one gap give that one
//     firing); a matching local time that occurs twice runs once, at its first (daylight-time)
//     occurrence.
class Cron {
 public:
  // Errors: Code::invalid_argument with field "cron" and a message naming the 1-based column (in
  // `expr` as given) of the offending character: "cron: at column 7: 61 is not a minute (0-59)",
  // "cron: expected 5 fields, got 4", "cron: at column 1: @reboot is not supported".
  static Result<Cron> parse(std::string_view expr);

  // The first firing strictly after `after`, reading the expression as wall-clock time in `zone`.
  // The caller validates zones; one the OS database does not know is read as UTC. Nothing when
  // the expression does not fire within five years (1,827 days) of `after` ("0 0 30 2 *").
  // Cost: a walk over matching days and, within a day, matching hours and minutes, with a few
  // zone look-ups; never a minute-by-minute scan.
  std::optional<timeutil::Millis> next(timeutil::Millis after, std::string_view zone) const;

  // The expression as given, without surrounding white space.
  const std::string& text() const { return text_; }

 private:
  Cron() = default;

  // The first matching local minute in [from, limit), in minutes since the local epoch.
  std::optional<std::int64_t> next_local(std::int64_t from, std::int64_t limit) const;
  // The first matching day in [day, last] of one month, or 0; `weekday` is that of `day`.
  unsigned first_day(unsigned day, unsigned last, unsigned weekday) const;
  // The first matching minute of the day at or after `minute` (0-1439), or -1.
  int first_minute(int minute) const;

  std::string text_;
  std::uint64_t minutes_ = 0;   // bit m: minute m
  std::uint32_t hours_ = 0;     // bit h: hour h
  std::uint32_t days_ = 0;      // bit d: day of the month d (1-31)
  std::uint16_t months_ = 0;    // bit m: month m (1-12)
  std::uint8_t weekdays_ = 0;   // bit w: weekday w, 0 = Sunday
  bool dom_star_ = false;       // the day-of-month field is `*` or `*/n`
  bool dow_star_ = false;       // the day-of-week field is `*` or `*/n`
  bool hour_star_ = false;      // the hour field is `*` or `*/n`: the job follows real time
};

}  // namespace tourbus::schedule
