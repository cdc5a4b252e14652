#include "safety/incident.hpp"

#include <cmath>
#include <fmt/format.h>

#include "chat/conversations.hpp"
#include "core/time.hpp"
#include "store/users.hpp"

namespace tourbus::safety {

std::string describe(const std::optional<Position>& p, std::int64_t now) {
  if (!p) return "no position shared";
  auto age_s = std::max<std::int64_t>(0, (now - p->at) / 1000);
  std::string age = age_s < 60 ? std::to_string(age_s) + " s ago"
                    : age_s < 3600 ? std::to_string(age_s / 60) + " min ago"
                                   : std::to_string(age_s / 3600) + " h ago";
  auto out = fmt::format("{:.5f},{:.5f}", p->lat, p->lon);
  if (p->accuracy) out += fmt::format(" (±{} m)", static_cast<long long>(std::lround(*p->accuracy)));
  return out + ", " + age;
}

boost::json::value position_json(const std::optional<Position>& p, std::int64_t now) {
  if (!p) return nullptr;
  boost::json::object o{{"lat", p->lat}, {"lon", p->lon}, {"at", timeutil::format_utc(p->at)},
                        {"age_seconds", std::max<std::int64_t>(0, (now - p->at) / 1000)}};
  o["accuracy"] = p->accuracy ? boost::json::value(*p->accuracy) : nullptr;
  return o;
}

Incident open_incident(store::Db& db, std::int64_t person, std::optional<std::int64_t> guide,
                       const std::vector<std::int64_t>& operators, const std::string& about,
                       const std::optional<std::string>& note, const std::optional<Position>& position, std::int64_t now) {
  auto u = store::users::find_id(db, person);
  std::string name = u ? u->display_name : "someone";
  chat::Conversation c;
  c.kind = "group";
  c.title = "Incident: " + name + " (" + about + ")";
  c.owner_id = person;
  c.created_at = c.updated_at = now;
  Incident out;
  out.conversation = chat::conversations::insert(db, c, std::nullopt);
  chat::conversations::add_member(db, out.conversation, person, now);
  if (guide) chat::conversations::add_member(db, out.conversation, *guide, now);
  for (auto op : operators) chat::conversations::add_member(db, out.conversation, op, now);
  std::string text = name + " needs help (" + about + "). Last position: " + describe(position, now) + ".";
  if (position)
    text += fmt::format(" Map: https://www.openstreetmap.org/?mlat={:.5f}&mlon={:.5f}#map=17/{:.5f}/{:.5f}", position->lat,
                        position->lon, position->lat, position->lon);
  if (note && !note->empty()) text += " They said: \"" + *note + "\"";
  boost::json::object details{{"incident", about}, {"user", u ? u->handle : ""}, {"position", position_json(position, now)}};
  out.notice = chat::post_system(db, out.conversation, text, std::move(details), now);
  return out;
}

}  // namespace tourbus::safety
