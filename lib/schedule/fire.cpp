#include "schedule/fire.hpp"

#include <algorithm>
#include <map>

#include "schedule/campaigns.hpp"
#include "schedule/plan.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::schedule {
namespace {

// Why a tour-relative firing no longer applies, or nothing.
std::optional<std::string> tour_check(store::Db& db, const Schedule& s, const Firing& f, const store::Tour& t) {
  if (t.status == "cancelled") return "tour cancelled";
  if (!store::tours::is_participant(db, t.id, f.user_id)) return "no longer taking part";
  Millis base = (s.trigger.anchor == "end" ? t.ends_at : t.starts_at) + s.trigger.offset_ms;
  if (f.due_at != base + f.step * s.trigger.every_ms) return "replanned";
  if (s.kind == "review") {
    if (reviews::reviewed_at(db, t.id, f.user_id)) return "reviewed";
    if (store::tours::is_no_show(db, t.id, f.user_id)) return "no-show";
  }
  return std::nullopt;
}

// Fills the request's recipients and variables; an error or a reason to skip says why not.
struct Skip {
  std::string state, note;
};
// A reminder to a segment reaches at most this many people (a campaign is for more).
constexpr std::int64_t kMostBySegment = 100'000;

// What one batch reads once, however many of its firings name it: schedules, and tours with
// their template variables (a tour of 100 participants has 100 firings due together).
struct Seen {
  std::map<std::int64_t, std::optional<Schedule>> schedule_by_id;
  struct TourAndVars {
    std::optional<store::Tour> tour;
    Vars vars;
  };
  std::map<std::int64_t, TourAndVars> tour_by_id;

  const std::optional<Schedule>& schedule(store::Db& db, std::int64_t id) {
    auto it = schedule_by_id.find(id);
    if (it == schedule_by_id.end()) it = schedule_by_id.emplace(id, schedules::find(db, id)).first;
    return it->second;
  }
  const TourAndVars& tour(store::Db& db, std::int64_t id) {
    auto it = tour_by_id.find(id);
    if (it == tour_by_id.end()) {
      TourAndVars t{store::tours::find(db, id), {}};
      if (t.tour) t.vars = tour_vars(db, *t.tour);
      it = tour_by_id.emplace(id, std::move(t)).first;
    }
    return it->second;
  }
};

std::optional<Skip> address(store::Db& db, Seen& seen, const Schedule& s, const Firing& f, Millis now,
                            notify::SendRequest& req) {
  const store::Tour* tour = nullptr;
  const Vars* vars_of_tour = nullptr;
  if (f.tour_id) {
    const auto& t = seen.tour(db, f.tour_id);
    if (!t.tour) return Skip{"skipped", "tour " + std::to_string(f.tour_id) + " is gone"};
    tour = &*t.tour;
    vars_of_tour = &t.vars;
  }
  if (s.trigger.kind == Trigger::Kind::tour) {
    if (auto why = tour_check(db, s, f, *tour)) return Skip{*why == "tour cancelled" ? "cancelled" : "skipped", *why};
  }
  if (f.event_id) {
    auto e = events::find(db, f.event_id);
    if (!e) return Skip{"skipped", "event " + std::to_string(f.event_id) + " is gone"};
    for (const auto& [k, v] : e->vars) req.vars.try_emplace(k, v);
  }
  if (vars_of_tour)
    for (const auto& [k, v] : *vars_of_tour) req.vars.try_emplace(k, v);

  if (f.user_id) {
    auto u = store::users::find_id(db, f.user_id);
    if (!u) return Skip{"skipped", "recipient is gone"};
    req.users = {u->handle};
    return std::nullopt;
  }
  const auto& a = s.audience;
  if (a.event) {  // a rule whose audience is the event's tour or its guide
    if (!tour) return Skip{"skipped", "the event names no tour"};
    if (*a.event == "guide") {
      if (!tour->guide_handle) return Skip{"skipped", "the tour has no guide"};
      req.users = {*tour->guide_handle};
    } else {
      req.tour = tour->id;
    }
  } else if (a.user) {
    req.users = {*a.user};
  } else if (a.tour) {
    req.tour = *a.tour;
  } else if (a.role) {
    req.role = *a.role;
  } else if (a.segment) {
    // Evaluated when it fires: who matches now.
    auto seg = compile_segment(*a.segment, now);
    if (!seg) return Skip{"skipped", "error: " + seg.error().message};
    for (auto id : campaigns::select(db, *seg, kMostBySegment))
      if (auto u = store::users::find_id(db, id)) req.users.push_back(u->handle);
    if (req.users.empty()) return Skip{"skipped", "nobody matches the segment"};
  } else {
    return Skip{"skipped", "no audience"};
  }
  return std::nullopt;
}

}  // namespace

std::vector<Fired> fire_due(store::Db& db, Millis now, const notify::PlanContext& ctx, std::size_t limit,
                            const TourLinks& links) {
  std::vector<Fired> out;
  Seen seen;
  for (auto& f : firings::due(db, now, limit)) {
    Fired r;
    r.firing = f;
    r.late_ms = std::max<Millis>(0, now - f.due_at);
    const auto& s = seen.schedule(db, f.schedule_id);
    if (!s) {
      firings::finish(db, f.id, "cancelled", std::nullopt, now, "schedule is gone");
      continue;
    }
    r.schedule = s->kind + " " + s->name;

    std::optional<Skip> skip;
    notify::SendRequest req;
    if (r.late_ms > kLateMs && s->catch_up == "skip") skip = Skip{"skipped", "missed: due " + timeutil::format_utc(f.due_at)};
    if (!skip) skip = address(db, seen, *s, f, now, req);
    if (!skip) {
      req.template_name = s->template_name;
      req.category = s->category;
      for (const auto& [k, v] : s->vars) req.vars[k] = v;  // the schedule's own values win
      req.channels = s->channels;
      req.idempotency_key = "firing:" + std::to_string(f.id);
      req.created_by = "schedule:" + s->name;
      notify::PlanContext pc = ctx;
      pc.now = now;
      if (links && f.tour_id) pc.personalize = [&](const store::User& u) { return links(u, f.tour_id); };
      auto planned = notify::plan(db, req, pc);
      if (planned) {
        r.state = "fired";
        r.jobs = static_cast<std::int64_t>(planned->jobs.size());
        firings::finish(db, f.id, "fired", planned->notification.id, now, std::nullopt);
      } else {
        skip = Skip{"skipped", "error: " + planned.error().message};
      }
    }
    if (skip) {
      r.state = skip->state;
      r.note = skip->note;
      firings::finish(db, f.id, skip->state, std::nullopt, now, skip->note);
    }
    // A cron schedule's next firing, after this one and after now: missed ones collapse into one.
    if (s->trigger.kind == Trigger::Kind::cron && s->state == "active") {
      auto next = upcoming(*s, std::max(now, f.due_at), 1);
      if (!next.empty()) firings::add(db, Firing{.schedule_id = s->id, .due_at = next.front()});
    }
    out.push_back(std::move(r));
  }
  return out;
}

}  // namespace tourbus::schedule
