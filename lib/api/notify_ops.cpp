// notify.* and queue.* operations: sending notifications through the outbox, and watching and
// repairing the queue.
#include <algorithm>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "notify/planner.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;

notify::PlanContext send_context(Context& ctx, const notify::Templates& templates, const config::Config& cfg) {
  auto pc = plan_context(ctx, templates, cfg);
  // Every marketing message can carry its recipient's own unsubscribe link ({{unsubscribe_url}}).
  pc.personalize = [&ctx](const store::User& u) { return unsubscribe_vars(ctx, u, 0); };
  return pc;
}

notify::JobFilter job_filter(const object& p) {
  notify::JobFilter f;
  if (auto s = get_string(p, "state")) f.state = *s;
  if (auto c = get_string(p, "channel")) f.channel = *c;
  if (auto n = get_int(p, "notification")) f.notification_id = *n;
  if (auto j = get_int(p, "job")) f.id = *j;
  f.before_id = get_int(p, "before").value_or(0);
  f.limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(100), 1, 1000);
  return f;
}

Status check_filter(Context& ctx, const notify::JobFilter& f) {
  if (f.state && *f.state != "queued" && *f.state != "delivered" && *f.state != "dead" && *f.state != "cancelled")
    return Error(Code::invalid_argument, "state: queued, delivered, dead or cancelled", "state");
  if (f.channel && !channels(ctx).find(*f.channel))
    return Error(Code::invalid_argument, "channel: '" + *f.channel + "' is not a channel", "channel");
  return {};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> notify_send(Context& ctx, const Caller& caller, const object& p) {
  notify::SendRequest req;
  req.category = get_string(p, "category");
  req.template_name = get_string(p, "template");
  req.subject = get_string(p, "subject").value_or("");
  req.text = get_string(p, "text").value_or("");
  if (req.template_name && (has(p, "text") || has(p, "subject")))
    co_return Error(Code::invalid_argument, "text: give a template or a literal subject/text, not both", "text");
  if (req.text.size() > 16384) co_return Error(Code::payload_too_large, "text: at most 16384 bytes", "text");
  req.vars = get_string_map(p, "vars");
  req.channels = get_strings(p, "channels");
  req.idempotency_key = get_string(p, "idempotency_key");
  if (req.idempotency_key && (req.idempotency_key->empty() || req.idempotency_key->size() > 200))
    co_return Error(Code::invalid_argument, "idempotency_key: 1-200 characters", "idempotency_key");
  req.users = get_strings(p, "users");
  req.tour = get_int(p, "tour");
  req.role = get_string(p, "role");
  req.created_by = caller.handle.empty() ? "platform" : caller.handle;
  req.dry_run = get_bool(p, "dry_run").value_or(false);
  if (get_bool(p, "escalate").value_or(false)) {
    if (req.template_name) co_return Error(Code::invalid_argument, "escalate: give a literal subject/text (templates are not tracked)", "escalate");
    if (req.dry_run || !req.channels.empty() || !req.vars.empty())
      co_return Error(Code::invalid_argument, "escalate: not with dry_run, channels or vars (every channel each person has is used)", "escalate");
    auto r = send_tracked(ctx, caller, std::move(req));
    co_return co_await std::move(r);
  }

  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = send_context(ctx, *templates, *cfg);
  Result<notify::Planned> planned = Error(Code::internal, "");
  if (req.dry_run) {
    // Nothing is written: plan on a read connection.
    planned = ctx.reads.with([&](store::Db& db) { return notify::plan(db, req, pc); });
  } else {
    auto pending = ctx.writer.run<notify::Planned>(
        [req, pc, templates](store::Db& db) -> Result<notify::Planned> { return notify::plan(db, req, pc); });
    planned = co_await std::move(pending);
  }
  if (!planned) co_return planned.error();
  if (!req.dry_run && !planned->duplicate && ctx.notify) ctx.notify->wake();

  array jobs, skipped;
  for (const auto& j : planned->jobs) {
    auto o = to_json(j);
    if (req.dry_run) {
      o.erase("id");
      o.erase("notification");
      o["text"] = j.body;
    }
    jobs.push_back(std::move(o));
  }
  for (const auto& s : planned->skipped)
    skipped.push_back(object{{"user", s.user}, {"channel", s.channel.empty() ? boost::json::value(nullptr) : boost::json::value(s.channel)},
                             {"reason", s.reason}});
  object answer{{"dry_run", req.dry_run}, {"duplicate", planned->duplicate}, {"category", planned->notification.category},
                {"jobs", std::move(jobs)}, {"skipped", std::move(skipped)}};
  answer["notification"] = req.dry_run ? boost::json::value(nullptr) : boost::json::value(planned->notification.id);
  if (planned->notification.idempotency_key) answer["idempotency_key"] = *planned->notification.idempotency_key;
  logging::get("notify")->info("notify.enqueued notification={} jobs={} skipped={} duplicate={} dry_run={} by={}",
                               planned->notification.id, planned->jobs.size(), planned->skipped.size(),
                               planned->duplicate, req.dry_run, req.created_by);
  if (req.dry_run || planned->duplicate) co_return Reply::ok(std::move(answer));
  co_return Reply{202, std::move(answer)};
}

boost::asio::awaitable<Result<Reply>> notify_list(Context& ctx, const Caller&, const object& p) {
  auto f = job_filter(p);
  if (auto st = check_filter(ctx, f); !st) co_return st.error();
  auto result = ctx.reads.with([&](store::Db& db) -> Result<array> {
    if (auto u = get_string(p, "user")) {
      auto user = store::users::find(db, *u);
      if (!user) return Error(Code::not_found, "user: no user with handle '" + *u + "'", "user");
      f.user_id = user->id;
    }
    array out;
    for (const auto& j : notify::outbox::jobs(db, f)) out.push_back(to_json(j));
    return out;
  });
  if (!result) co_return result.error();
  co_return Reply::ok(object{{"jobs", std::move(*result)}});
}

boost::asio::awaitable<Result<Reply>> notify_show(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto j = notify::outbox::find_job(db, id);
    if (!j) return Error(Code::not_found, "id: no job " + std::to_string(id), "id");
    auto o = to_json(*j);
    o["text"] = j->body;
    array attempts;
    for (const auto& a : notify::outbox::attempts(db, id))
      attempts.push_back(object{{"at", timeutil::format_utc(a.at)},
                                {"outcome", a.outcome},
                                {"status", a.status},
                                {"response", a.response},
                                {"duration_ms", a.duration_ms}});
    o["attempts_made"] = std::move(attempts);
    return o;
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> queue_status(Context& ctx, const Caller&, const object&) {
  auto now = timeutil::now_ms();
  auto rows = ctx.reads.with([&](store::Db& db) { return notify::outbox::status(db, now); });
  std::vector<notify::ChannelStats> live;
  if (ctx.notify) live = ctx.notify->stats();
  array listed;
  for (const auto* channel : channels(ctx).all()) {
    auto name = channel->name;
    object c{{"channel", name}};
    auto it = std::ranges::find_if(live, [&](const notify::ChannelStats& s) { return s.channel == name; });
    c["configured"] = it != live.end() && it->configured;
    c["in_flight"] = it != live.end() ? it->in_flight : 0;
    c["delivered"] = it != live.end() ? it->delivered : 0;
    c["retried"] = it != live.end() ? it->retried : 0;
    c["dead_since_start"] = it != live.end() ? it->dead : 0;
    c["rate_per_second"] = it != live.end() ? it->rate : 0.0;
    array lanes;
    std::int64_t dead = 0;
    for (int lane = 0; lane < 3; ++lane) {
      object l{{"lane", notify::kLanes[static_cast<std::size_t>(lane)]}, {"queued", 0}, {"due", 0}, {"oldest_due_at", nullptr}};
      for (const auto& r : rows) {
        if (r.channel != name || r.lane != lane) continue;
        l["queued"] = r.queued;
        l["due"] = r.due;
        l["oldest_due_at"] = time_or_null(r.oldest_due_at);
        if (r.oldest_due_at) l["oldest_due_age_ms"] = now - *r.oldest_due_at;
        dead += r.dead;
      }
      lanes.push_back(std::move(l));
    }
    c["lanes"] = std::move(lanes);
    c["dead"] = dead;
    listed.push_back(std::move(c));
  }
  co_return Reply::ok(object{{"channels", std::move(listed)}});
}

boost::asio::awaitable<Result<Reply>> queue_retry(Context& ctx, const Caller&, const object& p) {
  auto f = job_filter(p);
  if (auto st = check_filter(ctx, f); !st) co_return st.error();
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::int64_t>([f, now](store::Db& db) -> Result<std::int64_t> {
    return notify::outbox::retry_dead(db, f, now);
  });
  auto n = co_await std::move(pending);
  if (!n) co_return n.error();
  if (ctx.notify) ctx.notify->wake();
  logging::get("notify")->info("notify.dead_retried jobs={}", *n);
  co_return Reply::ok(object{{"retried", *n}});
}

boost::asio::awaitable<Result<Reply>> queue_purge(Context& ctx, const Caller&, const object& p) {
  auto f = job_filter(p);
  if (auto st = check_filter(ctx, f); !st) co_return st.error();
  auto pending = ctx.writer.run<std::int64_t>([f](store::Db& db) -> Result<std::int64_t> {
    return notify::outbox::purge_dead(db, f);
  });
  auto n = co_await std::move(pending);
  if (!n) co_return n.error();
  logging::get("notify")->info("notify.dead_purged jobs={}", *n);
  co_return Reply::ok(object{{"purged", *n}});
}

boost::asio::awaitable<Result<Reply>> queue_cancel(Context& ctx, const Caller& caller, const object& p) {
  auto f = job_filter(p);
  if (auto st = check_filter(ctx, f); !st) co_return st.error();
  auto category = get_string(p, "category");
  if (category && !notify::is_category(*category))
    co_return Error(Code::invalid_argument, "category: '" + *category + "' is not transactional, reminder, review, marketing or emergency", "category");
  auto user = get_string(p, "user");
  if (!f.notification_id && !f.id && !user && !f.channel && !category)
    co_return Error(Code::invalid_argument, "notification: name what to cancel: a notification, a job, a user, a channel or a category",
                    "notification");
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::int64_t>([f, user, category, now](store::Db& db) mutable -> Result<std::int64_t> {
    if (user) {
      auto u = store::users::find(db, *user);
      if (!u) return Error(Code::not_found, "user: no user with handle '" + *user + "'", "user");
      f.user_id = u->id;
    }
    return notify::outbox::cancel_queued(db, f, category, now);
  });
  auto n = co_await std::move(pending);
  if (!n) co_return n.error();
  logging::get("notify")->info("notify.jobs_cancelled jobs={} by={}", *n, caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::ok(object{{"cancelled", *n}});
}

namespace {
const Binding kBindings[] = {
    {"queue.cancel", queue_cancel},
    {"notify.send", notify_send},
    {"notify.list", notify_list},
    {"notify.show", notify_show},
    {"queue.status", queue_status},
    {"queue.retry", queue_retry},
    {"queue.purge", queue_purge},
};
}  // namespace

std::span<const Binding> notify_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
