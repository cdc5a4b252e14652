// What live positions mean for a tour as they arrive: stragglers (a participant farther than
// location.straggler_meters from the guide for location.straggler_seconds, and back again), the
// meeting point's geofence (entered, left), and the per-connection rate limit. In memory, on the
// daemon's event loop: after a restart the first position of each person sets their state again.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <unordered_map>
#include <utility>
#include <vector>

#include "safety/geo.hpp"

namespace tourbus::safety {

class Tracker {
 public:
  struct Settings {
    double straggler_m = 500;
    std::int64_t straggler_ms = 300'000;
    double geofence_m = 150;
  };
  struct Change {
    enum class Kind { straggler, back, entered, left };
    Kind kind;
    std::int64_t user = 0;
    double distance_m = 0;  // from the guide (straggler, back) or the meeting point (entered, left)
  };

  // Whether a connection (`key`) may record a position now: at most one per min_interval_ms.
  // Only recorded positions count (`recorded`); a refused attempt does not start the interval.
  bool allow(std::uint64_t key, std::int64_t now, std::int64_t min_interval_ms);
  void recorded(std::uint64_t key, std::int64_t now);

  // A participant's position `p` on `tour`, against the guide's last one and the meeting point.
  std::vector<Change> update(std::int64_t tour, std::int64_t user, geo::Point p, std::optional<geo::Point> guide,
                             std::optional<geo::Point> meeting, std::int64_t now, const Settings& s);
  bool is_straggler(std::int64_t tour, std::int64_t user) const;
  // The person stopped sharing: their state goes.
  void forget(std::int64_t tour, std::int64_t user);

 private:
  struct State {
    std::optional<std::int64_t> far_since;
    bool warned = false;
    std::optional<bool> inside;
  };
  std::map<std::pair<std::int64_t, std::int64_t>, State> states_;
  std::unordered_map<std::uint64_t, std::int64_t> last_;  // connection -> last accepted position
  std::int64_t swept_at_ = 0;
};

}  // namespace tourbus::safety
