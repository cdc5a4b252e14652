#include "api/json_out.hpp"

#include <algorithm>

#include <boost/json/parse.hpp>

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

boost::json::object to_json(const chat::FileInfo& f) {
  boost::json::object o;
  o["id"] = f.id;
  o["name"] = f.name;
  o["content_type"] = f.content_type;
  o["size"] = f.size;
  o["width"] = opt(f.width);
  o["height"] = opt(f.height);
  o["sha256"] = f.sha256;
  o["created_at"] = format_utc(f.created_at);
  return o;
}

boost::json::object to_json(const chat::Message& m) {
  boost::json::object o;
  o["conversation"] = m.conversation_id;
  o["seq"] = m.seq;
  o["id"] = m.id;
  o["client_id"] = opt(m.client_id);
  o["sender"] = opt(m.sender_handle);
  o["kind"] = m.kind;
  o["text"] = m.body;
  // location and system details are stored as JSON we wrote ourselves
  if (m.data && !m.deleted_at) {
    boost::system::error_code ec;
    auto v = boost::json::parse(*m.data, ec);
    if (!ec) o[m.kind == "location" ? "location" : "details"] = std::move(v);
  }
  if (m.kind == "file" && !m.deleted_at) o["file"] = m.file ? boost::json::value(to_json(*m.file)) : nullptr;
  o["created_at"] = format_utc(m.created_at);
  o["edited_at"] = opt_time(m.edited_at);
  o["deleted"] = m.deleted_at.has_value();
  if (m.kind == "text") {
    o["lang"] = opt(m.lang);
    o["lang_source"] = opt(m.lang_method);
    o["translate"] = m.translate;
  }
  return o;
}

boost::json::object to_json(const chat::Member& m) {
  return {{"handle", m.handle},
          {"display_name", m.display_name},
          {"role", m.role},
          {"joined_at", format_utc(m.joined_at)},
          {"delivered_seq", m.delivered_seq},
          {"read_seq", m.read_seq}};
}

boost::json::object to_json(const chat::Conversation& c) {
  boost::json::object o;
  o["id"] = c.id;
  o["kind"] = c.kind;
  o["title"] = c.title;
  o["owner"] = opt(c.owner_handle);
  o["tour_id"] = opt(c.tour_id);
  o["last_seq"] = c.last_seq;
  o["last_message_at"] = opt_time(c.last_message_at);
  o["created_at"] = format_utc(c.created_at);
  if (c.me) {
    o["unread"] = std::max<std::int64_t>(0, c.last_seq - c.me->read_seq);
    o["read_seq"] = c.me->read_seq;
    o["delivered_seq"] = c.me->delivered_seq;
    o["muted"] = c.me->muted;
    o["archived"] = c.me->archived;
  }
  return o;
}

boost::json::value time_or_null(std::optional<std::int64_t> t) {
  return t ? boost::json::value(timeutil::format_utc(*t)) : boost::json::value(nullptr);
}

boost::json::object to_json(const notify::Job& j) {
  boost::json::object o{{"id", j.id},
                        {"notification", j.notification_id},
                        {"user", j.handle},
                        {"channel", j.channel},
                        {"address", j.address},
                        {"category", j.category},
                        {"lane", notify::kLanes[static_cast<std::size_t>(std::clamp(j.lane, 0, 2))]},
                        {"state", j.state},
                        {"attempts", j.attempts},
                        {"next_at", timeutil::format_utc(j.next_at)},
                        {"deferred", j.deferred ? boost::json::value(*j.deferred) : boost::json::value(nullptr)},
                        {"subject", j.subject},
                        {"last_error", j.last_error ? boost::json::value(*j.last_error) : boost::json::value(nullptr)},
                        {"created_at", timeutil::format_utc(j.created_at)},
                        {"delivered_at", time_or_null(j.delivered_at)},
                        {"claimed_by", j.claimed_by ? boost::json::value(*j.claimed_by) : boost::json::value(nullptr)}};
  if (j.idempotency_key) o["idempotency_key"] = *j.idempotency_key;
  return o;
}

boost::json::object to_json(const notify::FeedItem& f) {
  return boost::json::object{{"id", f.id},
                             {"notification", f.notification_id},
                             {"category", f.category},
                             {"title", f.title},
                             {"body", f.body},
                             {"created_at", timeutil::format_utc(f.created_at)},
                             {"read_at", time_or_null(f.read_at)}};
}

}  // namespace tourbus::api
