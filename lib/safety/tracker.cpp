#include "safety/tracker.hpp"

#include <algorithm>

namespace tourbus::safety {

bool Tracker::allow(std::uint64_t key, std::int64_t now, std::int64_t min_interval_ms) {
  // Connections come and go: forget the ones quiet for a minute, at most once a minute.
  if (now - swept_at_ > 60'000) {
    std::erase_if(last_, [&](const auto& kv) { return now - kv.second > std::max<std::int64_t>(60'000, min_interval_ms); });
    swept_at_ = now;
  }
  auto it = last_.find(key);
  return it == last_.end() || now - it->second >= min_interval_ms;
}

void Tracker::recorded(std::uint64_t key, std::int64_t now) { last_[key] = now; }

std::vector<Tracker::Change> Tracker::update(std::int64_t tour, std::int64_t user, geo::Point p,
                                             std::optional<geo::Point> guide, std::optional<geo::Point> meeting,
                                             std::int64_t now, const Settings& s) {
  std::vector<Change> out;
  auto& st = states_[{tour, user}];
  if (guide) {
    auto d = geo::distance_m(p, *guide);
    if (d > s.straggler_m) {
      if (!st.far_since) st.far_since = now;
      if (!st.warned && now - *st.far_since >= s.straggler_ms) {
        st.warned = true;
        out.push_back({Change::Kind::straggler, user, d});
      }
    } else {
      st.far_since.reset();
      if (st.warned) {
        st.warned = false;
        out.push_back({Change::Kind::back, user, d});
      }
    }
  }
  if (meeting) {
    auto d = geo::distance_m(p, *meeting);
    bool inside = d <= s.geofence_m;
    if (st.inside != inside && (st.inside.has_value() || inside))
      out.push_back({inside ? Change::Kind::entered : Change::Kind::left, user, d});
    st.inside = inside;
  }
  return out;
}

bool Tracker::is_straggler(std::int64_t tour, std::int64_t user) const {
  auto it = states_.find({tour, user});
  return it != states_.end() && it->second.warned;
}

void Tracker::forget(std::int64_t tour, std::int64_t user) { states_.erase({tour, user}); }

}  // namespace tourbus::safety
