#include "safety/sos.hpp"

namespace tourbus::safety {
namespace sos {
namespace {

constexpr std::string_view kColumns =
    "s.id, s.user_id, u.handle, u.display_name, s.client_id, s.tour_id, s.lat, s.lon, s.accuracy, s.located_at, s.note, "
    "s.state, s.conversation, s.rings, s.next_ring_at, s.raised_at, s.acked_by, s.acked_at, s.resolved_by, s.resolved_at, "
    "s.resolution FROM sos s JOIN users u ON u.id = s.user_id";

Sos read(store::Stmt& st) {
  Sos s;
  s.id = st.i64(0);
  s.user_id = st.i64(1);
  s.handle = st.text(2);
  s.display_name = st.text(3);
  s.client_id = st.opt_text(4);
  s.tour_id = st.opt_i64(5);
  s.lat = st.opt_real(6);
  s.lon = st.opt_real(7);
  s.accuracy = st.opt_real(8);
  s.located_at = st.opt_i64(9);
  s.note = st.opt_text(10);
  s.state = st.text(11);
  s.conversation = st.opt_i64(12);
  s.rings = st.i64(13);
  s.next_ring_at = st.opt_i64(14);
  s.raised_at = st.i64(15);
  s.acked_by = st.opt_text(16);
  s.acked_at = st.opt_i64(17);
  s.resolved_by = st.opt_text(18);
  s.resolved_at = st.opt_i64(19);
  s.resolution = st.opt_text(20);
  return s;
}

std::vector<Sos> all(store::Stmt& st) {
  std::vector<Sos> out;
  while (st.step()) out.push_back(read(st));
  return out;
}

}  // namespace

std::pair<Sos, bool> insert(store::Db& db, Sos s) {
  if (s.client_id) {
    auto st = db.prepare("SELECT " + std::string(kColumns) + " WHERE s.user_id = ?1 AND s.client_id = ?2");
    st.bind(1, s.user_id).bind(2, *s.client_id);
    if (st.step()) return {read(st), true};
  }
  db.prepare(
        "INSERT INTO sos (user_id, client_id, tour_id, lat, lon, accuracy, located_at, note, next_ring_at, raised_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)")
      .bind(1, s.user_id)
      .bind(2, s.client_id)
      .bind(3, s.tour_id)
      .bind(4, s.lat)
      .bind(5, s.lon)
      .bind(6, s.accuracy)
      .bind(7, s.located_at)
      .bind(8, s.note)
      .bind(9, s.next_ring_at)
      .bind(10, s.raised_at)
      .run();
  return {*find(db, db.last_insert_rowid()), false};
}

std::optional<Sos> find(store::Db& db, std::int64_t id) {
  auto st = db.prepare("SELECT " + std::string(kColumns) + " WHERE s.id = ?1");
  st.bind(1, id);
  if (!st.step()) return std::nullopt;
  return read(st);
}

std::vector<Sos> list(store::Db& db, const std::string& state, std::int64_t limit) {
  auto st = db.prepare("SELECT " + std::string(kColumns) +
                       " WHERE (?1 = 'all' OR (?1 = '' AND s.state != 'resolved') OR s.state = ?1) ORDER BY s.id DESC LIMIT ?2");
  st.bind(1, state).bind(2, limit);
  return all(st);
}

void set_conversation(store::Db& db, std::int64_t id, std::int64_t conversation) {
  db.prepare("UPDATE sos SET conversation = ?2 WHERE id = ?1").bind(1, id).bind(2, conversation).run();
}

bool acknowledge(store::Db& db, std::int64_t id, const std::string& by, std::int64_t now) {
  db.prepare("UPDATE sos SET state = 'acknowledged', acked_by = ?2, acked_at = ?3, next_ring_at = NULL "
             "WHERE id = ?1 AND state = 'open'")
      .bind(1, id)
      .bind(2, by)
      .bind(3, now)
      .run();
  return db.changes() > 0;
}

bool resolve(store::Db& db, std::int64_t id, const std::string& by, const std::optional<std::string>& note, std::int64_t now) {
  db.prepare("UPDATE sos SET state = 'resolved', resolved_by = ?2, resolved_at = ?3, resolution = ?4, next_ring_at = NULL "
             "WHERE id = ?1 AND state != 'resolved'")
      .bind(1, id)
      .bind(2, by)
      .bind(3, now)
      .bind(4, note)
      .run();
  return db.changes() > 0;
}

std::vector<Sos> ringing(store::Db& db, std::int64_t now) {
  auto st = db.prepare("SELECT " + std::string(kColumns) +
                       " WHERE s.state = 'open' AND s.next_ring_at IS NOT NULL AND s.next_ring_at <= ?1 ORDER BY s.id");
  st.bind(1, now);
  return all(st);
}

std::optional<std::int64_t> next_ring(store::Db& db) {
  auto st = db.prepare("SELECT min(next_ring_at) FROM sos WHERE state = 'open'");
  if (!st.step()) return std::nullopt;
  return st.opt_i64(0);
}

void rang(store::Db& db, std::int64_t id, std::int64_t next_ring_at) {
  db.prepare("UPDATE sos SET rings = rings + 1, next_ring_at = ?2 WHERE id = ?1").bind(1, id).bind(2, next_ring_at).run();
}

bool ring_now(store::Db& db, std::int64_t id, std::int64_t now) {
  db.prepare("UPDATE sos SET next_ring_at = ?2 WHERE id = ?1 AND state = 'open'").bind(1, id).bind(2, now).run();
  return db.changes() > 0;
}

}  // namespace sos

namespace duty {

bool on(store::Db& db, std::int64_t user, const std::string& by, std::int64_t now) {
  db.prepare("INSERT INTO duty (user_id, since, by) VALUES (?1, ?2, ?3) ON CONFLICT (user_id) DO NOTHING")
      .bind(1, user)
      .bind(2, now)
      .bind(3, by)
      .run();
  return db.changes() > 0;
}

bool off(store::Db& db, std::int64_t user) {
  db.prepare("DELETE FROM duty WHERE user_id = ?1").bind(1, user).run();
  return db.changes() > 0;
}

std::vector<DutyEntry> list(store::Db& db) {
  auto st = db.prepare(
      "SELECT d.user_id, u.handle, u.display_name, d.by, d.since FROM duty d JOIN users u ON u.id = d.user_id ORDER BY u.handle");
  std::vector<DutyEntry> out;
  while (st.step()) out.push_back(DutyEntry{st.i64(0), st.text(1), st.text(2), st.text(3), st.i64(4)});
  return out;
}

std::vector<std::int64_t> ids(store::Db& db) {
  auto st = db.prepare(
      "SELECT d.user_id FROM duty d JOIN users u ON u.id = d.user_id WHERE u.disabled = 0 ORDER BY d.user_id");
  std::vector<std::int64_t> out;
  while (st.step()) out.push_back(st.i64(0));
  return out;
}

}  // namespace duty
}  // namespace tourbus::safety
