// Cron expressions: the parser (with column-exact errors) and the next-firing walk over local days,
// converted to UTC through the OS time zone database.
#include "schedule/cron.hpp"

#include <algorithm>
#include <array>
#include <bit>
#include <chrono>
#include <cstdio>
#include <exception>

#include <date/date.h>
#include <date/tz.h>

namespace tourbus::schedule {
namespace {

using namespace std::chrono;
using timeutil::Millis;

// What one field accepts, and how to say so in an error.
struct Field {
  std::string_view noun;   // "a minute"
  std::string_view range;  // "0-59"
  int lo, hi;              // accepted values
  int star_hi;             // where `*` and `a/n` end: 6 for weekdays, 7 is only Sunday's other name
  const std::string_view* names = nullptr;  // names[i] is value i + name_base
  int name_count = 0, name_base = 0;
};

constexpr std::string_view month_names[] = {"jan", "feb", "mar", "apr", "may", "jun",
                                            "jul", "aug", "sep", "oct", "nov", "dec"};
constexpr std::string_view weekday_names[] = {"sun", "mon", "tue", "wed", "thu", "fri", "sat"};

constexpr std::array<Field, 5> fields{{
    {"a minute", "0-59", 0, 59, 59},
    {"an hour", "0-23", 0, 23, 23},
    {"a day of the month", "1-31", 1, 31, 31},
    {"a month", "1-12 or jan-dec", 1, 12, 12, month_names, 12, 1},
    {"a day of the week", "0-7 or sun-sat", 0, 7, 6, weekday_names, 7, 0},
}};

struct Macro {
  std::string_view name, fields;
};
constexpr Macro macros[] = {
    {"@yearly", "0 0 1 1 *"},  {"@annually", "0 0 1 1 *"}, {"@monthly", "0 0 1 * *"},
    {"@weekly", "0 0 * * 0"},  {"@daily", "0 0 * * *"},    {"@midnight", "0 0 * * *"},
    {"@hourly", "0 * * * *"},
};

// Five calendar years hold at most two leap days.
constexpr date::days horizon{5 * 365 + 2};

bool is_blank(char c) { return c == ' ' || c == '\t'; }
bool is_space(char c) { return is_blank(c) || c == '\n' || c == '\r' || c == '\v' || c == '\f'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

bool same_lower(std::string_view a, std::string_view b) {
  if (a.size() != b.size()) return false;
  for (std::size_t i = 0; i < a.size(); ++i)
    if (lower(a[i]) != b[i]) return false;
  return true;
}

Error fail(std::size_t at, const std::string& what) {
  return Error(Code::invalid_argument, "cron: at column " + std::to_string(at + 1) + ": " + what, "cron");
}

std::string unexpected(char c) {
  if (c >= 0x20 && c < 0x7f) return std::string("unexpected character '") + c + "'";
  char hex[8];
  std::snprintf(hex, sizeof hex, "0x%02x", static_cast<unsigned char>(c));
  return std::string("unexpected byte ") + hex;
}

// Reads one field, expr[begin, end), into a bit set; positions stay those of `expr` for columns.
class FieldParser {
 public:
  FieldParser(std::string_view expr, std::size_t begin, std::size_t end, const Field& field)
      : s_(expr), i_(begin), end_(end), f_(field) {}

  Result<std::uint64_t> parse() {
    std::uint64_t bits = 0;
    for (;;) {
      if (i_ == end_ || s_[i_] == ',')  // point at the comma that borders the empty item
        return fail(i_ == end_ ? i_ - 1 : i_, "empty list item");
      std::size_t item = i_;
      int a = 0, b = 0;
      bool single = false;
      if (s_[i_] == '*') {
        ++i_;
        a = f_.lo;
        b = f_.star_hi;
      } else {
        auto first = value();
        if (!first.ok()) return first.error();
        a = b = *first;
        single = true;
        if (i_ < end_ && s_[i_] == '-') {
          ++i_;
          auto second = value();
          if (!second.ok()) return second.error();
          b = *second;
          single = false;
          if (b < a)
            return fail(item, "range " + std::string(s_.substr(item, i_ - item)) + " is reversed (ranges do not wrap)");
        }
      }
      int step = 1;
      if (i_ < end_ && s_[i_] == '/') {
        ++i_;
        auto n = this->step();
        if (!n.ok()) return n.error();
        step = *n;
        if (single) b = std::max(a, f_.star_hi);  // a/n: from a to the end of the field
      }
      for (int v = a; v <= b; v += step) bits |= std::uint64_t{1} << v;
      if (i_ == end_) return bits;
      if (s_[i_] != ',') return fail(i_, unexpected(s_[i_]));
      ++i_;
    }
  }

 private:
  // A number or (where the field has them) a name, checked against the field's values.
  Result<int> value() {
    std::size_t start = i_;
    if (i_ == end_) return fail(i_, std::string("expected a value after '") + s_[i_ - 1] + "'");
    if (is_digit(s_[i_])) {
      int v = 0;
      while (i_ < end_ && is_digit(s_[i_])) {
        v = std::min(v * 10 + (s_[i_] - '0'), 100'000);  // stays out of range without overflowing
        ++i_;
      }
      if (v < f_.lo || v > f_.hi)
        return fail(start, std::string(s_.substr(start, i_ - start)) + " is not " + std::string(f_.noun) + " (" +
                               std::string(f_.range) + ")");
      return v;
    }
    if (is_alpha(s_[i_])) {
      while (i_ < end_ && is_alpha(s_[i_])) ++i_;
      auto word = s_.substr(start, i_ - start);
      for (int k = 0; k < f_.name_count; ++k)
        if (same_lower(word, f_.names[k])) return k + f_.name_base;
      return fail(start, "'" + std::string(word) + "' is not " + std::string(f_.noun) + " (" + std::string(f_.range) + ")");
    }
    return fail(i_, unexpected(s_[i_]));
  }

  Result<int> step() {
    std::size_t start = i_;
    if (i_ == end_ || !is_digit(s_[i_]))
      return i_ == end_ ? fail(i_, "expected a step after '/'") : fail(i_, unexpected(s_[i_]));
    int n = 0;
    while (i_ < end_ && is_digit(s_[i_])) {
      n = std::min(n * 10 + (s_[i_] - '0'), 100'000);
      ++i_;
    }
    int most = f_.star_hi - f_.lo + 1;
    if (n < 1 || n > most)
      return fail(start, std::string(s_.substr(start, i_ - start)) + " is not a step (1-" + std::to_string(most) + ")");
    return n;
  }

  std::string_view s_;
  std::size_t i_, end_;
  const Field& f_;
};

// The bits of `bits` at position `from` and above.
std::uint64_t bits_from(std::uint64_t bits, int from) {
  return from >= 64 ? 0 : bits & (~std::uint64_t{0} << from);
}

// The zone, or UTC when the database does not know it (the caller validates zones). Null only
// when there is no database at all; the helpers below then read every time as UTC.
const date::time_zone* find_zone(std::string_view zone) {
  if (!zone.empty() && zone.size() <= 64) {
    try {
      return date::locate_zone(zone);
    } catch (const std::exception&) {
    }
  }
  try {
    return date::locate_zone("UTC");
  } catch (const std::exception&) {
    return nullptr;
  }
}

date::sys_info info_at(const date::time_zone* z, date::sys_seconds t) {
  if (z) return z->get_info(t);
  date::sys_info utc;
  utc.begin = date::sys_days{date::year::min() / 1 / 1};
  utc.end = date::sys_days{date::year::max() / 12 / 31};
  utc.offset = seconds{0};
  utc.save = minutes{0};
  utc.abbrev = "UTC";
  return utc;
}

date::local_info info_at(const date::time_zone* z, date::local_seconds t) {
  if (z) return z->get_info(t);
  return {date::local_info::unique, info_at(z, date::sys_seconds{t.time_since_epoch()}), {}};
}

Millis to_ms(date::sys_seconds t) { return duration_cast<milliseconds>(t.time_since_epoch()).count(); }

}  // namespace

Result<Cron> Cron::parse(std::string_view expr) {
  std::size_t begin = 0, end = expr.size();
  while (begin < end && is_space(expr[begin])) ++begin;
  while (end > begin && is_space(expr[end - 1])) --end;

  if (begin < end && expr[begin] == '@') {
    std::size_t word_end = begin;
    while (word_end < end && !is_blank(expr[word_end])) ++word_end;
    auto word = expr.substr(begin, word_end - begin);
    if (word_end < end) {
      std::size_t extra = word_end;
      while (is_blank(expr[extra])) ++extra;
      return fail(extra, "unexpected text after " + std::string(word));
    }
    for (const auto& m : macros) {
      if (!same_lower(word, m.name)) continue;
      auto cron = parse(m.fields);
      if (cron.ok()) cron->text_ = std::string(word);
      return cron;
    }
    if (same_lower(word, "@reboot")) return fail(begin, "@reboot is not supported");
    return fail(begin, std::string(word) + " is not a known macro (@yearly, @annually, @monthly, @weekly, @daily, "
                                           "@midnight, @hourly)");
  }

  // Split into fields; each keeps its position in `expr` for error columns.
  std::array<std::pair<std::size_t, std::size_t>, 5> spans{};
  std::size_t count = 0;
  for (std::size_t i = begin; i < end;) {
    while (i < end && is_blank(expr[i])) ++i;
    std::size_t start = i;
    while (i < end && !is_blank(expr[i])) ++i;
    if (count < spans.size()) spans[count] = {start, i};
    ++count;
  }
  if (count != 5)
    return Error(Code::invalid_argument, "cron: expected 5 fields, got " + std::to_string(count), "cron");

  std::array<std::uint64_t, 5> bits{};
  for (std::size_t k = 0; k < 5; ++k) {
    auto r = FieldParser(expr, spans[k].first, spans[k].second, fields[k]).parse();
    if (!r.ok()) return r.error();
    bits[k] = *r;
  }
  // Cronie's notion of an unrestricted field: `*`, with or without a step, and nothing else.
  auto star = [&](std::size_t k) {
    auto text = expr.substr(spans[k].first, spans[k].second - spans[k].first);
    return text[0] == '*' && text.find(',') == std::string_view::npos;
  };

  Cron cron;
  cron.text_ = std::string(expr.substr(begin, end - begin));
  cron.minutes_ = bits[0];
  cron.hours_ = static_cast<std::uint32_t>(bits[1]);
  cron.days_ = static_cast<std::uint32_t>(bits[2]);
  cron.months_ = static_cast<std::uint16_t>(bits[3]);
  cron.weekdays_ = static_cast<std::uint8_t>((bits[4] | (bits[4] >> 7)) & 0x7f);  // 7 is Sunday
  cron.hour_star_ = star(1);
  cron.dom_star_ = star(2);
  cron.dow_star_ = star(4);
  return cron;
}

int Cron::first_minute(int minute) const {
  int hour = minute / 60;
  if (hours_ >> hour & 1) {
    if (auto m = bits_from(minutes_, minute % 60)) return hour * 60 + std::countr_zero(m);
  }
  auto h = bits_from(hours_, hour + 1);
  if (!h) return -1;
  return std::countr_zero(h) * 60 + std::countr_zero(minutes_);
}

unsigned Cron::first_day(unsigned day, unsigned last, unsigned weekday) const {
  // Cronie: when either day field is `*` (or `*/n`) a day must match both, otherwise either.
  bool both = dom_star_ || dow_star_;
  for (; day <= last; ++day, weekday = weekday == 6 ? 0 : weekday + 1) {
    bool dom = days_ >> day & 1;
    bool dow = weekdays_ >> weekday & 1;
    if (both ? (dom && dow) : (dom || dow)) return day;
  }
  return 0;
}

std::optional<std::int64_t> Cron::next_local(std::int64_t from, std::int64_t limit) const {
  using local_minutes = date::local_time<minutes>;
  local_minutes t{minutes{from}};
  const local_minutes end{minutes{limit}};
  auto day = date::floor<date::days>(t);
  int minute = static_cast<int>((t - day).count());
  while (day < end) {
    date::year_month_day ymd{day};
    unsigned month = static_cast<unsigned>(ymd.month());
    if (months_ >> month & 1) {
      unsigned last = static_cast<unsigned>((ymd.year() / ymd.month() / date::last).day());
      unsigned today = static_cast<unsigned>(ymd.day());
      unsigned found = first_day(today, last, date::weekday{day}.c_encoding());
      if (found) {
        if (found != today) {
          day += date::days{found - today};
          minute = 0;
        }
        int m = first_minute(minute);
        if (m >= 0) {
          auto at = day + minutes{m};
          if (at >= end) return std::nullopt;
          return at.time_since_epoch().count();
        }
        day += date::days{1};  // nothing left today; tomorrow may still be in this month
        minute = 0;
        continue;
      }
    }
    // The first day of the next month that the month field allows.
    auto ym = ymd.year() / ymd.month();
    do ym += date::months{1};
    while (!(months_ >> static_cast<unsigned>(ym.month()) & 1));
    day = date::local_days{ym / 1};
    minute = 0;
  }
  return std::nullopt;
}

std::optional<Millis> Cron::next(Millis after, std::string_view zone) const {
  const auto* z = find_zone(zone);
  const date::sys_time<milliseconds> after_tp{milliseconds{after}};
  auto info = info_at(z, date::floor<seconds>(after_tp));
  // Firings lie on local minute boundaries strictly after `after`'s local time.
  auto local_after = date::local_time<milliseconds>{(after_tp + info.offset).time_since_epoch()};
  auto from = date::floor<minutes>(local_after) + minutes{1};
  auto limit = date::ceil<minutes>(local_after + horizon);

  if (hour_star_) {
    // Real time: within each period of constant offset, local time maps one-to-one onto real time,
    // so walk period by period; gaps are never produced, repeated times come once per period.
    auto sys_limit = after_tp + horizon;
    for (;;) {
      auto period_end = date::ceil<minutes>(date::local_seconds{(info.end + info.offset).time_since_epoch()});
      auto m = next_local(from.time_since_epoch().count(), std::min(period_end, limit).time_since_epoch().count());
      if (m) return to_ms(date::sys_seconds{minutes{*m}} - info.offset);
      if (info.end >= sys_limit) return std::nullopt;
      info = info_at(z, info.end);
      from = date::ceil<minutes>(date::local_seconds{(info.begin + info.offset).time_since_epoch()});
    }
  }

  // A fixed-time job: walk local time. Every matching local time maps to one instant (a gap to
  // its end, a repeated time to its first pass), and that map never goes backwards, so the first
  // match after `after`'s local time whose instant is later than `after` is the answer.
  for (;;) {
    auto m = next_local(from.time_since_epoch().count(), limit.time_since_epoch().count());
    if (!m) return std::nullopt;
    date::local_seconds local{minutes{*m}};
    auto li = info_at(z, local);
    switch (li.result) {
      case date::local_info::unique: return to_ms(date::sys_seconds{local.time_since_epoch()} - li.first.offset);
      case date::local_info::nonexistent: return to_ms(li.second.begin);
      case date::local_info::ambiguous: {
        auto first_pass = date::sys_seconds{local.time_since_epoch()} - li.first.offset;
        if (to_ms(first_pass) > after) return to_ms(first_pass);
        // `after` is in the second pass: the repeated hour has run already; go past it.
        from = date::ceil<minutes>(date::local_seconds{(li.first.end + li.first.offset).time_since_epoch()});
        break;
      }
    }
  }
}

}  // namespace tourbus::schedule
