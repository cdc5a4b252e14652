// Firing: each due firing becomes a notification through the outbox, in the same transaction that
// marks it fired (its identity is the notification's idempotency key), so a crash in between sends
// neither twice nor never. Checks made at firing time: the schedule's catch-up policy for late
// firings, and for tour-relative ones that the tour still runs at that time, the recipient still
// takes part, has not reviewed (review requests) and was not marked a no-show.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include "notify/planner.hpp"
#include "schedule/schedules.hpp"
#include "store/db.hpp"

namespace tourbus::schedule {

// What became of one firing, for the log (written after the commit).
struct Fired {
  Firing firing;
  std::string schedule;           // its kind and name: "reminder tour-eve"
  std::string state;              // fired, skipped, cancelled
  std::string note;               // why not fired
  std::int64_t jobs = 0;
  Millis late_ms = 0;
};

// A recipient's signed links for a firing about a tour (review_url); may be empty.
using TourLinks = std::function<notify::Vars(const store::User&, std::int64_t tour_id)>;

// Fires up to `limit` firings due at `now`, the earliest first. Plans the next firing of cron schedules.
std::vector<Fired> fire_due(store::Db& db, Millis now, const notify::PlanContext& ctx, std::size_t limit,
                            const TourLinks& links = {});

}  // namespace tourbus::schedule
