#include "schedule/plan.hpp"

#include "schedule/cron.hpp"
#include "store/users.hpp"

namespace tourbus::schedule {
namespace {

// The due times of a tour-relative schedule for a tour: the first message and its nudges.
std::vector<Millis> tour_due_times(const Trigger& t, const store::Tour& tour) {
  Millis base = (t.anchor == "end" ? tour.ends_at : tour.starts_at) + t.offset_ms;
  std::vector<Millis> out{base};
  for (int i = 1; i <= t.nudges; ++i) out.push_back(base + i * t.every_ms);
  return out;
}

bool applies_to(const Schedule& s, std::int64_t tour_id) {
  if (s.kind == "review") return true;
  return s.audience.all_tours || (s.audience.tour && *s.audience.tour == tour_id);
}

void plan_tour_schedule(store::Db& db, const Schedule& s, const store::Tour& tour, Millis now) {
  if (tour.status == "cancelled") return;
  auto due = tour_due_times(s.trigger, tour);
  for (auto user : store::tours::participant_ids(db, tour.id)) {
    if (s.kind == "review" && store::tours::is_no_show(db, tour.id, user)) continue;
    for (std::size_t step = 0; step < due.size(); ++step) {
      if (due[step] <= now) continue;  // late joiners get only what is still ahead
      Firing f;
      f.schedule_id = s.id;
      f.due_at = due[step];
      f.user_id = user;
      f.tour_id = tour.id;
      f.step = static_cast<int>(step);
      firings::add(db, f);
    }
  }
}

}  // namespace

std::vector<Millis> upcoming(const Schedule& s, Millis now, int count) {
  std::vector<Millis> out;
  if (s.trigger.kind == Trigger::Kind::at) {
    if (s.trigger.at > now) out.push_back(s.trigger.at);
  } else if (s.trigger.kind == Trigger::Kind::cron) {
    auto cron = Cron::parse(s.trigger.cron);
    if (!cron) return out;
    Millis t = now;
    while (static_cast<int>(out.size()) < count) {
      auto n = cron->next(t, s.trigger.zone);
      if (!n) break;
      out.push_back(*n);
      t = *n;
    }
  }
  return out;
}

void plan_schedule(store::Db& db, const Schedule& s, Millis now) {
  switch (s.trigger.kind) {
    case Trigger::Kind::cron:
    case Trigger::Kind::at: {
      // One pending firing at a time; a resumed schedule keeps the one it had.
      if (!firings::list(db, FiringFilter{.schedule_id = s.id, .state = "pending", .limit = 1}).empty()) return;
      auto next = upcoming(s, now, 1);
      if (next.empty()) return;
      firings::add(db, Firing{.schedule_id = s.id, .due_at = next.front()});
      return;
    }
    case Trigger::Kind::tour: {
      std::vector<std::int64_t> tours;
      if (s.audience.tour) {
        tours.push_back(*s.audience.tour);
      } else {
        // Tours still running or ahead, and those whose review requests are still to come.
        Millis reach = -s.trigger.offset_ms - s.trigger.nudges * s.trigger.every_ms;
        tours = store::tours::open_ids_ending_after(db, now + std::min<Millis>(reach, 0) - 1);
      }
      for (auto id : tours)
        if (auto t = store::tours::find(db, id)) plan_tour_schedule(db, s, *t, now);
      return;
    }
    case Trigger::Kind::event: return;
  }
}

void replan_tour(store::Db& db, std::int64_t tour_id, Millis now) {
  auto tour = store::tours::find(db, tour_id);
  if (!tour) return;
  if (tour->status == "cancelled") {
    firings::cancel_pending(db, std::nullopt, tour_id, "tour cancelled", now);
    return;
  }
  firings::drop_pending_for_tour(db, tour_id, now);
  for (const auto& s : schedules::tour_relative(db))
    if (applies_to(s, tour_id)) plan_tour_schedule(db, s, *tour, now);
}

std::int64_t plan_event(store::Db& db, const PlatformEvent& e) {
  std::int64_t added = 0;
  for (const auto& rule : schedules::rules_for(db, e.type)) {
    Firing f;
    f.schedule_id = rule.id;
    f.due_at = e.received_at + rule.trigger.offset_ms;
    f.event_id = e.id;
    f.tour_id = e.tour_id.value_or(0);
    const auto& who = rule.audience.event.value_or("user");
    if (who == "user") f.user_id = e.user_id;
    added += firings::add(db, f);
  }
  return added;
}

bool sync_review(store::Db& db, const ReviewSettings& r, Millis now) {
  auto current = schedules::find_name(db, "review", kReviewSchedule);
  if (r.template_name.empty()) {
    if (!current) return false;
    schedules::set_state(db, current->id, "removed", now);
    firings::cancel_pending(db, current->id, std::nullopt, "review requests switched off", now);
    return true;
  }
  Trigger t;
  t.kind = Trigger::Kind::tour;
  t.anchor = "end";
  t.offset_ms = r.after_ms;
  t.nudges = r.nudges;
  t.every_ms = r.every_ms;
  if (current && current->template_name == r.template_name && current->trigger.to_json() == t.to_json()) return false;
  Schedule s;
  if (current) {
    s = *current;
  } else {
    s.kind = "review";
    s.name = kReviewSchedule;
    s.category = "review";
    s.audience.all_tours = true;
    s.created_by = "config";
    s.created_at = now;
  }
  s.template_name = r.template_name;
  s.trigger = t;
  s.updated_at = now;
  if (current) {
    schedules::update(db, s);
    firings::drop_pending(db, s.id);
  } else {
    auto inserted = schedules::insert(db, s);
    if (!inserted) return false;
    s = *inserted;
  }
  plan_schedule(db, s, now);
  return true;
}

Vars tour_vars(store::Db& db, const store::Tour& t) {
  Vars v{{"tour_id", std::to_string(t.id)},
         {"tour_title", t.title},
         {"start_local", timeutil::format_wall(t.starts_at, t.time_zone)},
         {"end_local", timeutil::format_wall(t.ends_at, t.time_zone)},
         {"meeting_point", t.meeting_label.value_or("")},
         {"guide", ""}};
  if (t.guide_id)
    if (auto g = store::users::find_id(db, *t.guide_id)) v["guide"] = g->display_name;
  return v;
}

}  // namespace tourbus::schedule
