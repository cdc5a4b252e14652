#include "safety/locations.hpp"

#include <algorithm>

namespace tourbus::safety {

Window window(const store::Tour& t, const config::Config& cfg) {
  return {t.starts_at - cfg.location_window_before_minutes * 60'000, t.ends_at + cfg.location_window_after_minutes * 60'000};
}

namespace locations {
namespace {

constexpr std::string_view kColumns = "user_id, tour_id, lat, lon, accuracy, heading, speed, battery, at";

Position read(store::Stmt& st) {
  Position p;
  p.user_id = st.i64(0);
  p.tour_id = st.i64(1);
  p.lat = st.real(2);
  p.lon = st.real(3);
  p.accuracy = st.opt_real(4);
  p.heading = st.opt_real(5);
  p.speed = st.opt_real(6);
  p.battery = st.opt_real(7);
  p.at = st.i64(8);
  return p;
}

std::vector<Position> all(store::Stmt& st) {
  std::vector<Position> out;
  while (st.step()) out.push_back(read(st));
  return out;
}

}  // namespace

bool sharing(store::Db& db, std::int64_t tour, std::int64_t user) {
  auto st = db.prepare("SELECT sharing FROM location_consents WHERE tour_id = ?1 AND user_id = ?2");
  st.bind(1, tour).bind(2, user);
  return st.step() && st.i64(0) != 0;
}

void set_sharing(store::Db& db, std::int64_t tour, std::int64_t user, bool share, std::int64_t now) {
  db.prepare(
        "INSERT INTO location_consents (tour_id, user_id, sharing, updated_at) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (tour_id, user_id) DO UPDATE SET sharing = excluded.sharing, updated_at = excluded.updated_at")
      .bind(1, tour)
      .bind(2, user)
      .bind(3, share)
      .bind(4, now)
      .run();
  if (share) return;
  db.prepare("DELETE FROM location_trail WHERE tour_id = ?1 AND user_id = ?2").bind(1, tour).bind(2, user).run();
  db.prepare("DELETE FROM locations WHERE tour_id = ?1 AND user_id = ?2").bind(1, tour).bind(2, user).run();
}

std::vector<store::Tour> tours_in_window(store::Db& db, std::int64_t user, std::int64_t now, const config::Config& cfg) {
  store::TourFilter f;
  f.visible_to = user;
  f.from = now - cfg.location_window_after_minutes * 60'000 - 1;  // [from, to) overlap: the end counts
  f.to = now + cfg.location_window_before_minutes * 60'000 + 1;
  std::vector<store::Tour> out;
  for (auto& t : store::tours::list(db, f))
    if (t.status != "cancelled" && window(t, cfg).contains(now)) out.push_back(std::move(t));
  return out;
}

void record(store::Db& db, const Position& p) {
  db.prepare(
        "INSERT INTO locations (user_id, tour_id, lat, lon, accuracy, heading, speed, battery, at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) ON CONFLICT (user_id) DO UPDATE SET tour_id = excluded.tour_id, "
        "lat = excluded.lat, lon = excluded.lon, accuracy = excluded.accuracy, heading = excluded.heading, "
        "speed = excluded.speed, battery = excluded.battery, at = excluded.at")
      .bind(1, p.user_id)
      .bind(2, p.tour_id)
      .bind(3, p.lat)
      .bind(4, p.lon)
      .bind(5, p.accuracy)
      .bind(6, p.heading)
      .bind(7, p.speed)
      .bind(8, p.battery)
      .bind(9, p.at)
      .run();
  db.prepare("INSERT INTO location_trail (user_id, tour_id, lat, lon, accuracy, at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)")
      .bind(1, p.user_id)
      .bind(2, p.tour_id)
      .bind(3, p.lat)
      .bind(4, p.lon)
      .bind(5, p.accuracy)
      .bind(6, p.at)
      .run();
}

std::optional<Position> last(store::Db& db, std::int64_t user) {
  auto st = db.prepare("SELECT " + std::string(kColumns) + " FROM locations WHERE user_id = ?1");
  st.bind(1, user);
  if (!st.step()) return std::nullopt;
  return read(st);
}

std::vector<Position> on_tour(store::Db& db, std::int64_t tour) {
  auto st = db.prepare("SELECT " + std::string(kColumns) + " FROM locations WHERE tour_id = ?1 ORDER BY user_id");
  st.bind(1, tour);
  return all(st);
}

std::vector<Position> trail(store::Db& db, std::int64_t tour, std::int64_t user, std::int64_t limit) {
  auto st = db.prepare(
      "SELECT user_id, tour_id, lat, lon, accuracy, NULL, NULL, NULL, at FROM location_trail "
      "WHERE tour_id = ?1 AND user_id = ?2 ORDER BY at DESC, id DESC LIMIT ?3");
  st.bind(1, tour).bind(2, user).bind(3, limit);
  auto out = all(st);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<Position> in_boxes(store::Db& db, const std::vector<geo::Box>& boxes, std::int64_t since) {
  std::vector<Position> out;
  for (const auto& b : boxes) {
    auto st = db.prepare("SELECT " + std::string(kColumns) +
                         " FROM locations WHERE lat BETWEEN ?1 AND ?2 AND lon BETWEEN ?3 AND ?4 AND at >= ?5");
    st.bind(1, b.min_lat).bind(2, b.max_lat).bind(3, b.min_lon).bind(4, b.max_lon).bind(5, since);
    for (auto& p : all(st)) out.push_back(p);
  }
  return out;
}

std::int64_t purge(store::Db& db, std::int64_t before) {
  db.prepare("DELETE FROM location_trail WHERE at < ?1").bind(1, before).run();
  std::int64_t n = db.changes();
  db.prepare("DELETE FROM locations WHERE at < ?1").bind(1, before).run();
  return n + db.changes();
}

}  // namespace locations
}  // namespace tourbus::safety
