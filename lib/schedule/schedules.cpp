#include "schedule/schedules.hpp"

#include <boost/json/parse.hpp>

#include "core/json.hpp"

namespace tourbus::schedule {
namespace {

using boost::json::object;
using store::Stmt;

object parse_object(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  if (ec || !v.is_object()) return {};
  return std::move(v.as_object());
}

constexpr const char* kScheduleColumns =
    "SELECT id, kind, name, template, category, audience, trig, channels, vars, catch_up, state, created_by, created_at, "
    "updated_at FROM schedules ";

Schedule read_schedule(const Stmt& s) {
  Schedule out;
  out.id = s.i64(0);
  out.kind = s.text(1);
  out.name = s.text(2);
  out.template_name = s.text(3);
  out.category = s.opt_text(4);
  out.audience = Audience::from_json(parse_object(s.text(5)));
  if (auto t = Trigger::from_json(parse_object(s.text(6)))) out.trigger = *t;
  out.channels = list_from(s.text(7));
  out.vars = vars_from(s.text(8));
  out.catch_up = s.text(9);
  out.state = s.text(10);
  out.created_by = s.text(11);
  out.created_at = s.i64(12);
  out.updated_at = s.i64(13);
  return out;
}

std::vector<Schedule> read_schedules(Stmt& s) {
  std::vector<Schedule> out;
  while (s.step()) out.push_back(read_schedule(s));
  return out;
}

constexpr const char* kFiringColumns =
    "SELECT f.id, f.schedule_id, f.due_at, f.user_id, f.tour_id, f.event_id, f.step, f.state, f.notification_id, "
    "f.done_at, f.note, coalesce(u.handle, '') FROM firings f LEFT JOIN users u ON u.id = f.user_id ";

Firing read_firing(const Stmt& s) {
  Firing f;
  f.id = s.i64(0);
  f.schedule_id = s.i64(1);
  f.due_at = s.i64(2);
  f.user_id = s.i64(3);
  f.tour_id = s.i64(4);
  f.event_id = s.i64(5);
  f.step = static_cast<int>(s.i64(6));
  f.state = s.text(7);
  f.notification_id = s.opt_i64(8);
  f.done_at = s.opt_i64(9);
  f.note = s.opt_text(10);
  f.handle = s.text(11);
  return f;
}

}  // namespace

std::string vars_json(const Vars& vars) {
  object o;
  for (const auto& [k, v] : vars) o[k] = v;
  return json::dump(o);
}

Vars vars_from(const std::string& text) {
  Vars out;
  for (const auto& [k, v] : parse_object(text))
    if (v.is_string()) out[std::string(k)] = std::string(v.as_string());
  return out;
}

std::string list_json(const std::vector<std::string>& items) {
  boost::json::array a;
  for (const auto& i : items) a.emplace_back(i);
  return json::dump(a);
}

std::vector<std::string> list_from(const std::string& text) {
  boost::system::error_code ec;
  auto v = boost::json::parse(text, ec);
  std::vector<std::string> out;
  if (!ec && v.is_array())
    for (const auto& i : v.as_array())
      if (i.is_string()) out.emplace_back(i.as_string());
  return out;
}

namespace schedules {

Result<Schedule> insert(store::Db& db, Schedule s) {
  auto st = db.prepare(
      "INSERT INTO schedules (kind, name, template, category, audience, trig, channels, vars, catch_up, state, "
      "created_by, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13)");
  st.bind(1, s.kind).bind(2, s.name).bind(3, s.template_name).bind(4, s.category);
  st.bind(5, json::dump(s.audience.to_json())).bind(6, json::dump(s.trigger.to_json()));
  st.bind(7, list_json(s.channels)).bind(8, vars_json(s.vars)).bind(9, s.catch_up).bind(10, s.state);
  st.bind(11, s.created_by).bind(12, s.created_at).bind(13, s.updated_at);
  try {
    st.run();
  } catch (const store::SqlError& e) {
    if (e.is_unique_violation())
      return Error(Code::already_exists, "name: a " + s.kind + " named '" + s.name + "' exists already", "name");
    throw;
  }
  s.id = db.last_insert_rowid();
  return s;
}

void update(store::Db& db, const Schedule& s) {
  auto st = db.prepare(
      "UPDATE schedules SET template = ?2, category = ?3, audience = ?4, trig = ?5, channels = ?6, vars = ?7, "
      "catch_up = ?8, state = ?9, updated_at = ?10 WHERE id = ?1");
  st.bind(1, s.id).bind(2, s.template_name).bind(3, s.category).bind(4, json::dump(s.audience.to_json()));
  st.bind(5, json::dump(s.trigger.to_json())).bind(6, list_json(s.channels)).bind(7, vars_json(s.vars));
  st.bind(8, s.catch_up).bind(9, s.state).bind(10, s.updated_at);
  st.run();
}

std::optional<Schedule> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kScheduleColumns) + "WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_schedule(s);
}

std::optional<Schedule> find_name(store::Db& db, std::string_view kind, std::string_view name) {
  auto s = db.prepare(std::string(kScheduleColumns) + "WHERE kind = ?1 AND name = ?2 AND state != 'removed'");
  s.bind(1, kind).bind(2, name);
  if (!s.step()) return std::nullopt;
  return read_schedule(s);
}

std::vector<Schedule> list(store::Db& db, std::optional<std::string_view> kind, bool include_removed) {
  auto s = db.prepare(std::string(kScheduleColumns) +
                      "WHERE (CAST(?1 AS TEXT) IS NULL OR kind = ?1) AND (?2 = 1 OR state != 'removed') ORDER BY id");
  s.bind(1, kind ? std::optional<std::string>(std::string(*kind)) : std::nullopt).bind(2, include_removed);
  return read_schedules(s);
}

void set_state(store::Db& db, std::int64_t id, std::string_view state, Millis now) {
  auto s = db.prepare("UPDATE schedules SET state = ?2, updated_at = ?3 WHERE id = ?1");
  s.bind(1, id).bind(2, state).bind(3, now);
  s.run();
}

std::vector<Schedule> rules_for(store::Db& db, std::string_view event_type) {
  // The event type sits in the trigger's JSON; rules are few, so they are read and matched here.
  auto s = db.prepare(std::string(kScheduleColumns) + "WHERE kind = 'rule' AND state = 'active' ORDER BY id");
  std::vector<Schedule> out;
  for (auto& r : read_schedules(s))
    if (r.trigger.event == event_type) out.push_back(std::move(r));
  return out;
}

std::vector<Schedule> tour_relative(store::Db& db) {
  auto s = db.prepare(std::string(kScheduleColumns) + "WHERE kind IN ('reminder', 'review') AND state != 'removed' ORDER BY id");
  std::vector<Schedule> out;
  for (auto& r : read_schedules(s))
    if (r.trigger.kind == Trigger::Kind::tour) out.push_back(std::move(r));
  return out;
}

}  // namespace schedules

namespace firings {

bool add(store::Db& db, const Firing& f) {
  auto s = db.prepare(
      "INSERT INTO firings (schedule_id, due_at, user_id, tour_id, event_id, step, state) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'pending') ON CONFLICT DO NOTHING");
  s.bind(1, f.schedule_id).bind(2, f.due_at).bind(3, f.user_id).bind(4, f.tour_id).bind(5, f.event_id).bind(6, f.step);
  s.run();
  return db.changes() > 0;
}

std::vector<Firing> due(store::Db& db, Millis now, std::size_t limit) {
  auto s = db.prepare(std::string(kFiringColumns) +
                      "WHERE f.state = 'pending' AND f.due_at <= ?1 "
                      "AND EXISTS (SELECT 1 FROM schedules s WHERE s.id = f.schedule_id AND s.state = 'active') "
                      "ORDER BY f.due_at, f.id LIMIT ?2");
  s.bind(1, now).bind(2, static_cast<std::int64_t>(limit));
  std::vector<Firing> out;
  while (s.step()) out.push_back(read_firing(s));
  return out;
}

std::optional<Millis> next_due(store::Db& db) {
  // Correlated, so the pending firings are walked in due order on their partial index (an IN list
  // of schedules would walk every firing of those schedules, fired ones included).
  auto s = db.prepare(
      "SELECT min(f.due_at) FROM firings f WHERE f.state = 'pending' "
      "AND EXISTS (SELECT 1 FROM schedules s WHERE s.id = f.schedule_id AND s.state = 'active')");
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

void finish(store::Db& db, std::int64_t id, std::string_view state, std::optional<std::int64_t> notification_id,
            Millis at, std::optional<std::string> note) {
  auto s = db.prepare("UPDATE firings SET state = ?2, notification_id = ?3, done_at = ?4, note = ?5 WHERE id = ?1");
  s.bind(1, id).bind(2, state).bind(3, notification_id).bind(4, at).bind(5, note);
  s.run();
}

std::vector<Firing> list(store::Db& db, const FiringFilter& f) {
  auto s = db.prepare(std::string(kFiringColumns) +
                      "WHERE (CAST(?1 AS BIGINT) IS NULL OR f.schedule_id = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR f.tour_id = ?2) "
                      "AND (CAST(?3 AS BIGINT) IS NULL OR f.user_id = ?3) AND (CAST(?4 AS TEXT) IS NULL OR f.state = ?4) "
                      "AND (CAST(?5 AS TEXT) IS NULL OR f.schedule_id IN (SELECT id FROM schedules WHERE kind = ?5)) "
                      "ORDER BY CASE WHEN ?6 = 1 THEN -f.due_at ELSE f.due_at END, f.id LIMIT ?7");
  s.bind(1, f.schedule_id).bind(2, f.tour_id).bind(3, f.user_id).bind(4, f.state).bind(5, f.kind);
  s.bind(6, f.newest_first).bind(7, f.limit);
  std::vector<Firing> out;
  while (s.step()) out.push_back(read_firing(s));
  return out;
}

std::int64_t drop_pending_for_tour(store::Db& db, std::int64_t tour_id, Millis after) {
  auto s = db.prepare(
      "DELETE FROM firings WHERE tour_id = ?1 AND due_at > ?2 AND state = 'pending' AND event_id = 0");
  s.bind(1, tour_id).bind(2, after);
  s.run();
  return db.changes();
}

std::int64_t drop_pending(store::Db& db, std::int64_t schedule_id) {
  auto s = db.prepare("DELETE FROM firings WHERE schedule_id = ?1 AND state = 'pending'");
  s.bind(1, schedule_id);
  s.run();
  return db.changes();
}

std::int64_t cancel_pending(store::Db& db, std::optional<std::int64_t> schedule_id, std::optional<std::int64_t> tour_id,
                            std::string_view note, Millis at) {
  auto s = db.prepare(
      "UPDATE firings SET state = 'cancelled', note = ?3, done_at = ?4 WHERE state = 'pending' "
      "AND (CAST(?1 AS BIGINT) IS NULL OR schedule_id = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR (tour_id = ?2 AND event_id = 0))");
  s.bind(1, schedule_id).bind(2, tour_id).bind(3, note).bind(4, at);
  s.run();
  return db.changes();
}

std::map<std::string, std::int64_t> counts(store::Db& db, std::int64_t schedule_id) {
  auto s = db.prepare("SELECT state, count(*) FROM firings WHERE schedule_id = ?1 GROUP BY state");
  s.bind(1, schedule_id);
  std::map<std::string, std::int64_t> out{{"pending", 0}, {"fired", 0}, {"skipped", 0}, {"cancelled", 0}};
  while (s.step()) out[s.text(0)] = s.i64(1);
  return out;
}

std::optional<Millis> last_done(store::Db& db, std::int64_t schedule_id) {
  auto s = db.prepare("SELECT max(done_at) FROM firings WHERE schedule_id = ?1 AND state = 'fired'");
  s.bind(1, schedule_id);
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

std::int64_t pending_total(store::Db& db) {
  auto s = db.prepare("SELECT count(*) FROM firings WHERE state = 'pending'");
  s.step();
  return s.i64(0);
}

}  // namespace firings

namespace events {

std::pair<PlatformEvent, bool> insert(store::Db& db, PlatformEvent e) {
  if (e.idempotency_key) {
    auto s = db.prepare("SELECT id FROM platform_events WHERE idempotency_key = ?1");
    s.bind(1, *e.idempotency_key);
    if (s.step()) {
      auto id = s.i64(0);
      return {*find(db, id), true};
    }
  }
  auto s = db.prepare(
      "INSERT INTO platform_events (type, user_id, tour_id, vars, idempotency_key, posted_by, received_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)");
  s.bind(1, e.type).bind(2, e.user_id).bind(3, e.tour_id).bind(4, vars_json(e.vars)).bind(5, e.idempotency_key);
  s.bind(6, e.posted_by).bind(7, e.received_at);
  s.run();
  e.id = db.last_insert_rowid();
  return {std::move(e), false};
}

std::optional<PlatformEvent> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(
      "SELECT id, type, user_id, tour_id, vars, idempotency_key, posted_by, received_at FROM platform_events WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  PlatformEvent e;
  e.id = s.i64(0);
  e.type = s.text(1);
  e.user_id = s.i64(2);
  e.tour_id = s.opt_i64(3);
  e.vars = vars_from(s.text(4));
  e.idempotency_key = s.opt_text(5);
  e.posted_by = s.text(6);
  e.received_at = s.i64(7);
  return e;
}

}  // namespace events

namespace reviews {

bool record(store::Db& db, std::int64_t tour_id, std::int64_t user_id, std::string_view source, Millis at) {
  auto s = db.prepare(
      "INSERT INTO reviews (tour_id, user_id, source, reviewed_at) VALUES (?1, ?2, ?3, ?4) ON CONFLICT DO NOTHING");
  s.bind(1, tour_id).bind(2, user_id).bind(3, source).bind(4, at);
  s.run();
  return db.changes() > 0;
}

std::optional<Millis> reviewed_at(store::Db& db, std::int64_t tour_id, std::int64_t user_id) {
  auto s = db.prepare("SELECT reviewed_at FROM reviews WHERE tour_id = ?1 AND user_id = ?2");
  s.bind(1, tour_id).bind(2, user_id);
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

}  // namespace reviews
}  // namespace tourbus::schedule
