#include "schedule/trigger.hpp"

#include <cctype>
#include <limits>

namespace tourbus::schedule {
namespace {

using boost::json::object;

std::optional<std::string> str(const object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_string()) return std::string(v->as_string());
  return std::nullopt;
}
std::optional<std::int64_t> num(const object& o, std::string_view key) {
  if (auto* v = o.if_contains(key); v && v->is_int64()) return v->as_int64();
  return std::nullopt;
}

Error bad(std::string_view field, std::string message) {
  return Error(Code::invalid_argument, std::string(field) + ": " + message, std::string(field));
}

}  // namespace

object Trigger::to_json() const {
  switch (kind) {
    case Kind::cron: return object{{"cron", cron}, {"zone", zone}};
    case Kind::at: return object{{"at", at}, {"zone", zone}};
    case Kind::tour: {
      object o{{"anchor", anchor}, {"offset_ms", offset_ms}};
      if (nudges > 0) {
        o["nudges"] = nudges;
        o["every_ms"] = every_ms;
      }
      return o;
    }
    case Kind::event: return object{{"event", event}, {"delay_ms", offset_ms}};
  }
  return {};
}

Result<Trigger> Trigger::from_json(const object& o) {
  Trigger t;
  if (auto c = str(o, "cron")) {
    t.kind = Kind::cron;
    t.cron = *c;
    t.zone = str(o, "zone").value_or("UTC");
  } else if (auto a = num(o, "at")) {
    t.kind = Kind::at;
    t.at = *a;
    t.zone = str(o, "zone").value_or("UTC");
  } else if (auto an = str(o, "anchor")) {
    t.kind = Kind::tour;
    t.anchor = *an;
    t.offset_ms = num(o, "offset_ms").value_or(0);
    t.nudges = static_cast<int>(num(o, "nudges").value_or(0));
    t.every_ms = num(o, "every_ms").value_or(0);
  } else if (auto e = str(o, "event")) {
    t.kind = Kind::event;
    t.event = *e;
    t.offset_ms = num(o, "delay_ms").value_or(0);
  } else {
    return Error(Code::internal, "schedule: a trigger with no kind");
  }
  return t;
}

std::string Trigger::describe() const {
  auto signed_offset = [](Millis ms) {
    if (ms == 0) return std::string();
    return (ms < 0 ? "-" : "+") + format_duration(ms < 0 ? -ms : ms);
  };
  switch (kind) {
    case Kind::cron: return "cron " + cron + " (" + zone + ")";
    case Kind::at: return "at " + timeutil::format_utc(at);
    case Kind::tour: {
      auto s = anchor + signed_offset(offset_ms);
      if (nudges > 0) s += ", " + std::to_string(nudges) + " nudge" + (nudges > 1 ? "s" : "") + " every " + format_duration(every_ms);
      return s;
    }
    case Kind::event: return "event " + event + (offset_ms ? " " + signed_offset(offset_ms) : "");
  }
  return {};
}

object Audience::to_json() const {
  if (user) return object{{"user", *user}};
  if (tour) return object{{"tour", *tour}};
  if (all_tours) return object{{"tours", "all"}};
  if (role) return object{{"role", *role}};
  if (segment) return object{{"segment", *segment}};
  if (event) return object{{"event", *event}};
  return {};
}

Audience Audience::from_json(const object& o) {
  Audience a;
  a.user = str(o, "user");
  a.tour = num(o, "tour");
  a.all_tours = str(o, "tours").value_or("") == "all";
  a.role = str(o, "role");
  a.segment = str(o, "segment");
  a.event = str(o, "event");
  return a;
}

std::string Audience::describe() const {
  if (user) return "user " + *user;
  if (tour) return "tour " + std::to_string(*tour);
  if (all_tours) return "every tour";
  if (role) return "role " + *role;
  if (segment) return "segment " + *segment;
  if (event) return "the event's " + *event;
  return "nobody";
}

Result<Millis> parse_duration(std::string_view text, std::string_view field) {
  if (text.empty()) return bad(field, "give a duration such as 90m, 24h or 3d");
  Millis total = 0;
  std::size_t i = 0;
  while (i < text.size()) {
    std::size_t start = i;
    Millis n = 0;
    while (i < text.size() && std::isdigit(static_cast<unsigned char>(text[i]))) {
      if (n > 1'000'000'000) return bad(field, "'" + std::string(text) + "' is too long");
      n = n * 10 + (text[i++] - '0');
    }
    if (i == start || i == text.size())
      return bad(field, "'" + std::string(text) + "' is not a duration (a number and a unit: s, m, h, d or w; e.g. 90m, 1d12h)");
    Millis unit = 0;
    switch (text[i++]) {
      case 's': unit = 1000; break;
      case 'm': unit = 60'000; break;
      case 'h': unit = 3'600'000; break;
      case 'd': unit = 86'400'000; break;
      case 'w': unit = 7 * 86'400'000LL; break;
      default:
        return bad(field, "'" + std::string(text) + "' has an unknown unit (s, m, h, d or w)");
    }
    total += n * unit;
    if (total > 3660LL * 86'400'000) return bad(field, "'" + std::string(text) + "' is longer than ten years");
  }
  if (total <= 0) return bad(field, "a duration must be longer than zero");
  return total;
}

std::string format_duration(Millis ms) {
  if (ms <= 0) return "0s";
  std::string out;
  constexpr std::pair<Millis, char> units[] = {{86'400'000, 'd'}, {3'600'000, 'h'}, {60'000, 'm'}, {1000, 's'}};
  for (auto [size, name] : units) {
    if (ms >= size) {
      out += std::to_string(ms / size) + name;
      ms %= size;
    }
  }
  if (ms > 0) out += std::to_string(ms) + "ms";
  return out;
}

Result<Trigger> parse_tour_offset(std::string_view text, std::string_view field) {
  Trigger t;
  t.kind = Trigger::Kind::tour;
  for (std::string_view anchor : {"start", "end"}) {
    if (!text.starts_with(anchor)) continue;
    t.anchor = anchor;
    auto rest = text.substr(anchor.size());
    if (rest.empty()) return t;
    if (rest[0] != '+' && rest[0] != '-')
      return bad(field, "'" + std::string(text) + "': after " + std::string(anchor) + " comes + or - and a duration (start-24h, end+2h)");
    auto d = parse_duration(rest.substr(1), field);
    if (!d) return d.error();
    t.offset_ms = rest[0] == '-' ? -*d : *d;
    return t;
  }
  return bad(field, "'" + std::string(text) + "' is not start or end with an offset (start-24h, start-2h, end+2h)");
}

}  // namespace tourbus::schedule
