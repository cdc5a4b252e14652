#include "store/tours.hpp"

namespace tourbus::store::tours {
namespace {

constexpr const char* kSelect =
    "SELECT t.id, t.title, t.starts_at, t.ends_at, t.time_zone, t.meeting_label, t.meeting_lat, t.meeting_lon, "
    "t.guide_id, g.handle, t.status, t.cancel_reason, t.created_at, t.updated_at "
    "FROM tours t LEFT JOIN users g ON g.id = t.guide_id ";

Tour read(const Stmt& s) {
  Tour t;
  t.id = s.i64(0);
  t.title = s.text(1);
  t.starts_at = s.i64(2);
  t.ends_at = s.i64(3);
  t.time_zone = s.text(4);
  t.meeting_label = s.opt_text(5);
  t.meeting_lat = s.opt_real(6);
  t.meeting_lon = s.opt_real(7);
  t.guide_id = s.opt_i64(8);
  t.guide_handle = s.opt_text(9);
  t.status = s.text(10);
  t.cancel_reason = s.opt_text(11);
  t.created_at = s.i64(12);
  t.updated_at = s.i64(13);
  return t;
}

void bind_fields(Stmt& s, const Tour& t) {
  s.bind(1, t.title).bind(2, t.starts_at).bind(3, t.ends_at).bind(4, t.time_zone).bind(5, t.meeting_label);
  s.bind(6, t.meeting_lat).bind(7, t.meeting_lon).bind(8, t.guide_id).bind(9, t.status).bind(10, t.cancel_reason);
  s.bind(11, t.created_at).bind(12, t.updated_at);
}

}  // namespace

std::vector<std::int64_t> participant_ids(Db& db, std::int64_t tour_id) {
  auto s = db.prepare("SELECT user_id FROM tour_participants WHERE tour_id = ? ORDER BY user_id");
  s.bind(1, tour_id);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::vector<std::string> participants(Db& db, std::int64_t tour_id) {
  auto s = db.prepare(
      "SELECT u.handle FROM tour_participants p JOIN users u ON u.id = p.user_id WHERE p.tour_id = ?1 "
      "ORDER BY p.joined_at, u.handle");
  s.bind(1, tour_id);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

Tour insert(Db& db, Tour t) {
  auto s = db.prepare(
      "INSERT INTO tours (title, starts_at, ends_at, time_zone, meeting_label, meeting_lat, meeting_lon, guide_id, "
      "status, cancel_reason, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)");
  bind_fields(s, t);
  s.run();
  t.id = db.last_insert_rowid();
  return t;
}

std::optional<Tour> find(Db& db, std::int64_t id) {
  std::optional<Tour> t;
  {
    auto s = db.prepare(std::string(kSelect) + "WHERE t.id = ?1");
    s.bind(1, id);
    if (!s.step()) return std::nullopt;
    t = read(s);
  }
  t->participants = participants(db, id);
  return t;
}

std::vector<Tour> list(Db& db, const TourFilter& f) {
  auto s = db.prepare(std::string(kSelect) +
                      "WHERE (CAST(?1 AS TEXT) IS NULL OR t.status = ?1) AND (CAST(?2 AS BIGINT) IS NULL OR t.guide_id = ?2) "
                      "AND (CAST(?3 AS BIGINT) IS NULL OR EXISTS (SELECT 1 FROM tour_participants p WHERE p.tour_id = t.id AND p.user_id = ?3)) "
                      "AND (CAST(?4 AS BIGINT) IS NULL OR t.guide_id = ?4 OR EXISTS (SELECT 1 FROM tour_participants p "
                      "     WHERE p.tour_id = t.id AND p.user_id = ?4)) "
                      "AND (CAST(?5 AS BIGINT) IS NULL OR t.ends_at > ?5) AND (CAST(?6 AS BIGINT) IS NULL OR t.starts_at < ?6) "
                      "ORDER BY t.starts_at, t.id LIMIT ?7");
  s.bind(1, f.status).bind(2, f.guide_id).bind(3, f.participant_id).bind(4, f.visible_to);
  s.bind(5, f.from).bind(6, f.to).bind(7, f.limit);
  std::vector<Tour> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

void update(Db& db, const Tour& t) {
  auto s = db.prepare(
      "UPDATE tours SET title = ?1, starts_at = ?2, ends_at = ?3, time_zone = ?4, meeting_label = ?5, "
      "meeting_lat = ?6, meeting_lon = ?7, guide_id = ?8, status = ?9, cancel_reason = ?10, created_at = ?11, "
      "updated_at = ?12 WHERE id = ?13");
  bind_fields(s, t);
  s.bind(13, t.id);
  s.run();
}

bool add_participant(Db& db, std::int64_t tour_id, std::int64_t user_id, std::int64_t now) {
  auto s = db.prepare("INSERT INTO tour_participants (tour_id, user_id, joined_at) VALUES (?1, ?2, ?3) ON CONFLICT DO NOTHING");
  s.bind(1, tour_id).bind(2, user_id).bind(3, now);
  s.run();
  return db.changes() > 0;
}

bool remove_participant(Db& db, std::int64_t tour_id, std::int64_t user_id) {
  auto s = db.prepare("DELETE FROM tour_participants WHERE tour_id = ?1 AND user_id = ?2");
  s.bind(1, tour_id).bind(2, user_id);
  s.run();
  return db.changes() > 0;
}

bool is_participant(Db& db, std::int64_t tour_id, std::int64_t user_id) {
  auto s = db.prepare("SELECT 1 FROM tour_participants WHERE tour_id = ?1 AND user_id = ?2");
  s.bind(1, tour_id).bind(2, user_id);
  return s.step();
}

bool set_no_show(Db& db, std::int64_t tour_id, std::int64_t user_id, bool no_show) {
  auto s = db.prepare("UPDATE tour_participants SET no_show = ?3 WHERE tour_id = ?1 AND user_id = ?2");
  s.bind(1, tour_id).bind(2, user_id).bind(3, no_show);
  s.run();
  return db.changes() > 0;
}

bool group_locations(Db& db, std::int64_t tour_id) {
  auto s = db.prepare("SELECT group_locations FROM tours WHERE id = ?1");
  s.bind(1, tour_id);
  return s.step() && s.i64(0) != 0;
}

void set_group_locations(Db& db, std::int64_t tour_id, bool visible) {
  db.prepare("UPDATE tours SET group_locations = ?2 WHERE id = ?1").bind(1, tour_id).bind(2, visible).run();
}

bool is_no_show(Db& db, std::int64_t tour_id, std::int64_t user_id) {
  auto s = db.prepare("SELECT no_show FROM tour_participants WHERE tour_id = ?1 AND user_id = ?2");
  s.bind(1, tour_id).bind(2, user_id);
  return s.step() && s.i64(0) != 0;
}

std::vector<std::int64_t> open_ids_ending_after(Db& db, std::int64_t t) {
  auto s = db.prepare("SELECT id FROM tours WHERE status != 'cancelled' AND ends_at > ?1 ORDER BY id");
  s.bind(1, t);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

}  // namespace tourbus::store::tours
