// Planning: turns schedules into pending firings. A cron or one-shot schedule has one pending
// firing at a time (the next); a tour-relative one has one per participant and tour (and per nudge
// for review requests), planned afresh whenever a tour or its participants change; a rule gets one
// per matching platform event. Everything runs in the caller's write transaction.
#pragma once

#include <cstdint>
#include <vector>

#include "core/error.hpp"
#include "schedule/schedules.hpp"
#include "store/db.hpp"
#include "store/tours.hpp"

namespace tourbus::schedule {

// A firing more than this late (the daemon was down, or the schedule paused) follows the
// schedule's catch-up policy: fire once now, or skip.
inline constexpr Millis kLateMs = 60'000;

// Plans the first firings of a new or resumed schedule (nothing for rules).
void plan_schedule(store::Db& db, const Schedule& s, Millis now);
// Plans a tour afresh after any change (times, status, participants, no-shows): drops its pending
// tour-relative firings and adds those still ahead; a cancelled tour's are cancelled.
void replan_tour(store::Db& db, std::int64_t tour_id, Millis now);
// The firings of the rules an event matches; returns how many were added.
std::int64_t plan_event(store::Db& db, const PlatformEvent& e);
// When a cron or one-shot schedule fires next, up to `count` times after `now`.
std::vector<Millis> upcoming(const Schedule& s, Millis now, int count);
// The review requests as configured (review.* in tourbus.toml(5)).
struct ReviewSettings {
  std::string template_name;  // empty: none
  Millis after_ms = 0;
  int nudges = 0;
  Millis every_ms = 0;
};
inline constexpr std::string_view kReviewSchedule = "review-requests";
// Keeps the review-request schedule in line with the settings, planning it afresh when they
// changed; returns whether anything changed.
bool sync_review(store::Db& db, const ReviewSettings& r, Millis now);
// Template variables describing a tour: tour_id, tour_title, start_local, end_local (in the tour's
// zone: "Sun 2026-12-06 09:00 CET"), meeting_point, guide.
Vars tour_vars(store::Db& db, const store::Tour& t);

}  // namespace tourbus::schedule
