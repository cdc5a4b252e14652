#include "api/json_out.hpp"

#include "core/time.hpp"
#include "core/validate.hpp"

namespace tourbus::api {
namespace {

using timeutil::format_utc;

template <class T>
boost::json::value opt(const std::optional<T>& v) {
  return v ? boost::json::value(*v) : boost::json::value(nullptr);
}

boost::json::value opt_time(const std::optional<std::int64_t>& t) {
  return t ? boost::json::value(format_utc(*t)) : boost::json::value(nullptr);
}

}  // namespace

boost::json::object to_json(const store::User& u) {
  boost::json::object o;
  o["id"] = u.id;
  o["handle"] = u.handle;
  o["display_name"] = u.display_name;
  o["role"] = u.role;
  o["email"] = opt(u.email);
  o["phone"] = opt(u.phone);
  o["language"] = u.language;
  o["time_zone"] = u.time_zone;
  if (u.quiet_start && u.quiet_end)
    o["quiet_hours"] = validate::format_quiet_hours({static_cast<int>(*u.quiet_start), static_cast<int>(*u.quiet_end)});
  else
    o["quiet_hours"] = nullptr;
  o["marketing_consent"] = u.marketing_consent;
  o["marketing_consent_at"] = opt_time(u.marketing_consent_at);
  o["disabled"] = u.disabled;
  o["created_at"] = format_utc(u.created_at);
  o["updated_at"] = format_utc(u.updated_at);
  return o;
}

boost::json::object to_json(const store::Token& t, std::int64_t now) {
  boost::json::object o;
  o["id"] = t.id;
  o["user"] = t.user_handle;
  o["label"] = t.label;
  o["prefix"] = t.prefix;
  o["created_at"] = format_utc(t.created_at);
  o["expires_at"] = opt_time(t.expires_at);
  o["revoked_at"] = opt_time(t.revoked_at);
  o["last_used_at"] = opt_time(t.last_used_at);
  o["state"] = t.revoked_at ? "revoked" : (t.expires_at && *t.expires_at <= now) ? "expired" : "active";
  return o;
}

boost::json::object to_json(const store::Tour& t) {
  boost::json::object o;
  o["id"] = t.id;
  o["title"] = t.title;
  o["starts_at"] = format_utc(t.starts_at);
  o["ends_at"] = format_utc(t.ends_at);
  o["time_zone"] = t.time_zone;
  o["starts_local"] = timeutil::format_local(t.starts_at, t.time_zone);
  o["ends_local"] = timeutil::format_local(t.ends_at, t.time_zone);
  if (t.meeting_label || t.meeting_lat) {
    boost::json::object m;
    m["label"] = opt(t.meeting_label);
    m["lat"] = opt(t.meeting_lat);
    m["lon"] = opt(t.meeting_lon);
    o["meeting_point"] = std::move(m);
  } else {
    o["meeting_point"] = nullptr;
  }
  o["guide"] = opt(t.guide_handle);
  o["status"] = t.status;
  o["cancel_reason"] = opt(t.cancel_reason);
  boost::json::array parts;
  for (const auto& p : t.participants) parts.emplace_back(p);
  o["participants"] = std::move(parts);
  o["created_at"] = format_utc(t.created_at);
  o["updated_at"] = format_utc(t.updated_at);
  return o;
}

}  // namespace tourbus::api
