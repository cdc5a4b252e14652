// Cron expressions: every field form, the errors with their columns, the day rules, and firings
// across daylight-saving changes checked against a minute-by-minute oracle.
#include <catch2/catch.hpp>

#include <functional>
#include <set>
#include <string>
#include <vector>

#include <date/date.h>
#include <date/tz.h>

#include "core/time.hpp"
#include "schedule/cron.hpp"

using namespace tourbus;
using schedule::Cron;
using timeutil::Millis;

namespace {

Millis utc(std::string_view text) {
  auto r = timeutil::parse_time(text, "UTC");
  REQUIRE(r.ok());
  return *r;
}

Millis local(std::string_view text, std::string_view zone) {
  auto r = timeutil::parse_time(text, zone);
  REQUIRE(r.ok());
  return *r;
}

Cron cron(std::string_view expr) {
  auto r = Cron::parse(expr);
  INFO(expr << ": " << (r.ok() ? "" : r.error().message));
  REQUIRE(r.ok());
  return *r;
}

// The next firing as UTC text, "none" when there is none.
std::string next(std::string_view expr, std::string_view after, std::string_view zone = "UTC") {
  auto n = cron(expr).next(utc(after), zone);
  return n ? timeutil::format_utc(*n) : "none";
}

// Every firing in (from, to), found by chaining next().
std::vector<Millis> firings(const Cron& c, Millis from, Millis to, std::string_view zone) {
  std::vector<Millis> out;
  for (auto n = c.next(from, zone); n && *n < to; n = c.next(*n, zone)) out.push_back(*n);
  return out;
}

std::vector<std::string> firings_utc(std::string_view expr, std::string_view from, std::string_view to,
                                     std::string_view zone = "UTC") {
  std::vector<std::string> out;
  for (auto t : firings(cron(expr), utc(from), utc(to), zone)) out.push_back(timeutil::format_utc(t));
  return out;
}

// Firings during one local calendar day.
std::size_t count_on(std::string_view expr, std::string_view day, std::string_view next_day, std::string_view zone) {
  auto start = local(std::string(day) + "T00:00", zone);
  auto end = local(std::string(next_day) + "T00:00", zone);
  return firings(cron(expr), start - 1, end, zone).size();
}

std::string error(std::string_view expr) {
  auto r = Cron::parse(expr);
  if (r.ok()) return "(parsed)";
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "cron");
  return r.error().message;
}

}  // namespace

TEST_CASE("cron: numbers lists ranges and steps in the minute field") {
  CHECK(firings_utc("5,10-12,*/20 * * * *", "2026-05-04T09:00:00Z", "2026-05-04T10:00:00Z") ==
        std::vector<std::string>{"2026-05-04T09:05:00Z", "2026-05-04T09:10:00Z", "2026-05-04T09:11:00Z",
                                 "2026-05-04T09:12:00Z", "2026-05-04T09:20:00Z", "2026-05-04T09:40:00Z"});
  CHECK(firings_utc("10-50/20 * * * *", "2026-05-04T09:00:00Z", "2026-05-04T10:00:00Z") ==
        std::vector<std::string>{"2026-05-04T09:10:00Z", "2026-05-04T09:30:00Z", "2026-05-04T09:50:00Z"});
  // a/n runs from a to the end of the field.
  CHECK(firings_utc("50/4 * * * *", "2026-05-04T09:00:00Z", "2026-05-04T10:00:00Z") ==
        std::vector<std::string>{"2026-05-04T09:50:00Z", "2026-05-04T09:54:00Z", "2026-05-04T09:58:00Z"});
  CHECK(firings_utc("* * * * *", "2026-05-04T09:00:00Z", "2026-05-04T09:03:00Z") ==
        std::vector<std::string>{"2026-05-04T09:01:00Z", "2026-05-04T09:02:00Z"});
}

TEST_CASE("cron: hours days of the month and months") {
  CHECK(firings_utc("0 */8,13 * * *", "2026-05-04T00:00:00Z", "2026-05-05T00:00:00Z") ==
        std::vector<std::string>{"2026-05-04T08:00:00Z", "2026-05-04T13:00:00Z", "2026-05-04T16:00:00Z"});
  CHECK(firings_utc("30 22/1 * * *", "2026-05-04T12:00:00Z", "2026-05-05T12:00:00Z") ==
        std::vector<std::string>{"2026-05-04T22:30:00Z", "2026-05-04T23:30:00Z"});
  CHECK(firings_utc("0 0 1-10/4,28 * *", "2026-05-01T12:00:00Z", "2026-06-02T00:00:00Z") ==
        std::vector<std::string>{"2026-05-05T00:00:00Z", "2026-05-09T00:00:00Z", "2026-05-28T00:00:00Z",
                                 "2026-06-01T00:00:00Z"});
  CHECK(firings_utc("0 0 1 */5 *", "2026-01-01T00:00:00Z", "2027-01-02T00:00:00Z") ==
        std::vector<std::string>{"2026-06-01T00:00:00Z", "2026-11-01T00:00:00Z", "2027-01-01T00:00:00Z"});
}

TEST_CASE("cron: month and weekday names in any case; 7 is Sunday") {
  CHECK(firings_utc("0 0 1 JAN,mar-May *", "2026-01-01T12:00:00Z", "2027-01-02T00:00:00Z") ==
        std::vector<std::string>{"2026-03-01T00:00:00Z", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z",
                                 "2027-01-01T00:00:00Z"});
  // 2026-05-04 is a Monday.
  CHECK(firings_utc("0 12 * * Mon-fri", "2026-05-02T00:00:00Z", "2026-05-10T00:00:00Z") ==
        std::vector<std::string>{"2026-05-04T12:00:00Z", "2026-05-05T12:00:00Z", "2026-05-06T12:00:00Z",
                                 "2026-05-07T12:00:00Z", "2026-05-08T12:00:00Z"});
  for (auto sunday : {"0 12 * * 0", "0 12 * * 7", "0 12 * * SUN", "0 12 * * sat-7", "0 12 * * 7/1"}) {
    INFO(sunday);
    CHECK(next(sunday, "2026-05-04T00:00:00Z") == (std::string(sunday) == "0 12 * * sat-7"
                                                       ? "2026-05-09T12:00:00Z"
                                                       : "2026-05-10T12:00:00Z"));
  }
  // `*` and a/n on weekdays end at Saturday: 7 would only be Sunday again.
  CHECK(firings_utc("0 0 * * 5/1", "2026-05-04T00:00:00Z", "2026-05-11T00:00:00Z") ==
        std::vector<std::string>{"2026-05-08T00:00:00Z", "2026-05-09T00:00:00Z"});
  CHECK(firings_utc("0 0 * * */3", "2026-05-03T00:00:00Z", "2026-05-11T00:00:00Z") ==
        std::vector<std::string>{"2026-05-06T00:00:00Z", "2026-05-09T00:00:00Z", "2026-05-10T00:00:00Z"});
}

TEST_CASE("cron: macros") {
  CHECK(next("@yearly", "2026-05-04T09:00:00Z") == "2027-01-01T00:00:00Z");
  CHECK(next("@annually", "2026-05-04T09:00:00Z") == "2027-01-01T00:00:00Z");
  CHECK(next("@monthly", "2026-05-04T09:00:00Z") == "2026-06-01T00:00:00Z");
  CHECK(next("@weekly", "2026-05-04T09:00:00Z") == "2026-05-10T00:00:00Z");
  CHECK(next("@daily", "2026-05-04T09:00:00Z") == "2026-05-05T00:00:00Z");
  CHECK(next("@midnight", "2026-05-04T09:00:00Z") == "2026-05-05T00:00:00Z");
  CHECK(next("@hourly", "2026-05-04T09:00:00Z") == "2026-05-04T10:00:00Z");
  CHECK(next("@Daily", "2026-05-04T09:00:00Z") == "2026-05-05T00:00:00Z");
  CHECK(cron("  @daily\t").text() == "@daily");
  // @hourly is an hourly job: it follows real time through the autumn change.
  CHECK(count_on("@hourly", "2026-10-25", "2026-10-26", "Europe/Rome") == 25);
}

TEST_CASE("cron: text() is the expression without surrounding white space") {
  CHECK(cron(" \t0  9 * *\tmon \n").text() == "0  9 * *\tmon");
  CHECK(next(" \t0  9 * *\tmon \n", "2026-05-04T10:00:00Z") == "2026-05-11T09:00:00Z");
}

TEST_CASE("cron: errors name the column of the offending character") {
  struct Case {
    std::string_view expr, message;
  };
  const Case cases[] = {
      // values out of range, in every field
      {"1,2,3,61 * * * *", "cron: at column 7: 61 is not a minute (0-59)"},
      {"0 24 * * *", "cron: at column 3: 24 is not an hour (0-23)"},
      {"0 0 0 * *", "cron: at column 5: 0 is not a day of the month (1-31)"},
      {"0 0 1-32 * *", "cron: at column 7: 32 is not a day of the month (1-31)"},
      {"0 0 * 13 *", "cron: at column 7: 13 is not a month (1-12 or jan-dec)"},
      {"0 0 * * 8", "cron: at column 9: 8 is not a day of the week (0-7 or sun-sat)"},
      {"99999999999999999999 * * * *", "cron: at column 1: 99999999999999999999 is not a minute (0-59)"},
      // names: only where the field has them, three letters
      {"0 0 * foo *", "cron: at column 7: 'foo' is not a month (1-12 or jan-dec)"},
      {"0 0 * * monday", "cron: at column 9: 'monday' is not a day of the week (0-7 or sun-sat)"},
      {"0 0 * * jan", "cron: at column 9: 'jan' is not a day of the week (0-7 or sun-sat)"},
      {"a * * * *", "cron: at column 1: 'a' is not a minute (0-59)"},
      {"0 0 L * *", "cron: at column 5: 'L' is not a day of the month (1-31)"},
      // reversed ranges
      {"5-1 * * * *", "cron: at column 1: range 5-1 is reversed (ranges do not wrap)"},
      {"0 0 * * fri-mon", "cron: at column 9: range fri-mon is reversed (ranges do not wrap)"},
      // steps
      {"*/0 * * * *", "cron: at column 3: 0 is not a step (1-60)"},
      {"*/61 * * * *", "cron: at column 3: 61 is not a step (1-60)"},
      {"0 1-5/25 * * *", "cron: at column 7: 25 is not a step (1-24)"},
      {"0 0 * * */8", "cron: at column 11: 8 is not a step (1-7)"},
      {"*/ * * * *", "cron: at column 3: expected a step after '/'"},
      {"*/x * * * *", "cron: at column 3: unexpected character 'x'"},
      {"5/1/2 * * * *", "cron: at column 4: unexpected character '/'"},
      // empty list items: the column of the comma beside the gap
      {",1 * * * *", "cron: at column 1: empty list item"},
      {"1,,2 * * * *", "cron: at column 3: empty list item"},
      {"0 1, * * *", "cron: at column 4: empty list item"},
      // junk
      {"1x * * * *", "cron: at column 2: unexpected character 'x'"},
      {"*5 * * * *", "cron: at column 2: unexpected character '5'"},
      {"0 0 ? * *", "cron: at column 5: unexpected character '?'"},
      {"0 0 * * 1#2", "cron: at column 10: unexpected character '#'"},
      {"1-* * * * *", "cron: at column 3: unexpected character '*'"},
      {"5- * * * *", "cron: at column 3: expected a value after '-'"},
      {std::string_view("0\x01 * * * *", 10), "cron: at column 2: unexpected byte 0x01"},
      // columns count in the expression as given, leading white space included
      {"  61 * * * *", "cron: at column 3: 61 is not a minute (0-59)"},
      // field counts
      {"0 0 * *", "cron: expected 5 fields, got 4"},
      {"0 0 * * * *", "cron: expected 5 fields, got 6"},
      {"0 0 * * * /bin/true", "cron: expected 5 fields, got 6"},
      {"", "cron: expected 5 fields, got 0"},
      {" \t ", "cron: expected 5 fields, got 0"},
      // macros
      {"@reboot", "cron: at column 1: @reboot is not supported"},
      {"@often", "cron: at column 1: @often is not a known macro (@yearly, @annually, @monthly, @weekly, @daily, "
                 "@midnight, @hourly)"},
      {"@daily 5", "cron: at column 8: unexpected text after @daily"},
  };
  for (const auto& c : cases) {
    INFO(c.expr);
    CHECK(error(c.expr) == c.message);
  }
}

TEST_CASE("cron: days a month lacks are skipped and not moved") {
  CHECK(firings_utc("0 0 31 * *", "2026-01-01T00:00:00Z", "2026-09-01T00:00:00Z") ==
        std::vector<std::string>{"2026-01-31T00:00:00Z", "2026-03-31T00:00:00Z", "2026-05-31T00:00:00Z",
                                 "2026-07-31T00:00:00Z", "2026-08-31T00:00:00Z"});
  CHECK(next("0 12 29 2 *", "2026-01-01T00:00:00Z") == "2028-02-29T12:00:00Z");
  CHECK(next("0 12 29 2 *", "2028-02-29T12:00:00Z") == "2032-02-29T12:00:00Z");
  CHECK(next("0 12 29 feb *", "2028-02-29T11:59:59.999Z") == "2028-02-29T12:00:00Z");
}

TEST_CASE("cron: nothing within five years is nothing") {
  CHECK(next("0 0 30 2 *", "2026-01-01T00:00:00Z") == "none");
  CHECK(next("0 0 31 4,6,9,11 *", "2026-01-01T00:00:00Z", "Europe/Rome") == "none");
  CHECK(next("0 0 30 2 *", "2026-01-01T00:00:00Z", "Europe/Rome") == "none");  // real time and fixed walks
  CHECK(next("* * 30 2 *", "2026-01-01T00:00:00Z", "America/New_York") == "none");
}

TEST_CASE("cron: both day fields restricted means either one; a `*` leaves the other alone") {
  // April 2026: Fridays are the 3rd, 10th, 17th, 24th; the 13th is a Monday.
  CHECK(firings_utc("0 9 13 * fri", "2026-04-01T00:00:00Z", "2026-05-02T00:00:00Z") ==
        std::vector<std::string>{"2026-04-03T09:00:00Z", "2026-04-10T09:00:00Z", "2026-04-13T09:00:00Z",
                                 "2026-04-17T09:00:00Z", "2026-04-24T09:00:00Z", "2026-05-01T09:00:00Z"});
  CHECK(firings_utc("0 9 13 * *", "2026-04-01T00:00:00Z", "2026-05-02T00:00:00Z") ==
        std::vector<std::string>{"2026-04-13T09:00:00Z"});
  CHECK(firings_utc("0 9 * * fri", "2026-04-01T00:00:00Z", "2026-04-12T00:00:00Z") ==
        std::vector<std::string>{"2026-04-03T09:00:00Z", "2026-04-10T09:00:00Z"});
  // As in cronie, `*/n` counts as `*`: a day must match both (Mondays on odd days).
  CHECK(firings_utc("0 0 */2 * mon", "2026-04-01T00:00:00Z", "2026-05-01T00:00:00Z") ==
        std::vector<std::string>{"2026-04-13T00:00:00Z", "2026-04-27T00:00:00Z"});
  // ... while a list with `*` in it is restricted: either one.
  CHECK(firings_utc("0 0 1,* * mon", "2026-03-31T12:00:00Z", "2026-04-04T00:00:00Z").size() == 3);
}

TEST_CASE("cron: `after` is exclusive and may be between minutes") {
  CHECK(next("0 9 * * *", "2026-05-04T09:00:00Z") == "2026-05-05T09:00:00Z");
  CHECK(next("0 9 * * *", "2026-05-04T08:59:59.999Z") == "2026-05-04T09:00:00Z");
  CHECK(next("* * * * *", "2026-05-04T09:00:00.500Z") == "2026-05-04T09:01:00Z");
  CHECK(next("59 23 31 12 *", "2026-12-31T23:59:00Z") == "2027-12-31T23:59:00Z");
}

TEST_CASE("cron: wall-clock time in the zone") {
  CHECK(next("0 9 * * *", "2026-12-01T00:00:00Z", "Europe/Rome") == "2026-12-01T08:00:00Z");  // CET
  CHECK(next("0 9 * * *", "2026-07-01T00:00:00Z", "Europe/Rome") == "2026-07-01T07:00:00Z");  // CEST
  CHECK(next("0 9 * * *", "2026-07-01T00:00:00Z", "Asia/Kolkata") == "2026-07-01T03:30:00Z");
  // A day boundary in the zone, not in UTC: Monday 00:30 in Tokyo is Sunday in UTC.
  CHECK(next("30 0 * * mon", "2026-05-01T00:00:00Z", "Asia/Tokyo") == "2026-05-03T15:30:00Z");
  // A zone the database does not know is read as UTC.
  CHECK(next("0 9 * * *", "2026-12-01T00:00:00Z", "Nowhere/City") == "2026-12-01T09:00:00Z");
  CHECK(next("0 9 * * *", "2026-12-01T00:00:00Z", "") == "2026-12-01T09:00:00Z");
}

TEST_CASE("cron: Europe/Rome spring forward 2026-03-29 02:00 to 03:00") {
  const std::string_view rome = "Europe/Rome";
  // A fixed-time job in the gap runs once, when the gap ends: 03:00 CEST.
  CHECK(next("30 2 * * *", "2026-03-28T12:00:00Z", rome) == "2026-03-29T01:00:00Z");
  CHECK(*cron("30 2 * * *").next(utc("2026-03-28T12:00:00Z"), rome) == local("2026-03-29T03:00:00+02:00", "UTC"));
  CHECK(next("30 2 * * *", "2026-03-29T01:00:00Z", rome) == "2026-03-30T00:30:00Z");
  // Several matching times in one gap still give one firing; so does a whole hour of minutes.
  CHECK(firings_utc("0,30 2 * * *", "2026-03-28T12:00:00Z", "2026-03-30T12:00:00Z", rome) ==
        std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-30T00:00:00Z", "2026-03-30T00:30:00Z"});
  CHECK(count_on("* 2 * * *", "2026-03-29", "2026-03-30", rome) == 1);
  // A job at 03:00 and the gap's catch-up are the same instant: one firing.
  CHECK(firings_utc("30 2,3 * * *", "2026-03-28T23:00:00Z", "2026-03-29T22:00:00Z", rome) ==
        std::vector<std::string>{"2026-03-29T01:00:00Z", "2026-03-29T01:30:00Z"});
  // Real-time jobs skip the hour that does not exist.
  CHECK(count_on("0 * * * *", "2026-03-29", "2026-03-30", rome) == 23);
  CHECK(count_on("*/30 * * * *", "2026-03-29", "2026-03-30", rome) == 46);
  CHECK(count_on("30 */2 * * *", "2026-03-29", "2026-03-30", rome) == 11);  // 02:30 is skipped
  CHECK(firings_utc("0 * * * *", "2026-03-28T23:30:00Z", "2026-03-29T02:30:00Z", rome) ==
        std::vector<std::string>{"2026-03-29T00:00:00Z", "2026-03-29T01:00:00Z", "2026-03-29T02:00:00Z"});
}

TEST_CASE("cron: Europe/Rome fall back 2026-10-25 03:00 to 02:00") {
  const std::string_view rome = "Europe/Rome";
  // A fixed-time job in the repeated hour runs once, on the first (CEST) pass.
  CHECK(next("30 2 * * *", "2026-10-24T12:00:00Z", rome) == "2026-10-25T00:30:00Z");
  CHECK(*cron("30 2 * * *").next(utc("2026-10-24T12:00:00Z"), rome) == local("2026-10-25T02:30:00+02:00", "UTC"));
  CHECK(next("30 2 * * *", "2026-10-25T00:30:00Z", rome) == "2026-10-26T01:30:00Z");
  // Asked during the second pass, it has run already.
  CHECK(next("30 2 * * *", "2026-10-25T01:10:00Z", rome) == "2026-10-26T01:30:00Z");
  CHECK(count_on("* 2 * * *", "2026-10-25", "2026-10-26", rome) == 60);
  // Real-time jobs run on both passes.
  CHECK(count_on("0 * * * *", "2026-10-25", "2026-10-26", rome) == 25);
  CHECK(count_on("*/30 * * * *", "2026-10-25", "2026-10-26", rome) == 50);
  CHECK(firings_utc("*/30 * * * *", "2026-10-24T23:45:00Z", "2026-10-25T02:15:00Z", rome) ==
        std::vector<std::string>{"2026-10-25T00:00:00Z", "2026-10-25T00:30:00Z", "2026-10-25T01:00:00Z",
                                 "2026-10-25T01:30:00Z", "2026-10-25T02:00:00Z"});
  CHECK(count_on("15 2 * * *", "2026-10-25", "2026-10-26", rome) == 1);
  CHECK(count_on("15 * * * *", "2026-10-25", "2026-10-26", rome) == 25);
}

TEST_CASE("cron: America/New_York spring forward 2026-03-08 02:00 to 03:00") {
  const std::string_view ny = "America/New_York";
  CHECK(next("30 2 * * *", "2026-03-07T12:00:00Z", ny) == "2026-03-08T07:00:00Z");  // 03:00 EDT
  CHECK(*cron("30 2 * * *").next(utc("2026-03-07T12:00:00Z"), ny) == local("2026-03-08T03:00:00-04:00", "UTC"));
  CHECK(next("30 2 * * *", "2026-03-08T07:00:00Z", ny) == "2026-03-09T06:30:00Z");
  CHECK(count_on("0,30 2 * * *", "2026-03-08", "2026-03-09", ny) == 1);
  CHECK(count_on("0 * * * *", "2026-03-08", "2026-03-09", ny) == 23);
  CHECK(count_on("*/30 * * * *", "2026-03-08", "2026-03-09", ny) == 46);
}

TEST_CASE("cron: America/New_York fall back 2026-11-01 02:00 to 01:00") {
  const std::string_view ny = "America/New_York";
  CHECK(next("30 1 * * *", "2026-10-31T12:00:00Z", ny) == "2026-11-01T05:30:00Z");  // 01:30 EDT
  CHECK(*cron("30 1 * * *").next(utc("2026-10-31T12:00:00Z"), ny) == local("2026-11-01T01:30:00-04:00", "UTC"));
  CHECK(next("30 1 * * *", "2026-11-01T05:30:00Z", ny) == "2026-11-02T06:30:00Z");
  CHECK(count_on("30 1 * * *", "2026-11-01", "2026-11-02", ny) == 1);
  CHECK(count_on("0 * * * *", "2026-11-01", "2026-11-02", ny) == 25);
  CHECK(count_on("*/30 * * * *", "2026-11-01", "2026-11-02", ny) == 50);
  CHECK(firings_utc("0 * * * *", "2026-11-01T04:30:00Z", "2026-11-01T07:30:00Z", ny) ==
        std::vector<std::string>{"2026-11-01T05:00:00Z", "2026-11-01T06:00:00Z", "2026-11-01T07:00:00Z"});
}

// The oracle: every local minute around each change of 2026, mapped to instants by the rules in
// cron.hpp, one at a time. Chaining next() must give exactly these: no duplicates, no skips.
TEST_CASE("cron: chained next() matches a minute-by-minute oracle across every 2026 change") {
  struct Case {
    std::string_view expr;
    bool real_time;  // the hour field is `*`
    std::function<bool(int hour, int minute, unsigned day, unsigned weekday)> match;
  };
  const Case cases[] = {
      {"0 * * * *", true, [](int, int m, unsigned, unsigned) { return m == 0; }},
      {"*/30 * * * *", true, [](int, int m, unsigned, unsigned) { return m % 30 == 0; }},
      {"*/7 * * * *", true, [](int, int m, unsigned, unsigned) { return m % 7 == 0; }},
      {"45 */2 * * *", true, [](int h, int m, unsigned, unsigned) { return m == 45 && h % 2 == 0; }},
      {"30 2 * * *", false, [](int h, int m, unsigned, unsigned) { return h == 2 && m == 30; }},
      {"0,30 2 * * *", false, [](int h, int m, unsigned, unsigned) { return h == 2 && m % 30 == 0; }},
      {"* 1-3 * * *", false, [](int h, int, unsigned, unsigned) { return h >= 1 && h <= 3; }},
      {"10 0,1,2,3 * * *", false, [](int h, int m, unsigned, unsigned) { return h <= 3 && m == 10; }},
      {"0 0 * * *", false, [](int h, int m, unsigned, unsigned) { return h == 0 && m == 0; }},
      {"*/15 2 * * sun", false, [](int h, int m, unsigned, unsigned wd) { return h == 2 && m % 15 == 0 && wd == 0; }},
  };
  for (std::string_view zone : {"Europe/Rome", "America/New_York", "Australia/Lord_Howe", "America/Santiago"}) {
    const auto* z = date::locate_zone(zone);
    auto t = date::sys_seconds{date::sys_days{date::year{2026} / 1 / 1}};
    for (int change = 0; change < 2; ++change) {
      auto info = z->get_info(t);
      t = info.end;  // a change of offset
      auto lo = date::floor<std::chrono::minutes>(z->to_local(t)) - date::days{2};
      auto hi = lo + date::days{4};
      for (const auto& c : cases) {
        INFO(zone << " " << c.expr << " around " << timeutil::format_utc(t.time_since_epoch().count() * 1000));
        std::set<Millis> want;
        auto add = [&](date::sys_seconds s) { want.insert(s.time_since_epoch().count() * 1000); };
        for (auto l = lo; l < hi; l += std::chrono::minutes{1}) {
          auto day = date::floor<date::days>(l);
          date::hh_mm_ss hms{l - day};
          date::year_month_day ymd{day};
          if (!c.match(static_cast<int>(hms.hours().count()), static_cast<int>(hms.minutes().count()),
                       static_cast<unsigned>(ymd.day()), date::weekday{day}.c_encoding()))
            continue;
          auto li = z->get_info(date::local_seconds{l});
          auto as_sys = [&](const date::sys_info& i) { return date::sys_seconds{l.time_since_epoch()} - i.offset; };
          if (li.result == date::local_info::unique) {
            add(as_sys(li.first));
          } else if (li.result == date::local_info::ambiguous) {
            add(as_sys(li.first));
            if (c.real_time) add(as_sys(li.second));
          } else if (!c.real_time) {
            add(li.second.begin);
          }
        }
        auto start = z->to_sys(lo, date::choose::earliest).time_since_epoch().count() * 1000;
        auto end = z->to_sys(hi, date::choose::earliest).time_since_epoch().count() * 1000;
        std::vector<Millis> expected;
        for (auto w : want)
          if (w > start && w < end) expected.push_back(w);
        CHECK_FALSE(expected.empty());
        auto got = firings(cron(c.expr), start, end, zone);
        CHECK(got == expected);
      }
    }
  }
}
