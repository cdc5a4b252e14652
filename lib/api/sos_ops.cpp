// SOS and the duty roster. An SOS is stored before it is answered, notifies the person's guide
// and the operators on duty on every channel at once (emergency lane), opens the incident
// conversation, and rings again every sos.ring_seconds until one of them acknowledges it.
#include <cmath>

#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "safety/incident.hpp"
#include "safety/ladder.hpp"
#include "safety/locations.hpp"
#include "safety/runner.hpp"
#include "safety/sos.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

boost::json::value opt_text(const std::optional<std::string>& v) { return v ? boost::json::value(*v) : nullptr; }

std::optional<safety::Position> where(const safety::Sos& s) {
  if (!s.lat || !s.lon) return std::nullopt;
  return safety::Position{s.user_id, s.tour_id.value_or(0), *s.lat, *s.lon, s.accuracy, {}, {}, {}, s.located_at.value_or(s.raised_at)};
}

object sos_json(const safety::Sos& s, std::int64_t now) {
  return object{{"id", s.id},
                {"user", s.handle},
                {"display_name", s.display_name},
                {"tour", s.tour_id ? boost::json::value(*s.tour_id) : nullptr},
                {"state", s.state},
                {"raised_at", timeutil::format_utc(s.raised_at)},
                {"age_seconds", std::max<std::int64_t>(0, (now - s.raised_at) / 1000)},
                {"rings", s.rings},
                {"acked_by", opt_text(s.acked_by)},
                {"acked_at", time_or_null(s.acked_at)},
                {"resolved_by", opt_text(s.resolved_by)},
                {"resolved_at", time_or_null(s.resolved_at)},
                {"resolution", opt_text(s.resolution)},
                {"note", opt_text(s.note)},
                {"conversation", s.conversation ? boost::json::value(*s.conversation) : nullptr},
                {"location", safety::position_json(where(s), now)}};
}

// Who may see an SOS: operators, the person, and the guide of the tour it was raised on.
bool may_see(store::Db& db, const Caller& caller, const safety::Sos& s) {
  if (caller.is_operator() || s.user_id == caller.user_id) return true;
  if (!s.tour_id) return false;
  auto t = store::tours::find(db, *s.tour_id);
  return t && t->guide_id && *t->guide_id == caller.user_id;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> sos_raise(Context& ctx, const Caller& caller, const object& p) {
  if (caller.user_id == 0) co_return Error(Code::invalid_argument, "an SOS is a person's: act as a user (tourbus --as HANDLE)");
  auto lat = get_number(p, "lat");
  auto lon = get_number(p, "lon");
  if (lat.has_value() != lon.has_value()) co_return bad(lat ? "lon" : "lat", "give lat and lon together");
  if (lat && (!std::isfinite(*lat) || *lat < -90 || *lat > 90)) co_return bad("lat", "a latitude is -90..90");
  if (lon && (!std::isfinite(*lon) || *lon < -180 || *lon > 180)) co_return bad("lon", "a longitude is -180..180");
  auto accuracy = get_number(p, "accuracy");
  if (accuracy && (!std::isfinite(*accuracy) || *accuracy < 0)) co_return bad("accuracy", "metres, 0 or more");
  auto note = get_string(p, "note");
  if (note && note->size() > 1000) co_return bad("note", "at most 1000 characters");
  auto client_id = get_string(p, "client_id");
  if (client_id && (client_id->empty() || client_id->size() > 100)) co_return bad("client_id", "1-100 characters");
  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = plan_context(ctx, *templates, *cfg);
  auto now = timeutil::now_ms();
  auto user = caller.user_id;
  struct Raised {
    safety::Sos sos;
    bool duplicate = false;
    safety::Responders who;
    std::vector<std::string> notified;
    std::optional<safety::Incident> incident;
    std::int64_t jobs = 0;
  };
  auto pending = ctx.writer.run<Raised>([=](store::Db& db) -> Result<Raised> {
    safety::Sos s;
    s.user_id = user;
    s.client_id = client_id;
    s.note = note;
    s.raised_at = now;
    s.next_ring_at = now + cfg->sos_ring_seconds * 1000;
    auto tours = safety::locations::tours_in_window(db, user, now, *cfg);
    for (const auto& t : tours)
      if (!t.guide_id || *t.guide_id != user) {
        s.tour_id = t.id;
        break;
      }
    if (!s.tour_id && !tours.empty()) s.tour_id = tours.front().id;
    if (lat) {
      s.lat = lat;
      s.lon = lon;
      s.accuracy = accuracy;
      s.located_at = now;
    } else if (auto last = safety::locations::last(db, user)) {
      s.lat = last->lat;
      s.lon = last->lon;
      s.accuracy = last->accuracy;
      s.located_at = last->at;
    }
    Raised r;
    std::tie(r.sos, r.duplicate) = safety::sos::insert(db, s);
    r.who = safety::responders(db, r.sos.tour_id, user);
    for (auto id : r.who.all())
      if (auto u = store::users::find_id(db, id)) r.notified.push_back(u->handle);
    if (r.duplicate) return r;
    auto incident = safety::open_incident(db, user, r.who.guide, r.who.operators, "SOS " + std::to_string(r.sos.id), note,
                                          where(r.sos), now);
    safety::sos::set_conversation(db, r.sos.id, incident.conversation);
    r.sos.conversation = incident.conversation;
    r.incident = std::move(incident);
    r.jobs = safety::notify_sos(db, r.sos, r.who, now, pc);
    return r;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  auto log = logging::get("safety");
  if (!r->duplicate) {
    log->warn("safety.sos sos={} user={} tour={} located={} notified={} nobody_on_duty={}", r->sos.id, caller.handle,
              r->sos.tour_id.value_or(0), r->sos.lat.has_value(), r->notified.size(), r->who.nobody_on_duty);
    ctx.events.publish(r->who.all(), events::push("sos", sos_json(r->sos, now)), true);
    if (r->incident) announce(ctx, r->incident->notice);
    if (ctx.notify) ctx.notify->wake();
    if (ctx.safety) ctx.safety->wake();
  }
  auto o = sos_json(r->sos, now);
  o["duplicate"] = r->duplicate;
  array notified;
  for (const auto& h : r->notified) notified.emplace_back(h);
  o["notified"] = std::move(notified);
  co_return Reply{r->duplicate ? 200 : 201, std::move(o)};
}

boost::asio::awaitable<Result<Reply>> sos_list(Context& ctx, const Caller& caller, const object& p) {
  auto state = get_string(p, "state").value_or("");
  if (!state.empty() && state != "open" && state != "acknowledged" && state != "resolved" && state != "all")
    co_return bad("state", "open, acknowledged, resolved or all");
  auto limit = get_int(p, "limit").value_or(100);
  if (limit < 1 || limit > 1000) co_return bad("limit", "1-1000");
  auto now = timeutil::now_ms();
  auto out = ctx.reads.with([&](store::Db& db) {
    array list;
    for (const auto& s : safety::sos::list(db, state, caller.is_operator() ? limit : 10'000)) {
      if (static_cast<std::int64_t>(list.size()) >= limit) break;
      if (may_see(db, caller, s)) list.push_back(sos_json(s, now));
    }
    return list;
  });
  co_return Reply::ok(object{{"sos", std::move(out)}});
}

boost::asio::awaitable<Result<Reply>> sos_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto now = timeutil::now_ms();
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto s = safety::sos::find(db, id);
    if (!s || !may_see(db, caller, *s)) return Error(Code::not_found, "id: no SOS " + std::to_string(id), "id");
    auto o = sos_json(*s, now);
    array notified;
    for (auto uid : safety::responders(db, s->tour_id, s->user_id).all())
      if (auto u = store::users::find_id(db, uid)) notified.emplace_back(u->handle);
    o["notified"] = std::move(notified);
    return o;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

namespace {

// Acknowledges or resolves an SOS, posts it in the incident conversation and tells everyone concerned.
boost::asio::awaitable<Result<Reply>> act(Context& ctx, const Caller& caller, const object& p, bool resolve) {
  auto id = *get_int(p, "id");
  auto note = get_string(p, "note");
  if (note && note->size() > 1000) co_return bad("note", "at most 1000 characters");
  auto now = timeutil::now_ms();
  std::string by = caller.handle.empty() ? "operator" : caller.handle;
  struct Done {
    safety::Sos sos;
    std::vector<std::int64_t> told;
    std::optional<chat::Posted> notice;
  };
  auto pending = ctx.writer.run<Done>([=](store::Db& db) -> Result<Done> {
    auto s = safety::sos::find(db, id);
    if (!s || !may_see(db, caller, *s)) return Error(Code::not_found, "id: no SOS " + std::to_string(id), "id");
    bool own = s->user_id == caller.user_id;
    if (!resolve && own) return Error(Code::permission_denied, "id: your guide or an operator acknowledges your SOS", "id");
    bool changed = resolve ? safety::sos::resolve(db, id, by, note, now) : safety::sos::acknowledge(db, id, by, now);
    if (!changed)
      return Error(Code::conflict, "id: SOS " + std::to_string(id) + " is " + s->state + " already", "id");
    Done d;
    d.sos = *safety::sos::find(db, id);
    auto who = safety::responders(db, d.sos.tour_id, d.sos.user_id);
    d.told = who.all();
    d.told.push_back(d.sos.user_id);
    if (d.sos.conversation) {
      std::string text = resolve ? (own ? by + " closed the SOS" : by + " resolved the SOS")
                                 : by + " acknowledged the SOS: help is coming";
      if (note && !note->empty()) text += ": " + *note;
      d.notice = chat::post_system(db, *d.sos.conversation, text,
                                   object{{"sos", id}, {"state", d.sos.state}, {"by", by}}, now);
    }
    return d;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->warn("safety.sos_{} sos={} by={} after_ms={}", resolve ? "resolved" : "acknowledged", id, by,
                               now - r->sos.raised_at);
  if (r->notice) announce(ctx, *r->notice);
  ctx.events.publish(r->told, events::push("sos.updated", sos_json(r->sos, now)), true);
  co_return Reply::ok(sos_json(r->sos, now));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> sos_ack(Context& ctx, const Caller& caller, const object& p) {
  auto r = act(ctx, caller, p, false);
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> sos_resolve(Context& ctx, const Caller& caller, const object& p) {
  auto r = act(ctx, caller, p, true);
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> duty_on(Context& ctx, const Caller& caller, const object& p) {
  auto handle = *get_string(p, "user");
  std::string by = caller.handle.empty() ? "operator" : caller.handle;
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::int64_t>([=](store::Db& db) -> Result<std::int64_t> {
    auto u = store::users::find(db, handle);
    if (!u) return Error(Code::not_found, "user: no user with handle '" + handle + "'", "user");
    if (u->role != "operator") return bad("user", handle + " is a " + u->role + ", not an operator");
    if (u->disabled) return Error(Code::conflict, "user: " + handle + " is disabled", "user");
    safety::duty::on(db, u->id, by, now);
    for (const auto& d : safety::duty::list(db))
      if (d.user_id == u->id) return d.since;
    return now;
  });
  auto since = co_await std::move(pending);
  if (!since) co_return since.error();
  logging::get("safety")->info("safety.duty user={} on_duty=true by={}", handle, by);
  co_return Reply::ok(object{{"user", handle}, {"on_duty", true}, {"since", timeutil::format_utc(*since)}});
}

boost::asio::awaitable<Result<Reply>> duty_off(Context& ctx, const Caller& caller, const object& p) {
  auto handle = *get_string(p, "user");
  auto pending = ctx.writer.run<bool>([=](store::Db& db) -> Result<bool> {
    auto u = store::users::find(db, handle);
    if (!u) return Error(Code::not_found, "user: no user with handle '" + handle + "'", "user");
    return safety::duty::off(db, u->id);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->info("safety.duty user={} on_duty=false by={}", handle, caller.handle.empty() ? "operator" : caller.handle);
  co_return Reply::ok(object{{"user", handle}, {"on_duty", false}, {"was_on_duty", *r}});
}

boost::asio::awaitable<Result<Reply>> duty_list(Context& ctx, const Caller&, const object&) {
  auto list = ctx.reads.with([](store::Db& db) { return safety::duty::list(db); });
  array out;
  for (const auto& d : list)
    out.push_back(object{{"user", d.handle}, {"display_name", d.display_name}, {"since", timeutil::format_utc(d.since)}, {"by", d.by}});
  co_return Reply::ok(object{{"duty", std::move(out)}});
}

namespace {
const Binding kBindings[] = {
    {"sos", sos_raise},         {"sos.list", sos_list}, {"sos.show", sos_show}, {"sos.ack", sos_ack},
    {"sos.resolve", sos_resolve}, {"duty.on", duty_on},   {"duty.off", duty_off}, {"duty.list", duty_list},
};
}  // namespace

std::span<const Binding> sos_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
