// event.post (what happened on the booking platform), review.status and tour.no_show: the inputs
// and the view of the rules and review requests the scheduler fires.
#include <algorithm>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "schedule/plan.hpp"
#include "schedule/scheduler.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

struct Posted {
  schedule::PlatformEvent event;
  bool duplicate = false;
  std::int64_t firings = 0;
  bool reviewed = false;  // review.submitted recorded a review
};

}  // namespace

boost::asio::awaitable<Result<Reply>> event_post(Context& ctx, const Caller& caller, const object& p) {
  schedule::PlatformEvent e;
  e.type = *get_string(p, "type");
  if (e.type.empty() || e.type.size() > 64 || e.type.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    co_return bad("type", "'" + e.type + "' is not an event type (1-64 of a-z 0-9 . _ -)");
  auto handle = *get_string(p, "user");
  e.tour_id = get_int(p, "tour");
  for (const auto& [k, v] : get_string_map(p, "vars")) e.vars[k] = v;
  e.idempotency_key = get_string(p, "idempotency_key");
  if (e.idempotency_key && (e.idempotency_key->empty() || e.idempotency_key->size() > 200))
    co_return bad("idempotency_key", "1-200 characters");
  e.posted_by = caller.handle.empty() ? "platform" : caller.handle;
  e.received_at = timeutil::now_ms();

  auto pending = ctx.writer.run<Posted>([e, handle](store::Db& db) mutable -> Result<Posted> {
    auto u = store::users::find(db, handle);
    if (!u) return Error(Code::not_found, "user: no user with handle '" + handle + "'", "user");
    e.user_id = u->id;
    if (e.tour_id && !store::tours::find(db, *e.tour_id))
      return Error(Code::not_found, "tour: no tour " + std::to_string(*e.tour_id), "tour");
    Posted out;
    auto [stored, duplicate] = schedule::events::insert(db, e);
    out.event = stored;
    out.duplicate = duplicate;
    if (duplicate) return out;
    // A review recorded stops that tour's review requests to this person at once.
    if (stored.type == "review.submitted" && stored.tour_id)
      out.reviewed = schedule::reviews::record(db, *stored.tour_id, stored.user_id, "event", stored.received_at);
    out.firings = schedule::plan_event(db, stored);
    return out;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.event_received event={} type={} user={} tour={} firings={} duplicate={}",
                                 r->event.id, r->event.type, handle, r->event.tour_id.value_or(0), r->firings, r->duplicate);
  if (r->firings && ctx.scheduler) ctx.scheduler->wake();
  object answer{{"event", r->event.id},
                {"type", r->event.type},
                {"duplicate", r->duplicate},
                {"firings", r->firings},
                {"received_at", timeutil::format_utc(r->event.received_at)}};
  if (r->reviewed) answer["review_recorded"] = true;
  co_return Reply{r->duplicate ? 200 : 202, std::move(answer)};
}

boost::asio::awaitable<Result<Reply>> review_status(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto t = store::tours::find(db, id);
    if (!t) return Error(Code::not_found, "id: no tour " + std::to_string(id), "id");
    auto review = schedule::schedules::find_name(db, "review", schedule::kReviewSchedule);
    std::vector<schedule::Firing> all;
    if (review)
      all = schedule::firings::list(db, {.schedule_id = review->id, .tour_id = id, .limit = 100000});
    array people;
    std::int64_t asked = 0, reviewed = 0;
    for (auto uid : store::tours::participant_ids(db, id)) {
      auto u = store::users::find_id(db, uid);
      if (!u) continue;
      object o{{"user", u->handle}, {"no_show", store::tours::is_no_show(db, id, uid)}};
      std::optional<std::int64_t> asked_at, last_at, next_at;
      std::int64_t nudges = 0;
      for (const auto& f : all) {
        if (f.user_id != uid) continue;
        if (f.state == "fired") {
          if (f.step == 0) asked_at = f.done_at;
          else ++nudges;
          last_at = std::max(last_at.value_or(0), f.done_at.value_or(0));
        } else if (f.state == "pending" && (!next_at || f.due_at < *next_at)) {
          next_at = f.due_at;
        }
      }
      auto rev = schedule::reviews::reviewed_at(db, id, uid);
      asked += asked_at.has_value();
      reviewed += rev.has_value();
      o["asked_at"] = time_or_null(asked_at);
      o["nudges"] = nudges;
      o["last_sent_at"] = time_or_null(last_at);
      o["reviewed_at"] = time_or_null(rev);
      o["next_at"] = time_or_null(rev ? std::nullopt : next_at);
      people.push_back(std::move(o));
    }
    return object{{"tour", id},
                  {"status", t->status},
                  {"enabled", review.has_value()},
                  {"participants", people.size()},
                  {"asked", asked},
                  {"reviewed", reviewed},
                  {"people", std::move(people)}};
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> tour_no_show(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto handles = get_strings(p, "users");
  if (handles.empty()) co_return bad("users", "name at least one participant");
  bool mark = get_bool(p, "no_show").value_or(true);
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::int64_t>([id, handles, mark, now](store::Db& db) -> Result<std::int64_t> {
    if (!store::tours::find(db, id)) return Error(Code::not_found, "id: no tour " + std::to_string(id), "id");
    std::int64_t n = 0;
    for (const auto& h : handles) {
      auto u = store::users::find(db, h);
      if (!u || !store::tours::set_no_show(db, id, u->id, mark))
        return Error(Code::not_found, "users: '" + h + "' is not taking part in tour " + std::to_string(id), "users");
      ++n;
    }
    schedule::replan_tour(db, id, now);
    return n;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.tour_no_show id={} users={} no_show={}", id, *r, mark);
  if (ctx.scheduler) ctx.scheduler->wake();
  co_return Reply::ok(object{{"tour", id}, {"marked", *r}, {"no_show", mark}});
}

namespace {
const Binding kBindings[] = {
    {"event.post", event_post},
    {"review.status", review_status},
    {"tour.no_show", tour_no_show},
};
}  // namespace

std::span<const Binding> event_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
