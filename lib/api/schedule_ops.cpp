// reminder.* and rule.* operations: schedules an operator sets up (cron, one-shot, tour-relative)
// and the rules that answer the booking platform's events.
#include <algorithm>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/model.hpp"
#include "notify/templates.hpp"
#include "schedule/cron.hpp"
#include "schedule/plan.hpp"
#include "schedule/segment.hpp"
#include "schedule/scheduler.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;
using schedule::Schedule;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

Status check_name(const std::string& name) {
  if (name.empty() || name.size() > 64 || name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    return bad("name", "'" + name + "' is not 1-64 of a-z 0-9 . _ -");
  return {};
}

// What every schedule names: its template (which must exist), category, channels and variables.
Status read_common(Context& ctx, const object& p, Schedule& s) {
  s.name = *get_string(p, "name");
  if (auto st = check_name(s.name); !st) return st;
  s.template_name = *get_string(p, "template");
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  if (auto t = templates.find(s.template_name, ""); !t) return Error(t.error().code, t.error().message, "template");
  if (auto c = get_string(p, "category")) {
    if (!notify::is_category(*c)) return bad("category", "'" + *c + "' is not transactional, reminder, review, marketing or emergency");
    s.category = *c;
  }
  if (auto chans = get_strings(p, "channels"); !chans.empty()) {
    for (const auto& ch : chans)
      if (ch != "auto" && !channels(ctx).find(ch)) return bad("channels", "'" + ch + "' is not auto, " + channels(ctx).names());
    s.channels = chans;
  }
  for (const auto& [k, v] : get_string_map(p, "vars")) s.vars[k] = v;
  return {};
}

void wake(Context& ctx) {
  if (ctx.scheduler) ctx.scheduler->wake();
}

object firing_json(const schedule::Firing& f, std::string_view zone) {
  object o{{"firing", f.id}, {"due_at", timeutil::format_utc(f.due_at)}, {"due_local", timeutil::format_local(f.due_at, zone)},
           {"state", f.state}};
  if (f.user_id) o["user"] = f.handle;
  if (f.tour_id) o["tour"] = f.tour_id;
  if (f.event_id) o["event"] = f.event_id;
  if (f.step) o["step"] = f.step;
  if (f.done_at) o["done_at"] = timeutil::format_utc(*f.done_at);
  if (f.notification_id) o["notification"] = *f.notification_id;
  if (f.note) o["note"] = *f.note;
  return o;
}

// The zone a schedule's times are shown in.
std::string zone_of(const Schedule& s) { return s.trigger.zone.empty() ? "UTC" : s.trigger.zone; }
// A firing's: its tour's, else the schedule's.
std::string firing_zone(store::Db& db, const Schedule& s, const schedule::Firing& f) {
  if (f.tour_id)
    if (auto t = store::tours::find(db, f.tour_id)) return t->time_zone;
  return zone_of(s);
}

object schedule_json(store::Db& db, const Schedule& s) {
  object o{{"name", s.name},
           {"kind", s.kind},
           {"template", s.template_name},
           {"category", s.category ? boost::json::value(*s.category) : boost::json::value(nullptr)},
           {"audience", s.audience.describe()},
           {"trigger", s.trigger.describe()},
           {"catch_up", s.catch_up},
           {"state", s.state},
           {"created_by", s.created_by},
           {"created_at", timeutil::format_utc(s.created_at)}};
  array chans;
  for (const auto& c : s.channels) chans.emplace_back(c);
  o["channels"] = std::move(chans);
  object vars;
  for (const auto& [k, v] : s.vars) vars[k] = v;
  o["vars"] = std::move(vars);
  auto next = schedule::firings::list(db, schedule::FiringFilter{.schedule_id = s.id, .state = "pending", .limit = 1});
  o["next_due"] = next.empty() ? boost::json::value(nullptr) : boost::json::value(timeutil::format_utc(next.front().due_at));
  o["last_fired_at"] = time_or_null(schedule::firings::last_done(db, s.id));
  object counts;
  for (const auto& [state, n] : schedule::firings::counts(db, s.id)) counts[state] = n;
  o["firings"] = std::move(counts);
  return o;
}

Result<Schedule> find_schedule(store::Db& db, std::string_view kind, const object& p) {
  auto name = *get_string(p, "name");
  auto s = schedule::schedules::find_name(db, kind, name);
  if (!s) return Error(Code::not_found, "name: no " + std::string(kind) + " named '" + name + "'", "name");
  return *s;
}

// Pause, resume or remove, in one transaction with what it means for the firings.
boost::asio::awaitable<Result<Reply>> change_state(Context& ctx, std::string_view kind, const object& p, std::string state) {
  auto now = timeutil::now_ms();
  std::string k(kind);
  auto pending = ctx.writer.run<object>([k, p, state, now](store::Db& db) -> Result<object> {
    auto s = find_schedule(db, k, p);
    if (!s) return s.error();
    if (s->state == state) return schedule_json(db, *s);
    if (state == "active" && s->state != "paused") return Error(Code::conflict, "name: '" + s->name + "' is not paused", "name");
    schedule::schedules::set_state(db, s->id, state, now);
    s->state = state;
    if (state == "removed") schedule::firings::cancel_pending(db, s->id, std::nullopt, k + " removed", now);
    if (state == "active") schedule::plan_schedule(db, *s, now);
    return schedule_json(db, *s);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.{} kind={} name={}", state == "active" ? "resumed" : state, k, *get_string(p, "name"));
  wake(ctx);
  co_return Reply::ok(std::move(*r));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> reminder_add(Context& ctx, const Caller& caller, const object& p) {
  Schedule s;
  s.kind = "reminder";
  if (auto st = read_common(ctx, p, s); !st) co_return st.error();
  auto& a = s.audience;
  a.user = get_string(p, "user");
  a.tour = get_int(p, "tour");
  a.all_tours = get_bool(p, "all_tours").value_or(false);
  a.role = get_string(p, "role");
  a.segment = get_string(p, "segment");
  if (a.user.has_value() + a.tour.has_value() + a.all_tours + a.role.has_value() + a.segment.has_value() != 1)
    co_return bad("user", "give exactly one audience: user, tour, all_tours, role or segment");
  if (a.segment)
    if (auto seg = schedule::compile_segment(*a.segment, timeutil::now_ms()); !seg) co_return seg.error();
  if (a.role && *a.role != "tourist" && *a.role != "guide" && *a.role != "operator")
    co_return bad("role", "'" + *a.role + "' is not tourist, guide or operator");

  auto cron = get_string(p, "cron");
  auto at = get_string(p, "at");
  auto offset = get_string(p, "offset");
  if (cron.has_value() + at.has_value() + offset.has_value() != 1) co_return bad("cron", "give exactly one trigger: cron, at or offset");
  auto zone = get_string(p, "time_zone").value_or("UTC");
  if (!timeutil::valid_zone(zone)) co_return bad("time_zone", "'" + zone + "' is not an IANA time zone (Europe/Rome, America/New_York, UTC)");
  auto now = timeutil::now_ms();
  if (cron) {
    auto c = schedule::Cron::parse(*cron);
    if (!c) co_return c.error();
    s.trigger.kind = schedule::Trigger::Kind::cron;
    s.trigger.cron = c->text();
    s.trigger.zone = zone;
  } else if (at) {
    auto t = timeutil::parse_time(*at, zone);
    if (!t) co_return field_error("at", t.error());
    if (*t <= now) co_return bad("at", *at + " is in the past");
    s.trigger.kind = schedule::Trigger::Kind::at;
    s.trigger.at = *t;
    s.trigger.zone = zone;
  } else {
    auto t = schedule::parse_tour_offset(*offset, "offset");
    if (!t) co_return t.error();
    s.trigger = *t;
  }
  bool relative = s.trigger.kind == schedule::Trigger::Kind::tour;
  if (relative && !a.tour && !a.all_tours) co_return bad("offset", "a tour-relative reminder goes to a tour or all_tours");
  if (!relative && a.all_tours) co_return bad("all_tours", "every tour needs a tour-relative trigger (offset start-24h, end+2h)");
  s.catch_up = get_string(p, "catch_up").value_or("once");
  if (s.catch_up != "once" && s.catch_up != "skip") co_return bad("catch_up", "'" + s.catch_up + "' is not once or skip");
  s.created_by = caller.handle.empty() ? "operator" : caller.handle;
  s.created_at = s.updated_at = now;

  auto pending = ctx.writer.run<object>([s, now](store::Db& db) -> Result<object> {
    if (s.audience.user && !store::users::find(db, *s.audience.user))
      return Error(Code::not_found, "user: no user with handle '" + *s.audience.user + "'", "user");
    if (s.audience.tour && !store::tours::find(db, *s.audience.tour))
      return Error(Code::not_found, "tour: no tour " + std::to_string(*s.audience.tour), "tour");
    auto stored = schedule::schedules::insert(db, s);
    if (!stored) return stored.error();
    schedule::plan_schedule(db, *stored, now);
    return schedule_json(db, *stored);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.added kind=reminder name={} trigger=\"{}\" audience=\"{}\"", s.name,
                                 s.trigger.describe(), s.audience.describe());
  wake(ctx);
  co_return Reply::created(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> reminder_list(Context& ctx, const Caller&, const object& p) {
  bool removed = get_bool(p, "removed").value_or(false);
  auto list = ctx.reads.with([&](store::Db& db) {
    array out;
    for (const auto& s : schedule::schedules::list(db, "reminder", removed)) out.push_back(schedule_json(db, s));
    for (const auto& s : schedule::schedules::list(db, "review", removed)) out.push_back(schedule_json(db, s));
    return out;
  });
  co_return Reply::ok(object{{"reminders", std::move(list)}});
}

boost::asio::awaitable<Result<Reply>> reminder_show(Context& ctx, const Caller&, const object& p) {
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto s = find_schedule(db, "reminder", p);
    if (!s) s = find_schedule(db, "review", p);
    if (!s) return Error(Code::not_found, "name: no reminder named '" + *get_string(p, "name") + "'", "name");
    auto o = schedule_json(db, *s);
    array pending, recent;
    for (const auto& f : schedule::firings::list(db, {.schedule_id = s->id, .state = "pending", .limit = 20}))
      pending.push_back(firing_json(f, firing_zone(db, *s, f)));
    for (const auto& f : schedule::firings::list(db, {.schedule_id = s->id, .limit = 20, .newest_first = true}))
      if (f.state != "pending") recent.push_back(firing_json(f, firing_zone(db, *s, f)));
    o["pending"] = std::move(pending);
    o["recent"] = std::move(recent);
    return o;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> reminder_pause(Context& ctx, const Caller&, const object& p) {
  auto r = change_state(ctx, "reminder", p, "paused");
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> reminder_resume(Context& ctx, const Caller&, const object& p) {
  auto r = change_state(ctx, "reminder", p, "active");
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> reminder_remove(Context& ctx, const Caller&, const object& p) {
  auto r = change_state(ctx, "reminder", p, "removed");
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> reminder_next(Context& ctx, const Caller&, const object& p) {
  auto count = std::clamp<std::int64_t>(get_int(p, "count").value_or(5), 1, 100);
  auto now = timeutil::now_ms();
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto s = find_schedule(db, "reminder", p);
    if (!s) s = find_schedule(db, "review", p);
    if (!s) return Error(Code::not_found, "name: no reminder named '" + *get_string(p, "name") + "'", "name");
    array next;
    if (s->trigger.kind == schedule::Trigger::Kind::tour) {
      // Per participant and tour: what is planned, in each tour's zone.
      for (const auto& f : schedule::firings::list(db, {.schedule_id = s->id, .state = "pending", .limit = count})) {
        auto zone = firing_zone(db, *s, f);
        auto o = firing_json(f, zone);
        o["zone"] = zone;
        next.push_back(std::move(o));
      }
    } else {
      for (auto t : schedule::upcoming(*s, now, static_cast<int>(count)))
        next.push_back(object{{"due_at", timeutil::format_utc(t)},
                              {"due_local", timeutil::format_local(t, zone_of(*s))},
                              {"zone", zone_of(*s)}});
    }
    return object{{"name", s->name}, {"trigger", s->trigger.describe()}, {"state", s->state}, {"next", std::move(next)}};
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> rule_add(Context& ctx, const Caller& caller, const object& p) {
  Schedule s;
  s.kind = "rule";
  if (auto st = read_common(ctx, p, s); !st) co_return st.error();
  s.trigger.kind = schedule::Trigger::Kind::event;
  s.trigger.event = *get_string(p, "event");
  if (s.trigger.event.empty() || s.trigger.event.size() > 64 ||
      s.trigger.event.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    co_return bad("event", "'" + s.trigger.event + "' is not an event type (1-64 of a-z 0-9 . _ -)");
  if (auto d = get_string(p, "delay")) {
    auto ms = schedule::parse_duration(*d, "delay");
    if (!ms) co_return ms.error();
    s.trigger.offset_ms = *ms;
  }
  auto who = get_string(p, "audience").value_or("user");
  if (who != "user" && who != "tour" && who != "guide") co_return bad("audience", "'" + who + "' is not user, tour or guide");
  s.audience.event = who;
  s.created_by = caller.handle.empty() ? "operator" : caller.handle;
  s.created_at = s.updated_at = timeutil::now_ms();
  auto pending = ctx.writer.run<object>([s](store::Db& db) -> Result<object> {
    auto stored = schedule::schedules::insert(db, s);
    if (!stored) return stored.error();
    auto o = schedule_json(db, *stored);
    o["event"] = stored->trigger.event;
    return o;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.added kind=rule name={} trigger=\"{}\" audience={}", s.name, s.trigger.describe(), who);
  co_return Reply::created(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> rule_list(Context& ctx, const Caller&, const object&) {
  auto list = ctx.reads.with([&](store::Db& db) {
    array out;
    for (const auto& s : schedule::schedules::list(db, "rule", false)) {
      auto o = schedule_json(db, s);
      o["event"] = s.trigger.event;
      out.push_back(std::move(o));
    }
    return out;
  });
  co_return Reply::ok(object{{"rules", std::move(list)}});
}

boost::asio::awaitable<Result<Reply>> rule_remove(Context& ctx, const Caller&, const object& p) {
  auto r = change_state(ctx, "rule", p, "removed");
  co_return co_await std::move(r);
}

namespace {
const Binding kBindings[] = {
    {"reminder.add", reminder_add},       {"reminder.list", reminder_list},   {"reminder.show", reminder_show},
    {"reminder.pause", reminder_pause},   {"reminder.resume", reminder_resume}, {"reminder.remove", reminder_remove},
    {"reminder.next", reminder_next},     {"rule.add", rule_add},             {"rule.list", rule_list},
    {"rule.remove", rule_remove},
};
}  // namespace

std::span<const Binding> schedule_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
