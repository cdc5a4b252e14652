#include "core/time.hpp"

#include <chrono>
#include <regex>
#include <sstream>

#include <date/date.h>
#include <date/tz.h>

namespace tourbus::timeutil {
namespace {

using namespace std::chrono;
using sys_ms = time_point<system_clock, milliseconds>;

const date::time_zone* find_zone(std::string_view zone) {
  // Zone names are looked up in the database's own index, never used as a path.
  if (zone.empty() || zone.size() > 64) return nullptr;
  try {
    return date::locate_zone(zone);
  } catch (const std::exception&) {
    return nullptr;
  }
}

}  // namespace

Millis now_ms() { return duration_cast<milliseconds>(system_clock::now().time_since_epoch()).count(); }

std::string format_utc(Millis t) {
  sys_ms tp{milliseconds(t)};
  auto day = floor<date::days>(tp);
  date::year_month_day ymd{day};
  int year = static_cast<int>(ymd.year());
  if (year < 0 || year > 9999) {  // outside what four digits hold: the general formatter
    if (t % 1000 == 0) return date::format("%FT%TZ", floor<seconds>(tp));
    return date::format("%FT%TZ", tp);
  }
  // By hand: this runs for every timestamp of every message and push.
  auto ms = (tp - day).count();  // milliseconds into the day
  auto two = [](char* at, long v) {
    at[0] = static_cast<char>('0' + v / 10);
    at[1] = static_cast<char>('0' + v % 10);
  };
  char out[25] = "0000-00-00T00:00:00.000Z";
  two(out, year / 100);
  two(out + 2, year % 100);
  two(out + 5, static_cast<unsigned>(ymd.month()));
  two(out + 8, static_cast<unsigned>(ymd.day()));
  two(out + 11, ms / 3'600'000);
  two(out + 14, ms / 60'000 % 60);
  two(out + 17, ms / 1000 % 60);
  if (ms % 1000 == 0) {
    out[19] = 'Z';
    return std::string(out, 20);
  }
  out[20] = static_cast<char>('0' + ms % 1000 / 100);
  two(out + 21, ms % 100);
  out[23] = 'Z';
  return std::string(out, 24);
}

std::string format_local(Millis t, std::string_view zone) {
  const auto* z = find_zone(zone);
  if (!z) return format_utc(t);
  auto zt = date::make_zoned(z, floor<seconds>(sys_ms{milliseconds(t)}));
  auto s = date::format("%FT%T%z", zt);  // +0100
  if (s.size() >= 5) s.insert(s.size() - 2, ":");
  return s;
}

std::string format_wall(Millis t, std::string_view zone) {
  const auto* z = find_zone(zone);
  auto tp = floor<minutes>(sys_ms{milliseconds(t)});
  if (!z) return date::format("%a %F %H:%M UTC", tp);
  return date::format("%a %F %H:%M %Z", date::make_zoned(z, tp));
}

bool valid_zone(std::string_view zone) { return find_zone(zone) != nullptr; }

Result<Millis> parse_time(std::string_view text, std::string_view zone) {
  auto bad = [&] {
    return Error(Code::invalid_argument,
                 "'" + std::string(text) + "' is not a time: use RFC 3339 (2026-12-01T09:00:00+01:00) or local 2026-12-01T09:00");
  };
  if (text.size() < 16 || text.size() > 40) return bad();
  std::string s(text);
  if (s[10] == ' ') s[10] = 'T';
  // The shape first (RFC 3339: offset hours 00-23), then the calendar through date::parse.
  static const std::regex shape(R"(^\d{4}-\d\d-\d\dT\d\d:\d\d(:\d\d(\.\d{1,9})?)?([Zz]|[+-]([01]\d|2[0-3]):[0-5]\d)?$)");
  if (!std::regex_match(s, shape)) return bad();

  // With an explicit offset or Z.
  for (const char* fmt : {"%FT%T%Ez", "%FT%R%Ez"}) {
    std::istringstream in(s);
    sys_ms tp;
    in >> date::parse(fmt, tp);
    if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return tp.time_since_epoch().count();
  }
  if (s.back() == 'Z' || s.back() == 'z') {
    std::string body = s.substr(0, s.size() - 1);
    for (const char* fmt : {"%FT%T", "%FT%R"}) {
      std::istringstream in(body);
      sys_ms tp;
      in >> date::parse(fmt, tp);
      if (!in.fail() && in.peek() == std::char_traits<char>::eof()) return tp.time_since_epoch().count();
    }
    return bad();
  }
  // Local time in the zone.
  const auto* z = find_zone(zone);
  if (!z) return Error(Code::invalid_argument, "unknown IANA time zone '" + std::string(zone) + "'");
  for (const char* fmt : {"%FT%T", "%FT%R"}) {
    std::istringstream in(s);
    date::local_time<milliseconds> lt;
    in >> date::parse(fmt, lt);
    if (in.fail() || in.peek() != std::char_traits<char>::eof()) continue;
    auto info = z->get_info(lt);
    if (info.result == date::local_info::nonexistent)
      return Error(Code::invalid_argument, "'" + std::string(text) + "' does not exist in " + std::string(zone) + " (clocks go forward)");
    auto sys = z->to_sys(lt, date::choose::earliest);
    return sys.time_since_epoch().count();
  }
  return bad();
}

std::optional<Millis> quiet_until(Millis t, std::string_view zone, int start, int end) {
  if (start == end) return std::nullopt;
  const auto* z = find_zone(zone);
  if (!z) z = date::locate_zone("UTC");
  auto local = z->to_local(sys_ms{milliseconds(t)});
  auto day = floor<date::days>(local);
  int minute = static_cast<int>(duration_cast<minutes>(local - day).count());
  bool inside = start < end ? (minute >= start && minute < end) : (minute >= start || minute < end);
  if (!inside) return std::nullopt;
  // The end is today, or tomorrow when the period wraps and we are before midnight.
  auto end_day = (start > end && minute >= start) ? day + date::days(1) : day;
  date::local_time<milliseconds> ends{duration_cast<milliseconds>((end_day + minutes(end)).time_since_epoch())};
  // A DST gap at the end time: the end is the moment the clocks jump.
  return z->to_sys(ends, date::choose::earliest).time_since_epoch().count();
}

}  // namespace tourbus::timeutil
