// campaign.* operations: marketing campaigns to a segment, throttled and capped by the campaign
// runner (schedule/campaign_runner.hpp); previews and figures.
#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/outbox.hpp"
#include "notify/planner.hpp"
#include "notify/templates.hpp"
#include "schedule/campaign_runner.hpp"
#include "schedule/campaigns.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;
using schedule::Campaign;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

object campaign_json(store::Db& db, const Campaign& c) {
  auto st = schedule::campaigns::stats(db, c.id);
  std::int64_t skipped = 0;
  for (const auto& [k, n] : st.skipped) skipped += n;
  array chans;
  for (const auto& ch : c.channels) chans.emplace_back(ch);
  object vars;
  for (const auto& [k, v] : c.vars) vars[k] = v;
  return object{{"name", c.name},
                {"template", c.template_name},
                {"segment", c.segment},
                {"channels", std::move(chans)},
                {"vars", std::move(vars)},
                {"state", c.state},
                {"start_at", time_or_null(c.start_at)},
                {"rate_per_second", c.rate_per_second},
                {"pause_reason", c.pause_reason ? boost::json::value(*c.pause_reason) : boost::json::value(nullptr)},
                {"created_by", c.created_by},
                {"created_at", timeutil::format_utc(c.created_at)},
                {"started_at", time_or_null(c.started_at)},
                {"finished_at", time_or_null(c.finished_at)},
                {"targeted", st.targeted},
                {"pending", st.pending},
                {"queued", st.queued},
                {"skipped", skipped}};
}

Result<Campaign> find_campaign(store::Db& db, const object& p) {
  auto name = *get_string(p, "name");
  auto c = schedule::campaigns::find_name(db, name);
  if (!c) return Error(Code::not_found, "name: no campaign named '" + name + "'", "name");
  return *c;
}

void wake(Context& ctx) {
  if (ctx.campaigns) ctx.campaigns->wake();
}

// Moves a campaign from one of `from` to `to` (with what that means), answering it.
template <class F>
boost::asio::awaitable<Result<Reply>> transition(Context& ctx, const object& p, std::vector<std::string> from, F change) {
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<object>([p, from, change, now](store::Db& db) -> Result<object> {
    auto c = find_campaign(db, p);
    if (!c) return c.error();
    if (std::ranges::find(from, c->state) == from.end())
      return Error(Code::conflict, "name: campaign '" + c->name + "' is " + c->state, "name");
    if (auto st = change(db, *c, now); !st) return st.error();
    c->updated_at = now;
    schedule::campaigns::update(db, *c);
    return campaign_json(db, *c);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.campaign_{} campaign={}", r->at("state").as_string().c_str(), *get_string(p, "name"));
  wake(ctx);
  co_return Reply::ok(std::move(*r));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> campaign_create(Context& ctx, const Caller& caller, const object& p) {
  Campaign c;
  c.name = *get_string(p, "name");
  if (c.name.empty() || c.name.size() > 64 || c.name.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789._-") != std::string::npos)
    co_return bad("name", "'" + c.name + "' is not 1-64 of a-z 0-9 . _ -");
  c.template_name = *get_string(p, "template");
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto t = templates.find(c.template_name, "");
  if (!t) co_return Error(t.error().code, t.error().message, "template");
  if (t->category != "marketing")
    co_return bad("template", "'" + c.template_name + "' is a " + t->category + " template; campaigns send marketing ones");
  c.segment = *get_string(p, "segment");
  auto now = timeutil::now_ms();
  if (auto seg = schedule::compile_segment(c.segment, now); !seg) co_return seg.error();
  if (auto chans = get_strings(p, "channels"); !chans.empty()) {
    for (const auto& ch : chans)
      if (ch != "auto" && !channels(ctx).find(ch)) co_return bad("channels", "'" + ch + "' is not auto, " + channels(ctx).names());
    c.channels = chans;
  }
  for (const auto& [k, v] : get_string_map(p, "vars")) c.vars[k] = v;
  c.rate_per_second = get_int(p, "rate_per_second").value_or(0);
  if (c.rate_per_second < 0 || c.rate_per_second > 1'000'000) co_return bad("rate_per_second", "0-1000000");
  c.created_by = caller.handle.empty() ? "operator" : caller.handle;
  c.created_at = c.updated_at = now;
  auto pending = ctx.writer.run<object>([c](store::Db& db) -> Result<object> {
    auto stored = schedule::campaigns::insert(db, c);
    if (!stored) return stored.error();
    return campaign_json(db, *stored);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("schedule")->info("schedule.campaign_created campaign={} template={}", c.name, c.template_name);
  co_return Reply::created(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> campaign_list(Context& ctx, const Caller&, const object&) {
  auto list = ctx.reads.with([&](store::Db& db) {
    array out;
    for (const auto& c : schedule::campaigns::list(db)) out.push_back(campaign_json(db, c));
    return out;
  });
  co_return Reply::ok(object{{"campaigns", std::move(list)}});
}

// Dry-runs the whole audience (no rendering is stored) for the counts, and shows the message of
// the first person reached in each language.
Result<object> preview(Context& ctx, const object& p) {
  auto cfg = ctx.config.get();
  auto templates = notify::Templates(cfg->templates_dir(), cfg->notify_default_language);
  notify::PlanContext pc{templates, channels(ctx), {}, *cfg, timeutil::now_ms()};
  if (ctx.notify) pc.configured = ctx.notify->configured();
  pc.personalize = [](const store::User&) { return notify::Vars{{"unsubscribe_url", "(the recipient's unsubscribe link)"}}; };
  return ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto c = find_campaign(db, p);
    if (!c) return c.error();
    auto seg = schedule::compile_segment(c->segment, pc.now);
    if (!seg) return seg.error();
    auto ids = schedule::campaigns::select(db, *seg, 1'000'000);
    notify::SendRequest req;
    req.category = "marketing";
    req.template_name = c->template_name;
    req.vars = c->vars;
    req.channels = c->channels;
    req.dry_run = true;
    std::map<std::string, std::int64_t> by_language;
    std::map<std::string, std::string> language_of;  // by handle
    for (auto id : ids) {
      auto u = store::users::find_id(db, id);
      if (!u) continue;
      ++by_language[u->language];
      language_of[u->handle] = u->language;
      req.users.push_back(u->handle);
    }
    object per_channel, per_language, skipped, samples;
    auto bump = [](object& o, std::string_view key) {
      auto& n = o[key];
      n = (n.is_int64() ? n.as_int64() : 0) + 1;
    };
    if (!req.users.empty()) {
      auto planned = notify::plan(db, req, pc);
      if (!planned) return planned.error();
      std::map<std::string, const notify::Job*> first_job;  // by handle
      for (const auto& j : planned->jobs) {
        bump(per_channel, j.channel);
        first_job.try_emplace(j.handle, &j);
      }
      for (const auto& handle : req.users) {  // in the segment's order: the first reached of each language
        auto job = first_job.find(handle);
        if (job == first_job.end()) continue;
        auto lang = language_of.at(handle);
        if (!samples.contains(lang))
          samples[lang] = object{{"user", handle}, {"subject", job->second->subject}, {"text", job->second->body}};
      }
      for (const auto& s : planned->skipped) bump(skipped, s.reason);
    }
    for (const auto& [lang, n] : by_language) per_language[lang] = n;
    return object{{"name", c->name},
                  {"segment", c->segment},
                  {"matched", static_cast<std::int64_t>(ids.size())},
                  {"by_channel", std::move(per_channel)},
                  {"by_language", std::move(per_language)},
                  {"skipped", std::move(skipped)},
                  {"samples", std::move(samples)}};
  });
}

boost::asio::awaitable<Result<Reply>> campaign_preview(Context& ctx, const Caller&, const object& p) {
  // A large audience takes a while: on the blocking pool, so other requests do not wait for it.
  // (co_spawn needs a default-constructible result: an optional around it.)
  auto work = [&ctx, p]() -> boost::asio::awaitable<std::optional<Result<object>>> { co_return preview(ctx, p); };
  auto pending = boost::asio::co_spawn(ctx.blocking, work, boost::asio::use_awaitable);
  auto r = co_await std::move(pending);
  if (!r) co_return Error(Code::internal, "preview: no result");
  if (!*r) co_return r->error();
  co_return Reply::ok(std::move(**r));
}

boost::asio::awaitable<Result<Reply>> campaign_schedule(Context& ctx, const Caller&, const object& p) {
  auto zone = get_string(p, "time_zone").value_or("UTC");
  if (!timeutil::valid_zone(zone)) co_return bad("time_zone", "'" + zone + "' is not an IANA time zone");
  auto at = timeutil::parse_time(*get_string(p, "at"), zone);
  if (!at) co_return field_error("at", at.error());
  if (*at <= timeutil::now_ms()) co_return bad("at", "that is in the past; use campaign.start to start now");
  auto when = *at;
  std::vector<std::string> from{"draft", "scheduled"};
  auto r = transition(ctx, p, from, [when](store::Db&, Campaign& c, std::int64_t) -> Status {
    c.state = "scheduled";
    c.start_at = when;
    return {};
  });
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> campaign_start(Context& ctx, const Caller&, const object& p) {
  std::vector<std::string> from{"draft", "scheduled"};
  auto r = transition(ctx, p, from, [](store::Db& db, Campaign& c, std::int64_t now) -> Status {
    auto n = schedule::start_campaign(db, c, now);
    if (!n) return n.error();
    return {};
  });
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> campaign_pause(Context& ctx, const Caller&, const object& p) {
  auto reason = get_string(p, "reason").value_or("paused by an operator");
  std::vector<std::string> from{"running", "scheduled"};
  auto r = transition(ctx, p, from, [reason](store::Db&, Campaign& c, std::int64_t) -> Status {
    c.state = "paused";
    c.pause_reason = reason;
    return {};
  });
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> campaign_resume(Context& ctx, const Caller&, const object& p) {
  std::vector<std::string> from{"paused"};
  auto r = transition(ctx, p, from, [](store::Db& db, Campaign& c, std::int64_t now) -> Status {
    c.pause_reason.reset();
    if (!c.started_at) {  // paused before it started: start it now
      auto n = schedule::start_campaign(db, c, now);
      if (!n) return n.error();
    }
    c.state = "running";
    return {};
  });
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> campaign_cancel(Context& ctx, const Caller&, const object& p) {
  std::vector<std::string> from{"draft", "scheduled", "running", "paused"};
  auto r = transition(ctx, p, from, [](store::Db& db, Campaign& c, std::int64_t now) -> Status {
    c.state = "cancelled";
    c.finished_at = now;
    schedule::campaigns::cancel_pending(db, c.id, now);
    // Messages queued but not yet sent go too.
    for (auto n : schedule::campaigns::notifications(db, c.id))
      notify::outbox::cancel_queued(db, notify::JobFilter{.notification_id = n}, std::nullopt, now);
    return {};
  });
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> campaign_stats(Context& ctx, const Caller&, const object& p) {
  bool tracking = ctx.config.get()->campaign_tracking == "on";
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto c = find_campaign(db, p);
    if (!c) return c.error();
    auto st = schedule::campaigns::stats(db, c->id);
    object skipped, jobs, by_channel;
    std::int64_t skipped_total = 0;
    for (const auto& [k, n] : st.skipped) {
      skipped[k] = n;
      skipped_total += n;
    }
    for (const auto& [k, n] : st.jobs) jobs[k] = n;
    for (const auto& [k, n] : st.jobs_by_channel) by_channel[k] = n;
    auto count = [&](const char* state) { return st.jobs.contains(state) ? st.jobs.at(state) : 0; };
    return object{{"name", c->name},
                  {"state", c->state},
                  {"pause_reason", c->pause_reason ? boost::json::value(*c->pause_reason) : boost::json::value(nullptr)},
                  {"started_at", time_or_null(c->started_at)},
                  {"finished_at", time_or_null(c->finished_at)},
                  {"targeted", st.targeted},
                  {"pending", st.pending},
                  {"recipients_queued", st.queued},
                  {"recipients_cancelled", st.cancelled},
                  {"skipped", skipped_total},
                  {"skipped_by_reason", std::move(skipped)},
                  {"queued", count("queued")},
                  {"sent", st.sent},
                  {"delivered", count("delivered")},
                  {"failed", count("dead")},
                  {"cancelled", count("cancelled")},
                  {"jobs_by_channel", std::move(by_channel)},
                  {"unsubscribed", st.unsubscribed},
                  {"tracking", tracking},
                  {"opened", tracking ? boost::json::value(st.opened) : boost::json::value(nullptr)},
                  {"clicked", tracking ? boost::json::value(st.clicked) : boost::json::value(nullptr)}};
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

namespace {
const Binding kBindings[] = {
    {"campaign.create", campaign_create}, {"campaign.list", campaign_list},     {"campaign.preview", campaign_preview},
    {"campaign.schedule", campaign_schedule}, {"campaign.start", campaign_start}, {"campaign.pause", campaign_pause},
    {"campaign.resume", campaign_resume}, {"campaign.cancel", campaign_cancel}, {"campaign.stats", campaign_stats},
};
}  // namespace

std::span<const Binding> campaign_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
