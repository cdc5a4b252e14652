// tour.* operations. Guides and tourists see only the tours they lead or take part in.
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"
#include "schedule/plan.hpp"
#include "schedule/scheduler.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

Error no_tour(std::int64_t id) { return Error(Code::not_found, "no tour with id " + std::to_string(id), "id"); }

// The user a handle names, checked for the role a tour needs of them.
Result<store::User> user_with_role(store::Db& db, std::string_view field, const std::string& handle, Role role) {
  auto u = store::users::find(db, handle);
  if (!u) return Error(Code::not_found, std::string(field) + ": no user with handle '" + handle + "'", std::string(field));
  if (u->role != role_name(role))
    return Error(Code::invalid_argument,
                 std::string(field) + ": '" + handle + "' is a " + u->role + ", not a " + std::string(role_name(role)),
                 std::string(field));
  if (u->disabled)
    return Error(Code::invalid_argument, std::string(field) + ": the account '" + handle + "' is disabled", std::string(field));
  return *u;
}

// Validates and copies the scalar fields present in p onto t (not guide or participants).
Status apply_fields(store::Tour& t, const object& p) {
  if (auto title = get_string(p, "title")) {
    auto r = validate::text(*title, 200);
    if (!r) return field_error("title", r.error());
    t.title = *r;
  }
  if (auto zone = get_string(p, "time_zone")) {
    auto r = validate::time_zone(*zone);
    if (!r) return field_error("time_zone", r.error());
    t.time_zone = *r;
  }
  for (auto [key, slot] : {std::pair{"starts_at", &t.starts_at}, std::pair{"ends_at", &t.ends_at}}) {
    if (auto text = get_string(p, key)) {
      auto r = timeutil::parse_time(*text, t.time_zone);
      if (!r) return field_error(key, r.error());
      *slot = *r;
    }
  }
  if (t.ends_at <= t.starts_at)
    return Error(Code::invalid_argument,
                 "ends_at: the tour must end after it starts (at " + timeutil::format_local(t.starts_at, t.time_zone) + ")", "ends_at");
  if (is_null(p, "meeting_label")) {
    t.meeting_label.reset();
    t.meeting_lat.reset();
    t.meeting_lon.reset();
  }
  if (auto label = get_string(p, "meeting_label")) {
    auto r = validate::text(*label, 200);
    if (!r) return field_error("meeting_label", r.error());
    t.meeting_label = *r;
  }
  auto lat = get_number(p, "meeting_lat");
  auto lon = get_number(p, "meeting_lon");
  if (lat.has_value() != lon.has_value())
    return Error(Code::invalid_argument, "meeting_lat and meeting_lon go together", lat ? "meeting_lon" : "meeting_lat");
  if (lat) {
    if (*lat < -90 || *lat > 90) return Error(Code::invalid_argument, "meeting_lat: must be -90 to 90", "meeting_lat");
    if (*lon < -180 || *lon > 180) return Error(Code::invalid_argument, "meeting_lon: must be -180 to 180", "meeting_lon");
    t.meeting_lat = lat;
    t.meeting_lon = lon;
  }
  return {};
}

bool can_see(const Caller& c, store::Db& db, const store::Tour& t) {
  if (c.is_operator()) return true;
  if (t.guide_id && *t.guide_id == c.user_id) return true;
  return store::tours::is_participant(db, t.id, c.user_id);
}

// Loads, changes and stores one tour inside the writer's transaction.
// The tour's conversation follows it: its members are announced once the write has committed.
struct Saved {
  store::Tour tour;
  std::vector<chat::MembersChanged> changes;
};

template <class F>
boost::asio::awaitable<Result<Reply>> modify(Context& ctx, std::int64_t id, std::string_view event, F change) {
  auto pending = ctx.writer.run<Saved>([id, change](store::Db& db) -> Result<Saved> {
    auto t = store::tours::find(db, id);
    if (!t) return no_tour(id);
    if (auto st = change(db, *t); !st) return st.error();
    t->updated_at = timeutil::now_ms();
    store::tours::update(db, *t);
    auto changes = chat::sync_tour(db, *t, t->updated_at);
    schedule::replan_tour(db, t->id, t->updated_at);
    return Saved{*store::tours::find(db, id), std::move(changes)};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.{} id={} status={}", event, r->tour.id, r->tour.status);
  for (const auto& c : r->changes) announce(ctx, c);
  if (ctx.scheduler) ctx.scheduler->wake();
  co_return Reply::ok(to_json(r->tour));
}

Status require_open(const store::Tour& t) {
  if (t.status == "finished" || t.status == "cancelled")
    return Error(Code::conflict, "tour " + std::to_string(t.id) + " is " + t.status + " and can no longer change");
  return {};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> tour_create(Context& ctx, const Caller&, const object& p) {
  store::Tour t;
  // The zone comes first: local start and end times are read in it.
  if (auto st = apply_fields(t, p); !st) co_return st.error();
  auto now = timeutil::now_ms();
  t.created_at = t.updated_at = now;
  auto guide = get_string(p, "guide");
  auto participants = get_strings(p, "participants");
  auto pending = ctx.writer.run<Saved>([t, guide, participants, now](store::Db& db) mutable -> Result<Saved> {
    if (guide) {
      auto g = user_with_role(db, "guide", *guide, Role::guide);
      if (!g) return g.error();
      t.guide_id = g->id;
    }
    std::vector<std::int64_t> ids;
    for (const auto& h : participants) {
      auto u = user_with_role(db, "participants", h, Role::tourist);
      if (!u) return u.error();
      ids.push_back(u->id);
    }
    t = store::tours::insert(db, t);
    for (auto id : ids) store::tours::add_participant(db, t.id, id, now);
    auto changes = chat::sync_tour(db, t, now);
    schedule::replan_tour(db, t.id, now);
    return Saved{*store::tours::find(db, t.id), std::move(changes)};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.tour_created id={} starts_at={}", r->tour.id, timeutil::format_utc(r->tour.starts_at));
  for (const auto& c : r->changes) announce(ctx, c);
  if (ctx.scheduler) ctx.scheduler->wake();
  auto out = to_json(r->tour);
  out["conversation"] = ctx.reads.with([&](store::Db& db) { return *chat::conversations::find_tour(db, r->tour.id); });
  co_return Reply::created(std::move(out));
}

boost::asio::awaitable<Result<Reply>> tour_list(Context& ctx, const Caller& caller, const object& p) {
  store::TourFilter f;
  if (auto s = get_string(p, "status")) {
    if (*s != "scheduled" && *s != "running" && *s != "finished" && *s != "cancelled")
      co_return Error(Code::invalid_argument, "status: '" + *s + "' is not scheduled, running, finished or cancelled", "status");
    f.status = *s;
  }
  for (auto [key, slot] : {std::pair{"from", &f.from}, std::pair{"to", &f.to}}) {
    if (auto text = get_string(p, key)) {
      auto r = timeutil::parse_time(*text, "UTC");
      if (!r) co_return field_error(key, r.error());
      *slot = *r;
    }
  }
  f.limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(1000), 1, 1000);
  if (!caller.is_operator()) f.visible_to = caller.user_id;
  auto result = ctx.reads.with([&](store::Db& db) -> Result<std::vector<store::Tour>> {
    for (auto [key, slot] : {std::pair{"guide", &f.guide_id}, std::pair{"participant", &f.participant_id}}) {
      if (auto h = get_string(p, key)) {
        auto u = store::users::find(db, *h);
        if (!u) return Error(Code::not_found, std::string(key) + ": no user with handle '" + *h + "'", key);
        *slot = u->id;
      }
    }
    auto list = store::tours::list(db, f);
    for (auto& t : list) t.participants = store::tours::participants(db, t.id);
    return list;
  });
  if (!result) co_return result.error();
  boost::json::array out;
  for (const auto& t : *result) out.push_back(to_json(t));
  co_return Reply::ok(object{{"tours", std::move(out)}});
}

boost::asio::awaitable<Result<Reply>> tour_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto result = ctx.reads.with([&](store::Db& db) -> Result<store::Tour> {
    auto t = store::tours::find(db, id);
    // A tour the caller may not see is reported as missing, so ids reveal nothing.
    if (!t || !can_see(caller, db, *t)) return no_tour(id);
    return *t;
  });
  if (!result) co_return result.error();
  co_return Reply::ok(to_json(*result));
}

boost::asio::awaitable<Result<Reply>> tour_update(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  object changes = p;
  auto pending = modify(ctx, id, "tour_updated", [changes](store::Db& db, store::Tour& t) -> Status {
    if (auto st = require_open(t); !st) return st;
    if (auto st = apply_fields(t, changes); !st) return st;
    if (is_null(changes, "guide")) t.guide_id.reset();
    if (auto guide = get_string(changes, "guide")) {
      auto g = user_with_role(db, "guide", *guide, Role::guide);
      if (!g) return g.error();
      t.guide_id = g->id;
    }
    if (auto status = get_string(changes, "status"); status && *status != t.status) {
      bool ok = (t.status == "scheduled" && (*status == "running" || *status == "finished")) ||
                (t.status == "running" && *status == "finished");
      if (*status == "cancelled")
        return Error(Code::invalid_argument, "status: use tour.cancel (tourbus tour cancel) to cancel a tour", "status");
      if (*status != "scheduled" && *status != "running" && *status != "finished")
        return Error(Code::invalid_argument, "status: '" + *status + "' is not scheduled, running or finished", "status");
      if (!ok) return Error(Code::conflict, "status: a " + t.status + " tour cannot become " + *status, "status");
      t.status = *status;
    }
    return {};
  });
  co_return co_await std::move(pending);
}

namespace {

template <bool Join>
boost::asio::awaitable<Result<Reply>> change_members(Context& ctx, const object& p) {
  auto id = *get_int(p, "id");
  auto handles = get_strings(p, "users");
  if (handles.empty()) co_return Error(Code::invalid_argument, "users: name at least one user", "users");
  auto pending = modify(ctx, id, Join ? "tour_joined" : "tour_left", [handles](store::Db& db, store::Tour& t) -> Status {
    if (auto st = require_open(t); !st) return st;
    auto now = timeutil::now_ms();
    for (const auto& h : handles) {
      if constexpr (Join) {
        auto u = user_with_role(db, "users", h, Role::tourist);
        if (!u) return u.error();
        store::tours::add_participant(db, t.id, u->id, now);
      } else {
        auto u = store::users::find(db, h);
        if (!u || !store::tours::remove_participant(db, t.id, u->id))
          return Error(Code::not_found, "users: '" + h + "' is not taking part in tour " + std::to_string(t.id), "users");
      }
    }
    return {};
  });
  co_return co_await std::move(pending);
}

}  // namespace

boost::asio::awaitable<Result<Reply>> tour_join(Context& ctx, const Caller&, const object& p) {
  auto pending = change_members<true>(ctx, p);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> tour_leave(Context& ctx, const Caller&, const object& p) {
  auto pending = change_members<false>(ctx, p);
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> tour_cancel(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto reason = get_string(p, "reason");
  if (reason) {
    auto r = validate::text(*reason, 500);
    if (!r) co_return field_error("reason", r.error());
    reason = *r;
  }
  auto pending = modify(ctx, id, "tour_cancelled", [reason](store::Db&, store::Tour& t) -> Status {
    if (auto st = require_open(t); !st) return st;
    t.status = "cancelled";
    t.cancel_reason = reason;
    return {};
  });
  co_return co_await std::move(pending);
}

namespace {
const Binding kBindings[] = {
    {"tour.create", tour_create},
    {"tour.list", tour_list},
    {"tour.show", tour_show},
    {"tour.update", tour_update},
    {"tour.join", tour_join},
    {"tour.leave", tour_leave},
    {"tour.cancel", tour_cancel},
};
}  // namespace

std::span<const Binding> tour_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
