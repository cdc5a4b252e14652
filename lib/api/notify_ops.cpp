// notify.*, queue.*, feed.*, preference.* and template.* operations: sending notifications
// through the outbox, watching and repairing the queue, the in-app feed, and users' preferences.
#include <algorithm>

#include <boost/json/parse.hpp>
#include <boost/url/parse.hpp>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/jwt.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "notify/feed.hpp"
#include "notify/planner.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;

boost::json::value time_or_null(std::optional<std::int64_t> t) {
  return t ? boost::json::value(timeutil::format_utc(*t)) : boost::json::value(nullptr);
}

object to_json(const notify::Job& j) {
  object o{{"id", j.id},
           {"notification", j.notification_id},
           {"user", j.handle},
           {"channel", j.channel},
           {"address", j.address},
           {"category", j.category},
           {"lane", notify::kLanes[static_cast<std::size_t>(std::clamp(j.lane, 0, 2))]},
           {"state", j.state},
           {"attempts", j.attempts},
           {"next_at", timeutil::format_utc(j.next_at)},
           {"deferred", j.deferred ? boost::json::value(*j.deferred) : boost::json::value(nullptr)},
           {"subject", j.subject},
           {"last_error", j.last_error ? boost::json::value(*j.last_error) : boost::json::value(nullptr)},
           {"created_at", timeutil::format_utc(j.created_at)},
           {"delivered_at", time_or_null(j.delivered_at)}};
  if (j.idempotency_key) o["idempotency_key"] = *j.idempotency_key;
  return o;
}

object to_json(const notify::FeedItem& f) {
  return object{{"id", f.id},
                {"notification", f.notification_id},
                {"category", f.category},
                {"title", f.title},
                {"body", f.body},
                {"created_at", timeutil::format_utc(f.created_at)},
                {"read_at", time_or_null(f.read_at)}};
}

// The user an operation is about: the caller, or (operators only) the one named by `user`.
Result<std::int64_t> subject_user(store::Db& db, const Caller& caller, const object& p) {
  auto user = get_string(p, "user");
  if (!user) {
    if (caller.user_id == 0) return Error(Code::invalid_argument, "user: required on the control socket", "user");
    return caller.user_id;
  }
  if (!caller.is_operator()) return Error(Code::permission_denied, "user: only operators act on other users", "user");
  auto u = store::users::find(db, *user);
  if (!u) return Error(Code::not_found, "user: no user with handle '" + *user + "'", "user");
  return u->id;
}

notify::PlanContext plan_context(Context& ctx, const notify::Templates& templates) {
  auto cfg = ctx.config.get();
  notify::PlanContext pc{templates, {"inapp"}, cfg->webhook_url, timeutil::now_ms()};
  if (ctx.notify) pc.configured = ctx.notify->configured();
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

Status check_filter(const notify::JobFilter& f) {
  if (f.state && *f.state != "queued" && *f.state != "delivered" && *f.state != "dead" && *f.state != "cancelled")
    return Error(Code::invalid_argument, "state: queued, delivered, dead or cancelled", "state");
  if (f.channel && !notify::is_channel(*f.channel))
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

  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = plan_context(ctx, *templates);
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
  if (auto st = check_filter(f); !st) co_return st.error();
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
  array channels;
  for (auto name : notify::kChannels) {
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
    channels.push_back(std::move(c));
  }
  co_return Reply::ok(object{{"channels", std::move(channels)}});
}

boost::asio::awaitable<Result<Reply>> queue_retry(Context& ctx, const Caller&, const object& p) {
  auto f = job_filter(p);
  if (auto st = check_filter(f); !st) co_return st.error();
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
  if (auto st = check_filter(f); !st) co_return st.error();
  auto pending = ctx.writer.run<std::int64_t>([f](store::Db& db) -> Result<std::int64_t> {
    return notify::outbox::purge_dead(db, f);
  });
  auto n = co_await std::move(pending);
  if (!n) co_return n.error();
  logging::get("notify")->info("notify.dead_purged jobs={}", *n);
  co_return Reply::ok(object{{"purged", *n}});
}

boost::asio::awaitable<Result<Reply>> feed_list(Context& ctx, const Caller& caller, const object& p) {
  auto before = get_int(p, "before").value_or(0);
  auto limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(50), 1, 500);
  auto unread_only = get_bool(p, "unread").value_or(false);
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto user = subject_user(db, caller, p);
    if (!user) return user.error();
    array items;
    for (const auto& f : notify::feed::list(db, *user, before, limit, unread_only)) items.push_back(to_json(f));
    return object{{"items", std::move(items)}, {"unread", notify::feed::unread(db, *user)}};
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> feed_read(Context& ctx, const Caller& caller, const object& p) {
  std::vector<std::int64_t> ids;
  if (auto id = get_int(p, "id")) ids.push_back(*id);
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::pair<std::int64_t, std::int64_t>>(
      [uid = *user, ids, now](store::Db& db) -> Result<std::pair<std::int64_t, std::int64_t>> {
        auto marked = notify::feed::mark_read(db, uid, ids, now);
        return std::pair{marked, notify::feed::unread(db, uid)};
      });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  if (done->first > 0) {
    // The user's other devices clear their badge too.
    std::int64_t uid = *user;
    ctx.events.publish(std::span(&uid, 1), events::encode("notification.read", object{{"unread", done->second}}));
  }
  co_return Reply::ok(object{{"marked", done->first}, {"unread", done->second}});
}

boost::asio::awaitable<Result<Reply>> preference_list(Context& ctx, const Caller& caller, const object& p) {
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto uid = subject_user(db, caller, p);
    if (!uid) return uid.error();
    auto u = store::users::find_id(db, *uid);
    array rows;
    for (const auto& r : notify::preferences::list(db, *uid))
      rows.push_back(object{{"category", r.category}, {"channel", r.channel}, {"enabled", r.enabled},
                            {"updated_at", timeutil::format_utc(r.updated_at)}});
    object o{{"user", u->handle}, {"preferences", std::move(rows)}, {"marketing_consent", u->marketing_consent}};
    if (u->quiet_start && u->quiet_end) {
      char buf[32];
      std::snprintf(buf, sizeof buf, "%02d:%02d-%02d:%02d", static_cast<int>(*u->quiet_start / 60),
                    static_cast<int>(*u->quiet_start % 60), static_cast<int>(*u->quiet_end / 60), static_cast<int>(*u->quiet_end % 60));
      o["quiet_hours"] = buf;
    } else {
      o["quiet_hours"] = nullptr;
    }
    o["time_zone"] = u->time_zone;
    return o;
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> preference_set(Context& ctx, const Caller& caller, const object& p) {
  auto category = *get_string(p, "category");
  auto channel = *get_string(p, "channel");
  auto enabled = *get_bool(p, "enabled");
  if (!notify::is_category(category))
    co_return Error(Code::invalid_argument, "category: transactional, reminder, review, marketing or emergency", "category");
  if (category == "emergency" && !enabled)
    co_return Error(Code::invalid_argument, "category: emergency alerts cannot be turned off (they ignore preferences)", "category");
  if (!notify::is_channel(channel)) co_return Error(Code::invalid_argument, "channel: '" + channel + "' is not a channel", "channel");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<bool>([uid = *user, category, channel, enabled, now](store::Db& db) -> Result<bool> {
    notify::preferences::set(db, uid, category, channel, enabled, now);
    return true;
  });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::ok(object{{"category", category}, {"channel", channel}, {"enabled", enabled}});
}

namespace {

object to_json(const notify::Template& t) {
  array vars;
  for (const auto& v : notify::variables(t)) vars.emplace_back(v);
  return object{{"name", t.name}, {"language", t.language}, {"category", t.category}, {"subject", t.subject},
                {"text", t.text}, {"html", t.html}, {"variables", std::move(vars)}, {"file", t.file.filename().string()}};
}

}  // namespace

boost::asio::awaitable<Result<Reply>> template_list(Context& ctx, const Caller&, const object&) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto all = templates.list();
  if (!all) co_return all.error();
  array out;
  for (const auto& t : *all) {
    auto o = to_json(t);
    o.erase("text");
    o.erase("html");
    out.push_back(std::move(o));
  }
  co_return Reply::ok(object{{"templates", std::move(out)}, {"dir", templates.dir().string()}});
}

boost::asio::awaitable<Result<Reply>> template_show(Context& ctx, const Caller&, const object& p) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto t = templates.find(*get_string(p, "name"), get_string(p, "language").value_or(cfg->notify_default_language));
  if (!t) co_return t.error();
  co_return Reply::ok(to_json(*t));
}

boost::asio::awaitable<Result<Reply>> template_preview(Context& ctx, const Caller&, const object& p) {
  auto cfg = ctx.config.get();
  notify::Templates templates(cfg->templates_dir(), cfg->notify_default_language);
  auto t = templates.find(*get_string(p, "name"), get_string(p, "language").value_or(cfg->notify_default_language));
  if (!t) co_return t.error();
  // Sample data: what the caller gave, and a visible placeholder for the rest.
  auto vars = get_string_map(p, "vars");
  array sampled;
  for (const auto& v : notify::variables(*t)) {
    if (vars.try_emplace(v, "\u2039" + v + "\u203a").second) sampled.emplace_back(v);
  }
  auto r = notify::render(*t, vars);
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"name", t->name}, {"language", r->language}, {"category", t->category}, {"subject", r->subject},
                             {"text", r->text}, {"html", r->html}, {"sampled", std::move(sampled)}});
}

}  // namespace tourbus::api::handlers

namespace tourbus::api::handlers {
namespace {

// True when the URL's host is one of the comma-separated hosts or a subdomain of one: the daemon
// only ever calls the push services it was told about, whatever a client registers.
bool known_push_service(std::string_view endpoint, std::string_view hosts) {
  auto url = boost::urls::parse_uri(endpoint);
  if (!url || url->has_userinfo()) return false;
  std::string host(url->host());
  for (auto& ch : host) ch = static_cast<char>(std::tolower(static_cast<unsigned char>(ch)));
  while (!hosts.empty()) {
    auto comma = hosts.find(',');
    auto h = hosts.substr(0, comma);
    while (!h.empty() && h.front() == ' ') h.remove_prefix(1);
    while (!h.empty() && h.back() == ' ') h.remove_suffix(1);
    if (!h.empty() && (host == h || (host.size() > h.size() && host.ends_with(h) && host[host.size() - h.size() - 1] == '.')))
      return true;
    hosts = comma == std::string_view::npos ? std::string_view() : hosts.substr(comma + 1);
  }
  return false;
}

bool token_chars(std::string_view t) {
  return !t.empty() && t.size() <= 4096 && std::ranges::all_of(t, [](char ch) {
    return std::isalnum(static_cast<unsigned char>(ch)) || ch == ':' || ch == '_' || ch == '-' || ch == '.';
  });
}

}  // namespace

boost::asio::awaitable<Result<Reply>> push_subscribe(Context& ctx, const Caller& caller, const object& p) {
  notify::PushSubscription s;
  s.endpoint = *get_string(p, "endpoint");
  s.p256dh = *get_string(p, "p256dh");
  s.auth = *get_string(p, "auth");
  if (!s.endpoint.starts_with("https://") || s.endpoint.size() > 2048 || s.endpoint.find_first_of(" \r\n") != std::string::npos)
    co_return Error(Code::invalid_argument, "endpoint: the push service's https:// URL from PushSubscription.endpoint", "endpoint");
  if (!known_push_service(s.endpoint, ctx.config.get()->webpush_endpoint_hosts))
    co_return Error(Code::invalid_argument, "endpoint: not a known push service (webpush.endpoint_hosts)", "endpoint");
  auto key = jwt::base64url_decode(s.p256dh);
  if (!key || key->size() != 65 || (*key)[0] != '\x04')
    co_return Error(Code::invalid_argument, "p256dh: the browser's P-256 public key, base64url (65 bytes)", "p256dh");
  auto secret = jwt::base64url_decode(s.auth);
  if (!secret || secret->size() != 16)
    co_return Error(Code::invalid_argument, "auth: the 16-byte authentication secret, base64url", "auth");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  s.user_id = *user;
  s.created_at = timeutil::now_ms();
  auto pending = ctx.writer.run<notify::PushSubscription>(
      [s](store::Db& db) -> Result<notify::PushSubscription> { return notify::addresses::subscribe(db, s); });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::created(object{{"id", done->id}, {"endpoint", done->endpoint}, {"created_at", timeutil::format_utc(done->created_at)}});
}

boost::asio::awaitable<Result<Reply>> push_unsubscribe(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto pending = ctx.writer.run<bool>([uid = *user, id](store::Db& db) -> Result<bool> {
    if (!notify::addresses::unsubscribe(db, uid, id)) return Error(Code::not_found, "id: no subscription " + std::to_string(id), "id");
    return true;
  });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::ok(object{{"id", id}, {"removed", true}});
}

boost::asio::awaitable<Result<Reply>> device_register(Context& ctx, const Caller& caller, const object& p) {
  notify::Device d;
  d.platform = *get_string(p, "platform");
  d.token = *get_string(p, "token");
  if (d.platform != "fcm" && d.platform != "apns")
    co_return Error(Code::invalid_argument, "platform: fcm (Android) or apns (iOS)", "platform");
  if (!token_chars(d.token)) co_return Error(Code::invalid_argument, "token: the device's push token as the platform gave it", "token");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  d.user_id = *user;
  d.created_at = timeutil::now_ms();
  auto pending = ctx.writer.run<notify::Device>([d](store::Db& db) -> Result<notify::Device> { return notify::addresses::register_device(db, d); });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::created(object{{"id", done->id}, {"platform", done->platform}, {"created_at", timeutil::format_utc(done->created_at)}});
}

boost::asio::awaitable<Result<Reply>> device_unregister(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto user = ctx.reads.with([&](store::Db& db) { return subject_user(db, caller, p); });
  if (!user) co_return user.error();
  auto pending = ctx.writer.run<bool>([uid = *user, id](store::Db& db) -> Result<bool> {
    if (!notify::addresses::unregister_device(db, uid, id)) return Error(Code::not_found, "id: no device " + std::to_string(id), "id");
    return true;
  });
  auto done = co_await std::move(pending);
  if (!done) co_return done.error();
  co_return Reply::ok(object{{"id", id}, {"removed", true}});
}

boost::asio::awaitable<Result<Reply>> push_list(Context& ctx, const Caller& caller, const object& p) {
  auto result = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto uid = subject_user(db, caller, p);
    if (!uid) return uid.error();
    array subs, devices;
    for (const auto& s : notify::addresses::subscriptions(db, *uid))
      subs.push_back(object{{"id", s.id}, {"endpoint", s.endpoint}, {"created_at", timeutil::format_utc(s.created_at)}});
    for (const auto& d : notify::addresses::devices(db, *uid))
      devices.push_back(object{{"id", d.id}, {"platform", d.platform}, {"token", d.token.substr(0, 8) + "…"},
                               {"created_at", timeutil::format_utc(d.created_at)}});
    return object{{"subscriptions", std::move(subs)}, {"devices", std::move(devices)}};
  });
  if (!result) co_return result.error();
  co_return Reply::ok(std::move(*result));
}

boost::asio::awaitable<Result<Reply>> push_vapid_key(Context& ctx, const Caller&, const object&) {
  auto cfg = ctx.config.get();
  if (cfg->webpush_public_key.empty())
    co_return Error(Code::not_found, "Web Push is not configured on this daemon (webpush.vapid_public_key)");
  co_return Reply::ok(object{{"public_key", cfg->webpush_public_key}});
}

namespace {
const Binding kBindings[] = {
    {"notify.send", notify_send},
    {"notify.list", notify_list},
    {"notify.show", notify_show},
    {"queue.status", queue_status},
    {"queue.retry", queue_retry},
    {"queue.purge", queue_purge},
    {"feed.list", feed_list},
    {"feed.read", feed_read},
    {"preference.list", preference_list},
    {"preference.set", preference_set},
    {"push.vapid_key", push_vapid_key},
    {"push.subscribe", push_subscribe},
    {"push.unsubscribe", push_unsubscribe},
    {"push.list", push_list},
    {"device.register", device_register},
    {"device.unregister", device_unregister},
    {"template.list", template_list},
    {"template.show", template_show},
    {"template.preview", template_preview},
};
}  // namespace

std::span<const Binding> notify_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
