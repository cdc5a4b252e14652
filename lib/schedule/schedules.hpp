// The schedules, firings, platform_events and reviews tables. Every statement on them is here.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "schedule/trigger.hpp"
#include "store/db.hpp"

namespace tourbus::schedule {

using Vars = std::map<std::string, std::string>;

struct Schedule {
  std::int64_t id = 0;
  std::string kind = "reminder";  // reminder, rule, review
  std::string name;
  std::string template_name;
  std::optional<std::string> category;  // unset: the template's
  Audience audience;
  Trigger trigger;
  std::vector<std::string> channels = {"auto"};
  Vars vars;
  std::string catch_up = "once";  // once, skip
  std::string state = "active";   // active, paused, removed
  std::string created_by;
  Millis created_at = 0, updated_at = 0;
};

struct Firing {
  std::int64_t id = 0, schedule_id = 0;
  Millis due_at = 0;
  std::int64_t user_id = 0, tour_id = 0, event_id = 0;
  int step = 0;
  std::string state = "pending";  // pending, fired, skipped, cancelled
  std::optional<std::int64_t> notification_id;
  std::optional<Millis> done_at;
  std::optional<std::string> note;
  std::string handle;  // the recipient's, filled by reads (empty: the whole audience)
};

struct FiringFilter {
  std::optional<std::int64_t> schedule_id, tour_id, user_id;
  std::optional<std::string> kind, state;
  std::int64_t limit = 100;
  bool newest_first = false;
};

struct PlatformEvent {
  std::int64_t id = 0;
  std::string type;
  std::int64_t user_id = 0;
  std::optional<std::int64_t> tour_id;
  Vars vars;
  std::optional<std::string> idempotency_key;
  std::string posted_by;
  Millis received_at = 0;
};

// The JSON text of the vars and channels columns, both ways (unreadable text reads as empty).
std::string vars_json(const Vars& vars);
Vars vars_from(const std::string& text);
std::string list_json(const std::vector<std::string>& items);
std::vector<std::string> list_from(const std::string& text);

namespace schedules {
// already_exists when an active or paused schedule of the kind has the name.
Result<Schedule> insert(store::Db& db, Schedule s);
std::optional<Schedule> find(store::Db& db, std::int64_t id);
// By name among the schedules of a kind that are not removed.
std::optional<Schedule> find_name(store::Db& db, std::string_view kind, std::string_view name);
std::vector<Schedule> list(store::Db& db, std::optional<std::string_view> kind, bool include_removed);
void set_state(store::Db& db, std::int64_t id, std::string_view state, Millis now);
// Writes the changeable fields (template, category, audience, trigger, channels, vars, catch-up).
void update(store::Db& db, const Schedule& s);
// Rules for an event type that are active.
std::vector<Schedule> rules_for(store::Db& db, std::string_view event_type);
// Schedules relative to tours (reminders with an anchor, review requests) that are not removed.
std::vector<Schedule> tour_relative(store::Db& db);
}  // namespace schedules

namespace firings {
// False when a firing with the same identity exists already.
bool add(store::Db& db, const Firing& f);
// Pending firings due at `now` of active schedules, the earliest first.
std::vector<Firing> due(store::Db& db, Millis now, std::size_t limit);
// The earliest due time of a pending firing of an active schedule.
std::optional<Millis> next_due(store::Db& db);
void finish(store::Db& db, std::int64_t id, std::string_view state, std::optional<std::int64_t> notification_id,
            Millis at, std::optional<std::string> note);
std::vector<Firing> list(store::Db& db, const FiringFilter& f);
// Deletes the pending tour-relative firings of a tour due after `after`, so they can be planned
// afresh. Overdue ones stay for the catch-up policy (firing re-checks the tour). Returns how many.
std::int64_t drop_pending_for_tour(store::Db& db, std::int64_t tour_id, Millis after);
// Deletes a schedule's pending firings, to plan it afresh after a change. Returns how many.
std::int64_t drop_pending(store::Db& db, std::int64_t schedule_id);
// Marks pending firings cancelled: a removed schedule's, or a cancelled tour's tour-relative ones
// (a rule's firings for the tour stay: a "tour cancelled" message must still go). Returns how many.
std::int64_t cancel_pending(store::Db& db, std::optional<std::int64_t> schedule_id, std::optional<std::int64_t> tour_id,
                            std::string_view note, Millis at);
// Counts per state for a schedule.
std::map<std::string, std::int64_t> counts(store::Db& db, std::int64_t schedule_id);
std::optional<Millis> last_done(store::Db& db, std::int64_t schedule_id);
std::int64_t pending_total(store::Db& db);
}  // namespace firings

namespace events {
// The stored event, and whether it was there already (same idempotency key).
std::pair<PlatformEvent, bool> insert(store::Db& db, PlatformEvent e);
std::optional<PlatformEvent> find(store::Db& db, std::int64_t id);
}  // namespace events

namespace reviews {
// False when already recorded.
bool record(store::Db& db, std::int64_t tour_id, std::int64_t user_id, std::string_view source, Millis at);
std::optional<Millis> reviewed_at(store::Db& db, std::int64_t tour_id, std::int64_t user_id);
}  // namespace reviews

}  // namespace tourbus::schedule
