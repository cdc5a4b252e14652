#include "safety/alerts.hpp"

#include <unordered_map>
#include <unordered_set>

#include <boost/json/parse.hpp>

#include "core/json.hpp"
#include "safety/locations.hpp"
#include "store/users.hpp"

namespace tourbus::safety {

boost::json::value targets_json(const Targets& t) {
  boost::json::array areas, tours, roles, users;
  for (const auto& a : t.areas) {
    boost::json::array polygons, circles;
    for (const auto& p : a.polygons) polygons.emplace_back(geo::format_polygon(p));
    for (const auto& c : a.circles) circles.emplace_back(geo::format_circle(c));
    areas.push_back(boost::json::object{{"areaDesc", a.desc}, {"polygon", polygons}, {"circle", circles}});
  }
  for (auto id : t.tours) tours.emplace_back(id);
  for (const auto& r : t.roles) roles.emplace_back(r);
  for (const auto& u : t.users) users.emplace_back(u);
  return boost::json::object{{"areas", areas},   {"tours", tours}, {"roles", roles}, {"users", users},
                             {"max_age_minutes", t.max_age_ms / 60'000}};
}

namespace alerts {
namespace {

constexpr std::string_view kAlertColumns =
    "id, identifier, msg_type, status, updates, cap, targets, state, group_percent, group_minutes, group_targets, "
    "group_done_at, created_by, created_at, updated_at, category";

AlertRecord read_alert(store::Stmt& st) {
  AlertRecord a;
  a.id = st.i64(0);
  a.identifier = st.text(1);
  a.msg_type = st.text(2);
  a.status = st.text(3);
  a.updates = st.opt_i64(4);
  if (auto c = cap::from_json(boost::json::parse(st.text(5)))) a.cap = std::move(*c);
  a.targets = st.text(6);
  a.state = st.text(7);
  a.group_percent = st.opt_i64(8);
  a.group_minutes = st.opt_i64(9);
  if (auto g = st.opt_text(10)) {
    auto roles = boost::json::parse(*g);  // kept: the loop walks inside it
    for (const auto& v : roles.as_array()) a.group_roles.emplace_back(v.as_string());
  }
  a.group_done_at = st.opt_i64(11);
  a.created_by = st.text(12);
  a.created_at = st.i64(13);
  a.updated_at = st.i64(14);
  a.category = st.text(15);
  return a;
}

constexpr std::string_view kRecipientColumns =
    "r.alert_id, r.user_id, u.handle, u.display_name, r.reason, r.tour_id, r.guide_id, g.handle, r.language, "
    "r.notified_at, r.channels, r.answer, r.answered_at, r.answered_via, r.answered_by, r.rung, r.next_at, r.incident "
    "FROM alert_recipients r JOIN users u ON u.id = r.user_id LEFT JOIN users g ON g.id = r.guide_id";

Recipient read_recipient(store::Stmt& st) {
  Recipient r;
  r.alert_id = st.i64(0);
  r.user_id = st.i64(1);
  r.handle = st.text(2);
  r.display_name = st.text(3);
  r.reason = st.text(4);
  r.tour_id = st.opt_i64(5);
  r.guide_id = st.opt_i64(6);
  r.guide_handle = st.opt_text(7).value_or("");
  r.language = st.text(8);
  r.notified_at = st.opt_i64(9);
  r.channels = st.opt_text(10).value_or("[]");
  r.answer = st.opt_text(11);
  r.answered_at = st.opt_i64(12);
  r.answered_via = st.opt_text(13);
  r.answered_by = st.opt_text(14);
  r.rung = st.i64(15);
  r.next_at = st.opt_i64(16);
  r.incident = st.opt_i64(17);
  return r;
}

std::vector<Recipient> read_recipients(store::Stmt& st) {
  std::vector<Recipient> out;
  while (st.step()) out.push_back(read_recipient(st));
  return out;
}

// The tour the user is on now (as a participant, else as its guide) and its guide.
std::pair<std::optional<std::int64_t>, std::optional<std::int64_t>> current_tour(store::Db& db, std::int64_t user,
                                                                                 std::int64_t now, const Targets& t) {
  auto st = db.prepare(
      "SELECT t.id, t.guide_id FROM tours t WHERE t.status != 'cancelled' AND t.starts_at <= ?2 AND t.ends_at >= ?3 "
      "AND (t.guide_id = ?1 OR EXISTS (SELECT 1 FROM tour_participants p WHERE p.tour_id = t.id AND p.user_id = ?1)) "
      "ORDER BY (t.guide_id = ?1), t.starts_at DESC, t.id DESC LIMIT 1");
  st.bind(1, user).bind(2, now + t.window_before_ms).bind(3, now - t.window_after_ms);
  if (!st.step()) return {std::nullopt, std::nullopt};
  auto guide = st.opt_i64(1);
  if (guide == user) guide.reset();  // a guide is not escalated to themselves
  return {st.i64(0), guide};
}

}  // namespace

Result<std::int64_t> insert(store::Db& db, const AlertRecord& a) {
  if (find_identifier(db, a.identifier))
    return Error(Code::conflict, "identifier: an alert '" + a.identifier + "' exists already", "identifier");
  std::optional<std::string> group;
  if (a.group_percent) {
    boost::json::array roles;
    for (const auto& r : a.group_roles) roles.emplace_back(r);
    group = json::dump(roles);
  }
  db.prepare(
        "INSERT INTO alerts (identifier, msg_type, status, updates, cap, targets, state, group_percent, group_minutes, "
        "group_targets, created_by, created_at, updated_at, category) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?12, ?13)")
      .bind(1, a.identifier)
      .bind(2, a.msg_type)
      .bind(3, a.status)
      .bind(4, a.updates)
      .bind(5, json::dump(cap::to_json(a.cap)))
      .bind(6, a.targets)
      .bind(7, a.state)
      .bind(8, a.group_percent)
      .bind(9, a.group_minutes)
      .bind(10, group)
      .bind(11, a.created_by)
      .bind(12, a.created_at)
      .bind(13, a.category)
      .run();
  return db.last_insert_rowid();
}

std::optional<AlertRecord> find(store::Db& db, std::int64_t id) {
  auto st = db.prepare("SELECT " + std::string(kAlertColumns) + " FROM alerts WHERE id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read_alert(st);
}

std::optional<AlertRecord> find_identifier(store::Db& db, std::string_view identifier) {
  auto st = db.prepare("SELECT " + std::string(kAlertColumns) + " FROM alerts WHERE identifier = ?1");
  st.bind(1, identifier);
  if (!st.step()) return std::nullopt;
  return read_alert(st);
}

std::vector<AlertRecord> list(store::Db& db, std::optional<std::string> state, std::optional<std::int64_t> recipient,
                              std::optional<std::string> author, std::int64_t limit) {
  auto st = db.prepare(
      "SELECT " + std::string(kAlertColumns) +
      " FROM alerts a WHERE (CAST(?1 AS TEXT) IS NULL OR state = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR a.created_by = ?4 OR EXISTS (SELECT 1 "
      "FROM alert_recipients r WHERE r.alert_id = coalesce(a.updates, a.id) AND r.user_id = ?2)) ORDER BY id DESC LIMIT ?3");
  st.bind(1, state).bind(2, recipient).bind(3, limit).bind(4, author);
  std::vector<AlertRecord> out;
  while (st.step()) out.push_back(read_alert(st));
  return out;
}

void set_state(store::Db& db, std::int64_t id, std::string_view state, std::int64_t now) {
  db.prepare("UPDATE alerts SET state = ?2, updated_at = ?3 WHERE id = ?1").bind(1, id).bind(2, state).bind(3, now).run();
}

void set_cap(store::Db& db, std::int64_t id, const cap::Alert& doc) {
  db.prepare("UPDATE alerts SET cap = ?2 WHERE id = ?1").bind(1, id).bind(2, json::dump(cap::to_json(doc))).run();
}

void set_group_done(store::Db& db, std::int64_t id, std::int64_t now) {
  db.prepare("UPDATE alerts SET group_done_at = ?2, updated_at = ?2 WHERE id = ?1").bind(1, id).bind(2, now).run();
}

std::vector<std::int64_t> sending(store::Db& db) {
  auto st = db.prepare("SELECT id FROM alerts WHERE state = 'sending' ORDER BY id");
  std::vector<std::int64_t> out;
  while (st.step()) out.push_back(st.i64(0));
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> group_rules_pending(store::Db& db) {
  auto st = db.prepare(
      "SELECT id, created_at + group_minutes * 60000 FROM alerts WHERE group_percent IS NOT NULL "
      "AND group_done_at IS NULL AND state IN ('sending', 'sent') ORDER BY 2, id");
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  while (st.step()) out.emplace_back(st.i64(0), st.i64(1));
  return out;
}

std::map<std::string, std::int64_t> add_recipients(store::Db& db, std::int64_t alert, const Targets& t, std::int64_t now,
                                                    std::string_view reason_override) {
  std::map<std::string, std::int64_t> added;
  auto add = [&](const store::User& u, std::string_view reason, std::optional<std::int64_t> tour,
                 std::optional<std::int64_t> guide, bool find_tour) {
    if (u.disabled) return;
    if (find_tour) std::tie(tour, guide) = current_tour(db, u.id, now, t);
    auto st = db.prepare(
        "INSERT INTO alert_recipients (alert_id, user_id, reason, tour_id, guide_id, language) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (alert_id, user_id) DO NOTHING");
    auto why = reason_override.empty() ? reason : reason_override;
    st.bind(1, alert).bind(2, u.id).bind(3, why).bind(4, tour).bind(5, guide).bind(6, u.language).run();
    if (db.changes() > 0) ++added[std::string(why)];
  };
  // Whole tours first, so a person both on a targeted tour and in the area counts under the tour.
  for (auto id : t.tours) {
    auto tour = store::tours::find(db, id);
    if (!tour) continue;
    for (auto uid : store::tours::participant_ids(db, id))
      if (auto u = store::users::find_id(db, uid)) add(*u, "tour", id, tour->guide_id, false);
    if (tour->guide_id)
      if (auto g = store::users::find_id(db, *tour->guide_id)) add(*g, "tour", id, std::nullopt, false);
  }
  if (!t.areas.empty()) {
    std::vector<geo::Box> boxes;
    for (const auto& a : t.areas)
      for (const auto& b : geo::boxes(a)) boxes.push_back(b);
    std::unordered_set<std::int64_t> seen;
    std::unordered_map<std::int64_t, std::optional<std::int64_t>> guides;  // tour -> its guide (none: no such tour)
    for (const auto& p : locations::in_boxes(db, boxes, now - t.max_age_ms)) {
      if (!seen.insert(p.user_id).second) continue;
      bool inside = false;
      for (const auto& a : t.areas) inside = inside || a.contains(geo::Point{p.lat, p.lon});
      if (!inside) continue;
      auto u = store::users::find_id(db, p.user_id);
      if (!u) continue;
      auto g = guides.find(p.tour_id);
      if (g == guides.end()) {
        auto tour = store::tours::find(db, p.tour_id);
        std::optional<std::int64_t> guide = tour ? tour->guide_id.value_or(0) : std::optional<std::int64_t>();
        g = guides.emplace(p.tour_id, guide).first;
      }
      std::optional<std::int64_t> guide;
      if (g->second && *g->second != 0 && *g->second != u->id) guide = g->second;
      add(*u, "area", g->second ? std::optional<std::int64_t>(p.tour_id) : std::nullopt, guide, false);
    }
  }
  for (const auto& role : t.roles) {
    store::UserFilter f;
    f.role = role;
    f.disabled = false;
    for (;;) {
      auto page = store::users::list(db, f);
      if (page.empty()) break;
      f.after_id = page.back().id;
      for (const auto& u : page) add(u, "role", std::nullopt, std::nullopt, true);
    }
  }
  for (const auto& h : t.users)
    if (auto u = store::users::find(db, h)) add(*u, "user", std::nullopt, std::nullopt, true);
  return added;
}

std::int64_t copy_recipients(store::Db& db, std::int64_t from, std::int64_t alert) {
  db.prepare(
        "INSERT INTO alert_recipients (alert_id, user_id, reason, tour_id, guide_id, language) "
        "SELECT ?2, user_id, reason, tour_id, guide_id, language FROM alert_recipients WHERE alert_id = ?1 "
        "ON CONFLICT (alert_id, user_id) DO NOTHING")
      .bind(1, from)
      .bind(2, alert)
      .run();
  return db.changes();
}

std::int64_t adopt(store::Db& db, std::int64_t original, std::int64_t update, std::int64_t now, std::int64_t next_at) {
  db.prepare(
        "INSERT INTO alert_recipients (alert_id, user_id, reason, tour_id, guide_id, language, notified_at, next_at) "
        "SELECT ?1, user_id, reason, tour_id, guide_id, language, ?3, ?4 FROM alert_recipients WHERE alert_id = ?2 "
        "ON CONFLICT (alert_id, user_id) DO NOTHING")
      .bind(1, original)
      .bind(2, update)
      .bind(3, now)
      .bind(4, next_at)
      .run();
  return db.changes();
}

std::vector<Recipient> recipients(store::Db& db, std::int64_t alert) {
  auto st = db.prepare("SELECT " + std::string(kRecipientColumns) + " WHERE r.alert_id = ?1 ORDER BY u.handle");
  st.bind(1, alert);
  return read_recipients(st);
}

Tally tally(store::Db& db, std::int64_t alert) {
  auto st = db.prepare(
      "SELECT count(*), count(*) FILTER (WHERE answer = 'safe'), count(*) FILTER (WHERE answer = 'need_help') "
      "FROM alert_recipients WHERE alert_id = ?1");
  st.bind(1, alert);
  st.step();
  return Tally{st.i64(0), st.i64(1), st.i64(2)};
}

std::optional<Recipient> recipient(store::Db& db, std::int64_t alert, std::int64_t user) {
  auto st = db.prepare("SELECT " + std::string(kRecipientColumns) + " WHERE r.alert_id = ?1 AND r.user_id = ?2");
  st.bind(1, alert).bind(2, user);
  if (!st.step()) return std::nullopt;
  return read_recipient(st);
}

std::vector<std::pair<std::int64_t, std::string>> languages(store::Db& db, std::int64_t alert) {
  auto st = db.prepare("SELECT user_id, language FROM alert_recipients WHERE alert_id = ?1");
  st.bind(1, alert);
  std::vector<std::pair<std::int64_t, std::string>> out;
  while (st.step()) out.emplace_back(st.i64(0), st.text(1));
  return out;
}

std::vector<Recipient> unsent(store::Db& db, std::int64_t alert, std::int64_t limit) {
  auto st = db.prepare("SELECT " + std::string(kRecipientColumns) +
                       " WHERE r.alert_id = ?1 AND r.notified_at IS NULL ORDER BY r.user_id LIMIT ?2");
  st.bind(1, alert).bind(2, limit);
  return read_recipients(st);
}

void mark_sent(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t now, const std::string& channels,
               std::optional<std::int64_t> next_at) {
  db.prepare(
        "UPDATE alert_recipients SET notified_at = ?3, channels = ?4, next_at = CASE WHEN answer IS NULL THEN CAST(?5 AS BIGINT) END "
        "WHERE alert_id = ?1 AND user_id = ?2")
      .bind(1, alert)
      .bind(2, user)
      .bind(3, now)
      .bind(4, channels)
      .bind(5, next_at)
      .run();
}

bool answer(store::Db& db, std::int64_t alert, std::int64_t user, std::string_view answer, std::string_view via,
            std::string_view by, std::int64_t now) {
  // A guide's "seen safe" never overwrites the person's own call for help.
  db.prepare(
        "UPDATE alert_recipients SET answer = ?3, answered_at = ?4, answered_via = ?5, answered_by = ?6, next_at = NULL "
        "WHERE alert_id = ?1 AND user_id = ?2 AND NOT (?7 = 1 AND answer = 'need_help' AND ?3 = 'safe')")
      .bind(1, alert)
      .bind(2, user)
      .bind(3, answer)
      .bind(4, now)
      .bind(5, via)
      .bind(6, by)
      .bind(7, via == "guide")
      .run();
  if (db.changes() > 0) return true;
  return recipient(db, alert, user).has_value();
}

void set_incident(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t conversation) {
  db.prepare("UPDATE alert_recipients SET incident = ?3 WHERE alert_id = ?1 AND user_id = ?2")
      .bind(1, alert)
      .bind(2, user)
      .bind(3, conversation)
      .run();
}

std::vector<Recipient> due(store::Db& db, std::int64_t now, std::int64_t limit) {
  auto st = db.prepare("SELECT " + std::string(kRecipientColumns) +
                       " WHERE r.answer IS NULL AND r.next_at IS NOT NULL AND r.next_at <= ?1 "
                       "ORDER BY r.next_at, r.alert_id, r.user_id LIMIT ?2");
  st.bind(1, now).bind(2, limit);
  return read_recipients(st);
}

std::optional<std::int64_t> next_due(store::Db& db) {
  auto st = db.prepare("SELECT min(next_at) FROM alert_recipients WHERE answer IS NULL AND next_at IS NOT NULL");
  if (!st.step()) return std::nullopt;
  return st.opt_i64(0);
}

void set_rung(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t rung, std::optional<std::int64_t> next_at) {
  db.prepare("UPDATE alert_recipients SET rung = ?3, next_at = ?4 WHERE alert_id = ?1 AND user_id = ?2")
      .bind(1, alert)
      .bind(2, user)
      .bind(3, rung)
      .bind(4, next_at)
      .run();
}

void stop_escalation(store::Db& db, std::int64_t alert) {
  db.prepare("UPDATE alert_recipients SET next_at = NULL WHERE alert_id = ?1").bind(1, alert).run();
}

void add_rung(store::Db& db, std::int64_t alert, std::optional<std::int64_t> user, std::string_view rung,
              std::string_view detail, std::int64_t now) {
  db.prepare("INSERT INTO alert_rungs (alert_id, user_id, rung, detail, at) VALUES (?1, ?2, ?3, ?4, ?5)")
      .bind(1, alert)
      .bind(2, user)
      .bind(3, rung)
      .bind(4, detail)
      .bind(5, now)
      .run();
}

std::vector<Rung> rungs(store::Db& db, std::int64_t alert) {
  auto st = db.prepare(
      "SELECT r.id, r.alert_id, r.user_id, u.handle, r.rung, r.detail, r.at FROM alert_rungs r "
      "LEFT JOIN users u ON u.id = r.user_id WHERE r.alert_id = ?1 ORDER BY r.id");
  st.bind(1, alert);
  std::vector<Rung> out;
  while (st.step())
    out.push_back(Rung{st.i64(0), st.i64(1), st.opt_i64(2), st.opt_text(3).value_or(""), st.text(4), st.text(5), st.i64(6)});
  return out;
}

std::optional<std::int64_t> latest_for(store::Db& db, std::int64_t user) {
  auto st = db.prepare(
      "SELECT r.alert_id FROM alert_recipients r JOIN alerts a ON a.id = r.alert_id WHERE r.user_id = ?1 "
      "AND a.msg_type = 'Alert' AND a.state IN ('sending', 'sent') ORDER BY (r.answer IS NULL) DESC, r.alert_id DESC LIMIT 1");
  st.bind(1, user);
  if (!st.step()) return std::nullopt;
  return st.i64(0);
}

}  // namespace alerts
}  // namespace tourbus::safety
