// Live location during tours: consent per tour, each person's last known position and the trail
// behind it, and the tour's sharing window. Positions are personal data: stored only inside a
// window and with consent, deleted when consent is withdrawn and after location.retention_hours.
#pragma once

#include <cstdint>
#include <optional>
#include <vector>

#include "core/config.hpp"
#include "safety/geo.hpp"
#include "store/db.hpp"
#include "store/tours.hpp"

namespace tourbus::safety {

struct Position {
  std::int64_t user_id = 0, tour_id = 0;
  double lat = 0, lon = 0;
  std::optional<double> accuracy, heading, speed, battery;
  std::int64_t at = 0;  // when the daemon received it (ms since the epoch)
};

// When a tour's participants may share: from location.window_before_minutes before its start to
// location.window_after_minutes after its end.
struct Window {
  std::int64_t from = 0, to = 0;
  bool contains(std::int64_t t) const { return t >= from && t <= to; }
};
Window window(const store::Tour& t, const config::Config& cfg);

namespace locations {

bool sharing(store::Db& db, std::int64_t tour, std::int64_t user);
// Records consent. Withdrawing it deletes the person's positions of that tour at once.
void set_sharing(store::Db& db, std::int64_t tour, std::int64_t user, bool share, std::int64_t now);
// The tours (not cancelled) the user leads or takes part in whose window holds `now`.
std::vector<store::Tour> tours_in_window(store::Db& db, std::int64_t user, std::int64_t now, const config::Config& cfg);
// Stores the position as the person's last known one and appends it to their trail.
void record(store::Db& db, const Position& p);
std::optional<Position> last(store::Db& db, std::int64_t user);
// The last positions recorded on a tour, one per person.
std::vector<Position> on_tour(store::Db& db, std::int64_t tour);
// A person's trail on a tour, oldest first, at most `limit` points (the newest).
std::vector<Position> trail(store::Db& db, std::int64_t tour, std::int64_t user, std::int64_t limit);
// Last positions inside any of the boxes and recorded at or after `since` (a prefilter: the
// caller tests the exact area).
std::vector<Position> in_boxes(store::Db& db, const std::vector<geo::Box>& boxes, std::int64_t since);
// Deletes every position recorded before `before`; returns how many rows went.
std::int64_t purge(store::Db& db, std::int64_t before);

}  // namespace locations
}  // namespace tourbus::safety
