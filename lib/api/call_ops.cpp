// call.*: WebRTC call signalling (docs/calls.md). tourbusd rings, relays SDP and ICE candidates
// between the members' devices and keeps the record; media flows between the browsers (through
// TURN when it must). The live state (calls::Registry) is on the event loop: each handler changes
// it before its first co_await, so two answers to one call cannot both win; the store follows.
#include <algorithm>
#include <cmath>
#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>
#include <fmt/format.h>

#include "api/chat_access.hpp"
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "calls/live.hpp"
#include "calls/records.hpp"
#include "calls/turn.hpp"
#include "chat/posting.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"
#include "notify/dispatcher.hpp"
#include "safety/runner.hpp"
#include "safety/sos.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

Error no_call(std::int64_t id) { return Error(Code::not_found, "no call " + std::to_string(id) + " that you are in", "id"); }

// Signalling needs a session to send to: a WebSocket or Socket.IO connection.
Status needs_session(const Caller& caller) {
  if (caller.session == 0 || caller.user_id == 0)
    return Error(Code::invalid_argument, "calls are made from a WebSocket or Socket.IO session with a user's token");
  return {};
}

std::string duration_text(std::int64_t ms) {
  auto s = ms / 1000;
  return s >= 3600 ? fmt::format("{}:{:02}:{:02}", s / 3600, s / 60 % 60, s % 60) : fmt::format("{}:{:02}", s / 60, s % 60);
}

object members_json(const calls::Live& c) {
  object o;
  for (const auto& m : c.members) o[m.handle] = m.state;
  return o;
}

object live_json(const calls::Live& c) {
  return object{{"id", c.id},
                {"conversation", c.conversation},
                {"from", c.caller_handle},
                {"video", c.video},
                {"sos", c.sos ? boost::json::value(*c.sos) : nullptr},
                {"members", members_json(c)},
                {"started_at", timeutil::format_utc(c.started_at)},
                {"answered_at", time_or_null(c.answered_at)}};
}

boost::json::value opt_number(const std::optional<double>& v) { return v ? boost::json::value(*v) : nullptr; }

object record_json(const calls::CallRecord& c) {
  object members;
  for (const auto& m : c.members)
    members[m.handle] = object{{"state", m.state}, {"joined_at", time_or_null(m.joined_at)}, {"left_at", time_or_null(m.left_at)}};
  const auto& q = c.quality;
  std::optional<std::int64_t> duration;
  if (c.answered_at && c.ended_at) duration = (*c.ended_at - *c.answered_at) / 1000;
  return object{{"id", c.id},
                {"conversation", c.conversation_id},
                {"from", c.caller_handle},
                {"video", c.video},
                {"state", c.state},
                {"outcome", c.outcome ? boost::json::value(*c.outcome) : nullptr},
                {"started_at", timeutil::format_utc(c.created_at)},
                {"answered_at", time_or_null(c.answered_at)},
                {"ended_at", time_or_null(c.ended_at)},
                {"duration_seconds", duration ? boost::json::value(*duration) : nullptr},
                {"members", std::move(members)},
                {"quality", object{{"samples", q.samples},
                                   {"rtt_ms", opt_number(q.rtt_ms)},
                                   {"loss_percent", opt_number(q.loss_percent)},
                                   {"bitrate_kbps", opt_number(q.bitrate_kbps)},
                                   {"fps", opt_number(q.fps)},
                                   {"height", q.height ? boost::json::value(*q.height) : nullptr},
                                   {"score", q.score ? boost::json::value(*q.score) : nullptr},
                                   {"worst_score", q.worst_score ? boost::json::value(*q.worst_score) : nullptr}}}};
}

// The event to the device of every joined member (`except`: not to this user).
void tell_joined(Context& ctx, const calls::Live& c, const events::EventPtr& e, std::int64_t except = 0) {
  for (const auto& m : c.members)
    if (m.state == "joined" && m.user != except) ctx.events.publish_session(m.user, m.session, e);
}

// The missed-call notification to the people who were rung.
notify::SendRequest missed_request(const calls::Live& call, std::vector<std::string> handles) {
  notify::SendRequest req;
  req.category = "transactional";
  req.subject = "Missed " + std::string(call.video ? "video call" : "call") + " from " + call.caller_handle;
  req.text = req.subject + (call.conversation_title.empty() ? "" : " in " + call.conversation_title) + " at " +
             timeutil::format_utc(call.started_at).substr(11, 5) + " UTC.";
  req.users = std::move(handles);
  req.created_by = "call";
  return req;
}

struct Ended {
  chat::Posted notice;
  std::size_t missed_jobs = 0;
};

// Ends a call: the record, the members still ringing marked missed (notified), a system message
// in the conversation, then call.ended to everyone still in it or still being rung.
boost::asio::awaitable<void> end_call(Context& ctx, std::int64_t id, std::string outcome, std::int64_t by) {
  auto* c = ctx.calls ? ctx.calls->find(id) : nullptr;
  if (!c) co_return;
  auto now = timeutil::now_ms();
  auto call = std::move(*c);  // off the registry first: nothing else acts on it meanwhile
  ctx.calls->remove(id);
  if (call.ring_timer) call.ring_timer->cancel();
  std::vector<std::string> missed;
  std::vector<std::int64_t> ringing;  // to stop ringing on every device
  std::vector<calls::LiveMember> changed;
  for (auto& m : call.members)
    if (m.state == "invited") {
      m.state = outcome == "cancelled" || outcome == "missed" ? "missed" : "cancelled";
      missed.push_back(m.handle);
      ringing.push_back(m.user);
      changed.push_back(m);
    }
  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = plan_context(ctx, *templates, *cfg);
  auto kind = std::string(call.video ? "Video call" : "Call");
  std::string text;
  if (outcome == "completed")
    text = kind + ", " + duration_text(now - call.answered_at.value_or(now));
  else if (outcome == "missed" || outcome == "cancelled")
    text = "Missed " + std::string(call.video ? "video call" : "call") + " from " + call.caller_handle;
  else if (outcome == "declined")
    text = kind + " declined";
  else if (outcome == "busy")
    text = kind + ": busy";
  else
    text = kind + " ended";
  array who;
  for (const auto& m : call.members) who.emplace_back(m.handle);
  object details{{"call", call.id},
                 {"outcome", outcome},
                 {"video", call.video},
                 {"from", call.caller_handle},
                 {"members", std::move(who)},
                 {"duration_seconds", call.answered_at ? boost::json::value((now - *call.answered_at) / 1000) : nullptr},
                 {"sos", call.sos ? boost::json::value(*call.sos) : nullptr}};
  auto pending = ctx.writer.run<Ended>([=, &call](store::Db& db) -> Result<Ended> {
    for (const auto& m : changed) calls::records::set_member(db, call.id, m.user, m.state, now);
    calls::records::end(db, call.id, outcome, now, by ? std::optional<std::int64_t>(by) : std::nullopt);
    if (call.quality.samples) calls::records::set_quality(db, call.id, call.quality);
    Ended e;
    e.notice = chat::post_system(db, call.conversation, text, details, now);
    if (!missed.empty() && !call.sos && (outcome == "missed" || outcome == "cancelled")) {
      auto planned = notify::plan(db, missed_request(call, missed), pc);
      if (planned) e.missed_jobs = planned->jobs.size();
    }
    return e;
  });
  auto done = co_await std::move(pending);
  auto log = logging::get("calls");
  // Over for everyone in it, stored or not (a record the store refused ends as failed at restart).
  object data{{"id", call.id}, {"conversation", call.conversation}, {"outcome", outcome}};
  auto e = events::push("call.ended", std::move(data));
  tell_joined(ctx, call, e);
  ctx.events.publish(ringing, e);
  if (!done) {
    log->error("calls.end_failed call={} error=\"{}\"", call.id, done.error().message);
    co_return;
  }
  announce(ctx, done->notice);
  if (done->missed_jobs && ctx.notify) ctx.notify->wake();
  log->info("calls.ended call={} outcome={} duration_ms={} missed={}", call.id, outcome,
            call.answered_at ? now - *call.answered_at : 0, missed.size());
}

// After a member's state changed: ends the call when it cannot go on.
boost::asio::awaitable<void> settle(Context& ctx, std::int64_t id, std::int64_t by) {
  auto* c = ctx.calls->find(id);
  if (!c) co_return;
  auto joined = c->count("joined"), ringing = c->count("invited");
  if (c->answered_at) {
    if (joined < 2 && ringing == 0) {
      auto pending = end_call(ctx, id, "completed", by);
      co_await std::move(pending);
    }
    co_return;
  }
  auto* caller = c->member(c->caller);
  if (!caller || caller->state != "joined") {
    auto pending = end_call(ctx, id, "cancelled", by);
    co_await std::move(pending);
  } else if (ringing == 0) {
    bool busy = c->count("busy") > 0 && c->count("declined") == 0;
    auto pending = end_call(ctx, id, busy ? "busy" : "declined", by);
    co_await std::move(pending);
  }
}

// A member's new state, stored (the call's answer time with the first join).
boost::asio::awaitable<Status> store_member(Context& ctx, std::int64_t call, std::int64_t user, std::string state, bool answered) {
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<bool>([=](store::Db& db) -> Result<bool> {
    calls::records::set_member(db, call, user, state, now);
    if (answered) calls::records::answered(db, call, now);
    return true;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Status{};
}

// Nobody answered in time: those still ringing missed it.
boost::asio::awaitable<void> ring_timeout(Context& ctx, std::int64_t id) {
  auto* c = ctx.calls ? ctx.calls->find(id) : nullptr;
  if (!c) co_return;
  if (!c->answered_at) {
    auto sos = c->sos;
    auto pending = end_call(ctx, id, "missed", 0);
    co_await std::move(pending);
    if (sos) {
      // Nobody on duty answered the SOS's video: the SOS rings everyone concerned again, now.
      auto now = timeutil::now_ms();
      auto ringing = ctx.writer.run<bool>([s = *sos, now](store::Db& db) -> Result<bool> { return safety::sos::ring_now(db, s, now); });
      auto rung = co_await std::move(ringing);
      logging::get("calls")->warn("calls.sos_unanswered call={} sos={} escalated={}", id, *sos, rung && *rung);
      if (ctx.safety) ctx.safety->wake();
    }
    co_return;
  }
  // Answered by some: the others missed it (a notification says so), their devices stop ringing.
  std::vector<std::int64_t> stop;
  std::vector<std::string> handles;
  for (auto& m : c->members)
    if (m.state == "invited") {
      m.state = "missed";
      stop.push_back(m.user);
      handles.push_back(m.handle);
    }
  auto e = events::push("call.ended", object{{"id", id}, {"conversation", c->conversation}, {"outcome", "missed"}});
  ctx.events.publish(stop, e);
  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = plan_context(ctx, *templates, *cfg);
  auto req = missed_request(*c, handles);
  auto now = timeutil::now_ms();
  auto pending = ctx.writer.run<std::size_t>([=](store::Db& db) -> Result<std::size_t> {
    for (auto user : stop) calls::records::set_member(db, id, user, "missed", now);
    auto planned = notify::plan(db, req, pc);
    return planned ? planned->jobs.size() : 0;
  });
  if (auto jobs = co_await std::move(pending); jobs && *jobs && ctx.notify) ctx.notify->wake();
  auto settling = settle(ctx, id, 0);
  co_await std::move(settling);
}

Result<calls::Live*> live_member(Context& ctx, const Caller& caller, std::int64_t id) {
  auto* c = ctx.calls ? ctx.calls->find(id) : nullptr;
  if (!c || !c->member(caller.user_id)) return no_call(id);
  return c;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> call_config(Context& ctx, const Caller& caller, const object&) {
  auto cfg = ctx.config.get();
  array servers;
  for (const auto& s : calls::ice_servers(*cfg, caller.handle.empty() ? "operator" : caller.handle, timeutil::now_ms())) {
    array urls;
    for (const auto& u : s.urls) urls.emplace_back(u);
    object o{{"urls", std::move(urls)}};
    if (!s.username.empty()) {
      o["username"] = s.username;
      o["credential"] = s.credential;
    }
    servers.push_back(std::move(o));
  }
  co_return Reply::ok(object{{"ice_servers", std::move(servers)},
                             {"ttl_seconds", cfg->calls_turn_ttl_seconds},
                             {"ring_seconds", cfg->calls_ring_seconds},
                             {"max_members", cfg->calls_max_members},
                             {"stats_interval_ms", cfg->calls_stats_interval_ms}});
}

boost::asio::awaitable<Result<Reply>> call_start(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  if (!ctx.calls) co_return Error(Code::unavailable, "calls are not running in this process");
  auto cfg = ctx.config.get();
  auto sos = get_int(p, "sos");
  if (sos.has_value() == has(p, "conversation")) co_return bad("conversation", "give a conversation or an sos, not both");
  if (sos && has(p, "to")) co_return bad("to", "an SOS's call rings the operators on duty");
  auto conversation = get_int(p, "conversation").value_or(0);
  auto video = get_bool(p, "video").value_or(true);
  auto to = get_strings(p, "to");
  for (auto& h : to) h = validate::fold_handle(h);
  if (auto* busy = ctx.calls->engaged(caller.user_id))
    co_return Error(Code::conflict, "you are in call " + std::to_string(busy->id) + ": hang up first");
  struct Found {
    std::string title;
    std::vector<std::pair<std::int64_t, std::string>> others;
  };
  std::vector<std::pair<std::int64_t, std::string>> duty;  // an SOS's call: the operators on duty
  if (sos) {
    // The SOS's person calls the operators on duty, in the SOS's incident conversation.
    auto r = ctx.reads.with([&](store::Db& db) -> Result<std::pair<std::int64_t, std::vector<std::pair<std::int64_t, std::string>>>> {
      auto s = safety::sos::find(db, *sos);
      if (!s || s->user_id != caller.user_id) return Error(Code::not_found, "sos: no SOS " + std::to_string(*sos) + " of yours", "sos");
      if (s->state == "resolved") return Error(Code::conflict, "sos: SOS " + std::to_string(*sos) + " is resolved", "sos");
      if (!s->conversation) return Error(Code::conflict, "sos: SOS " + std::to_string(*sos) + " has no incident conversation", "sos");
      std::vector<std::pair<std::int64_t, std::string>> ops;
      for (auto id : safety::duty::ids(db))
        if (auto u = store::users::find_id(db, id); u && id != caller.user_id) ops.emplace_back(id, u->handle);
      return std::pair{*s->conversation, std::move(ops)};
    });
    if (!r) co_return r.error();
    if (r->second.empty()) co_return Error(Code::unavailable, "nobody is on duty to answer: the SOS keeps ringing the guide and operators", "sos");
    conversation = r->first;
    duty = std::move(r->second);
  }
  auto found = ctx.reads.with([&](store::Db& db) -> Result<Found> {
    if (sos) return Found{"SOS " + std::to_string(*sos), std::move(duty)};
    auto c = visible_conversation(db, caller, conversation, "conversation");
    if (!c) return c.error();
    if (!c->me) return not_visible(conversation, "conversation");
    Found f;
    f.title = c->title;
    for (const auto& m : chat::conversations::members(db, conversation)) {
      if (m.user_id == caller.user_id) continue;
      if (!to.empty() && std::find(to.begin(), to.end(), m.handle) == to.end()) continue;
      f.others.emplace_back(m.user_id, m.handle);
    }
    for (const auto& h : to)
      if (std::none_of(f.others.begin(), f.others.end(), [&](const auto& o) { return o.second == h; }))
        return bad("to", "'" + h + "' is not another member of conversation " + std::to_string(conversation));
    return f;
  });
  if (!found) co_return found.error();
  if (found->others.empty()) co_return bad("conversation", "nobody else to call in it");
  if (!sos && static_cast<std::int64_t>(found->others.size()) + 1 > cfg->calls_max_members)
    co_return bad("to", fmt::format("a call has at most {} people (calls.max_members): name whom to call", cfg->calls_max_members));
  // The call exists from here: its members' states are decided now, on the event loop.
  auto now = timeutil::now_ms();
  calls::Live live;
  live.conversation = conversation;
  live.caller = caller.user_id;
  live.caller_handle = caller.handle;
  live.conversation_title = found->title;
  live.video = video;
  live.sos = sos;
  live.started_at = now;
  live.members.push_back({caller.user_id, caller.handle, "joined", caller.session});
  for (const auto& [user, handle] : found->others)
    live.members.push_back({user, handle, ctx.calls->engaged(user) ? "busy" : "invited", 0});
  auto members = live.members;
  auto pending = ctx.writer.run<std::int64_t>([=](store::Db& db) -> Result<std::int64_t> {
    calls::CallRecord r;
    r.conversation_id = conversation;
    r.caller_id = caller.user_id;
    r.video = video;
    r.state = "ringing";
    r.created_at = now;
    auto id = calls::records::insert(db, r);
    for (const auto& m : members)
      calls::records::add_member(db, id, m.user, m.state, m.state == "joined" ? std::optional<std::int64_t>(now) : std::nullopt);
    return id;
  });
  auto id = co_await std::move(pending);
  if (!id) co_return id.error();
  live.id = *id;
  auto ex = co_await boost::asio::this_coro::executor;
  // An SOS's call rings as long as an SOS waits before ringing again (sos.ring_seconds).
  live.ring_timer = std::make_shared<boost::asio::steady_timer>(
      ex, std::chrono::seconds(sos ? cfg->sos_ring_seconds : cfg->calls_ring_seconds));
  auto& c = ctx.calls->add(std::move(live));
  c.ring_timer->async_wait([&ctx, id = *id, ex](boost::system::error_code ec) {
    if (!ec) boost::asio::co_spawn(ex, ring_timeout(ctx, id), boost::asio::detached);
  });
  logging::get("calls")->info("calls.started call={} conversation={} from={} video={} ringing={} busy={} sos={}", c.id, conversation,
                              caller.handle, video, c.count("invited"), c.count("busy"), sos.value_or(0));
  auto invite = events::push("call.invite", live_json(c));
  ctx.events.publish(c.users("invited"), invite);
  auto out = live_json(c);
  if (c.count("invited") == 0) {
    auto ending = end_call(ctx, c.id, "busy", caller.user_id);
    co_await std::move(ending);
    out["ended"] = "busy";
  }
  co_return Reply::created(std::move(out));
}

boost::asio::awaitable<Result<Reply>> call_ringing(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  auto c = live_member(ctx, caller, *get_int(p, "id"));
  if (!c) co_return c.error();
  auto* m = (*c)->member(caller.user_id);
  if (m->state != "invited") co_return Error(Code::conflict, "you are " + m->state + " in call " + std::to_string((*c)->id));
  if (!m->rang) {
    m->rang = true;
    tell_joined(ctx, **c, events::push("call.ringing", object{{"id", (*c)->id}, {"user", caller.handle}}));
  }
  co_return Reply::ok(object{{"id", (*c)->id}, {"state", m->state}});
}

boost::asio::awaitable<Result<Reply>> call_accept(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  auto* m = (*c)->member(caller.user_id);
  if (m->state == "joined")
    co_return Error(Code::conflict, m->session == caller.session ? "you are in this call" : "answered on another of your devices");
  if (m->state != "invited") co_return Error(Code::conflict, "you are " + m->state + " in call " + std::to_string(id));
  if (auto* other = ctx.calls->engaged(caller.user_id, id))
    co_return Error(Code::conflict, "you are in call " + std::to_string(other->id) + ": hang up first");
  m->state = "joined";
  m->session = caller.session;
  bool first = !(*c)->answered_at;
  if (first) (*c)->answered_at = timeutil::now_ms();
  auto joined = events::push("call.accepted", object{{"id", id}, {"user", caller.handle}, {"members", members_json(**c)}});
  tell_joined(ctx, **c, joined);
  ctx.events.publish_session(caller.user_id, caller.session,
                             events::push("call.taken", object{{"id", id}, {"state", "joined"}}), true);
  // An SOS's call is one operator's: the others stop ringing and see who took it.
  std::vector<std::int64_t> released;
  auto sos = (*c)->sos;
  if (sos && first)
    for (auto& other : (*c)->members)
      if (other.state == "invited") {
        other.state = "taken";
        released.push_back(other.user);
      }
  if (!released.empty())
    ctx.events.publish(released, events::push("call.taken", object{{"id", id}, {"state", "taken"}, {"by", caller.handle}}));
  auto reply = live_json(**c);
  auto stored = store_member(ctx, id, caller.user_id, "joined", first);
  if (auto ok = co_await std::move(stored); !ok) co_return ok.error();
  for (auto user : released) {
    auto s = store_member(ctx, id, user, "taken", false);
    co_await std::move(s);
  }
  logging::get("calls")->info("calls.joined call={} user={} session={}", id, caller.handle, caller.session);
  if (sos && first) {
    // Answering the SOS's call acknowledges the SOS (it stops ringing; everyone concerned hears it).
    // Kept here: the handler takes its parameters by reference across its suspensions.
    object params{{"id", *sos}, {"note", "answered the video call"}};
    auto ack = sos_ack(ctx, caller, params);
    if (auto r = co_await std::move(ack); !r && r.error().code != Code::conflict)
      logging::get("calls")->error("calls.sos_ack_failed call={} sos={} error=\"{}\"", id, *sos, r.error().message);
  }
  co_return Reply::ok(std::move(reply));
}

boost::asio::awaitable<Result<Reply>> call_decline(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  auto* m = (*c)->member(caller.user_id);
  if (m->state != "invited") co_return Error(Code::conflict, "you are " + m->state + " in call " + std::to_string(id));
  auto state = get_bool(p, "busy").value_or(false) ? std::string("busy") : std::string("declined");
  m->state = state;
  tell_joined(ctx, **c, events::push("call.declined", object{{"id", id}, {"user", caller.handle}, {"reason", state}}));
  auto taken = events::push("call.taken", object{{"id", id}, {"state", state}});
  if (caller.session) ctx.events.publish_session(caller.user_id, caller.session, taken, true);
  else ctx.events.publish(std::span(&caller.user_id, 1), taken);
  auto stored = store_member(ctx, id, caller.user_id, state, false);
  if (auto ok = co_await std::move(stored); !ok) co_return ok.error();
  auto settling = settle(ctx, id, caller.user_id);
  co_await std::move(settling);
  co_return Reply::ok(object{{"id", id}, {"state", state}});
}

boost::asio::awaitable<Result<Reply>> call_cancel(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  if ((*c)->caller != caller.user_id) co_return Error(Code::permission_denied, "only the caller cancels a call; hang up instead");
  if ((*c)->answered_at) co_return Error(Code::conflict, "call " + std::to_string(id) + " was answered: hang up instead");
  auto ending = end_call(ctx, id, "cancelled", caller.user_id);
  co_await std::move(ending);
  co_return Reply::ok(object{{"id", id}, {"outcome", "cancelled"}});
}

boost::asio::awaitable<Result<Reply>> call_hangup(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  auto* m = (*c)->member(caller.user_id);
  if (m->state != "joined") co_return Error(Code::conflict, "you are " + m->state + " in call " + std::to_string(id));
  if (caller.session && caller.session != m->session)
    co_return Error(Code::permission_denied, "hang up on the device that joined call " + std::to_string(id));
  m->state = "left";
  tell_joined(ctx, **c, events::push("call.left", object{{"id", id}, {"user", caller.handle}}));
  auto stored = store_member(ctx, id, caller.user_id, "left", false);
  if (auto ok = co_await std::move(stored); !ok) co_return ok.error();
  auto settling = settle(ctx, id, caller.user_id);
  co_await std::move(settling);
  co_return Reply::ok(object{{"id", id}, {"state", "left"}});
}

boost::asio::awaitable<Result<Reply>> call_signal(Context& ctx, const Caller& caller, const object& p) {
  if (auto ok = needs_session(caller); !ok) co_return ok.error();
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  auto* from = (*c)->member(caller.user_id);
  // Only a member in the call, from the device that joined it, to another member in it.
  if (from->state != "joined" || from->session != caller.session)
    co_return Error(Code::permission_denied, "signal from the device that joined call " + std::to_string(id));
  auto to_handle = validate::fold_handle(*get_string(p, "to"));
  auto* to = (*c)->member(to_handle);
  if (!to || to->state != "joined" || to->user == caller.user_id)
    co_return bad("to", "'" + to_handle + "' is not another member in call " + std::to_string(id));
  auto type = *get_string(p, "type");
  object data{{"id", id}, {"from", caller.handle}, {"type", type}};
  if (type == "offer" || type == "answer") {
    auto sdp = get_string(p, "sdp");
    if (!sdp || sdp->empty()) co_return bad("sdp", "required with an " + type);
    if (sdp->size() > 32 * 1024) co_return bad("sdp", "at most 32 KiB");
    data["sdp"] = *sdp;
    if (has(p, "tracks")) {
      object tracks;
      for (const auto& [k, v] : get_string_map(p, "tracks")) {
        if (v != "camera" && v != "screen" && v != "audio") co_return bad("tracks", "'" + v + "': camera, screen or audio");
        if (k.size() > 128) co_return bad("tracks", "track ids of at most 128 bytes");
        tracks[k] = v;
      }
      if (tracks.size() > 16) co_return bad("tracks", "at most 16 tracks");
      data["tracks"] = std::move(tracks);
    }
  } else if (type == "candidate") {
    auto candidate = get_string(p, "candidate").value_or("");
    if (candidate.size() > 2048) co_return bad("candidate", "at most 2 KiB");
    data["candidate"] = candidate;
    data["sdp_mid"] = get_string(p, "sdp_mid") ? boost::json::value(*get_string(p, "sdp_mid")) : nullptr;
    data["sdp_mline_index"] = get_int(p, "sdp_mline_index") ? boost::json::value(*get_int(p, "sdp_mline_index")) : nullptr;
    data["username_fragment"] =
        get_string(p, "username_fragment") ? boost::json::value(*get_string(p, "username_fragment")) : nullptr;
  } else {
    co_return bad("type", "'" + type + "': offer, answer or candidate");
  }
  if (!ctx.events.publish_session(to->user, to->session, events::push("call.signal", std::move(data))))
    co_return Error(Code::unavailable, to_handle + "'s device is gone", "to");
  co_return Reply::ok(object{{"id", id}, {"to", to_handle}, {"type", type}});
}

boost::asio::awaitable<Result<Reply>> call_stats(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto c = live_member(ctx, caller, id);
  if (!c) co_return c.error();
  auto* m = (*c)->member(caller.user_id);
  if (m->state != "joined") co_return Error(Code::conflict, "you are " + m->state + " in call " + std::to_string(id));
  if (caller.session != m->session)
    co_return Error(Code::permission_denied, "report from the device that joined call " + std::to_string(id));
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  if (m->last_stats && now - m->last_stats < cfg->calls_stats_interval_ms)
    co_return Error(Code::rate_limited, fmt::format("one report per {} ms (calls.stats_interval_ms)", cfg->calls_stats_interval_ms));
  calls::Sample s;
  s.rtt_ms = *get_number(p, "rtt_ms");
  s.loss_percent = *get_number(p, "loss_percent");
  s.bitrate_kbps = *get_number(p, "bitrate_kbps");
  s.fps = get_number(p, "fps").value_or(0);
  s.height = get_int(p, "height").value_or(0);
  auto finite = [](double x, double hi) { return std::isfinite(x) && x >= 0 && x <= hi; };
  if (!finite(s.rtt_ms, 600'000)) co_return bad("rtt_ms", "0 to 600000");
  if (!finite(s.loss_percent, 100)) co_return bad("loss_percent", "0 to 100");
  if (!finite(s.bitrate_kbps, 1'000'000)) co_return bad("bitrate_kbps", "0 to 1000000");
  if (!finite(s.fps, 1000)) co_return bad("fps", "0 to 1000");
  if (s.height < 0 || s.height > 10'000) co_return bad("height", "0 to 10000");
  m->last_stats = now;
  calls::add((*c)->quality, s, (*c)->video);
  auto sample_score = *(*c)->quality.score;
  auto q = (*c)->quality;
  auto pending = ctx.writer.run<bool>([id, q](store::Db& db) -> Result<bool> {
    calls::records::set_quality(db, id, q);
    return true;
  });
  if (auto r = co_await std::move(pending); !r) co_return r.error();
  co_return Reply::ok(object{{"id", id}, {"score", sample_score}, {"worst_score", *q.worst_score}, {"samples", q.samples}});
}

boost::asio::awaitable<Result<Reply>> call_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto r = ctx.reads.with([&](store::Db& db) -> Result<calls::CallRecord> {
    auto c = calls::records::find(db, id);
    if (!c) return Error(Code::not_found, "no call " + std::to_string(id), "id");
    if (auto ok = check_visible(db, caller, c->conversation_id, "id"); !ok) return Error(Code::not_found, "no call " + std::to_string(id), "id");
    return *c;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(record_json(*r));
}

boost::asio::awaitable<Result<Reply>> call_list(Context& ctx, const Caller& caller, const object& p) {
  auto conversation = get_int(p, "conversation").value_or(0);
  auto limit = get_int(p, "limit").value_or(50);
  if (limit < 1 || limit > 500) co_return bad("limit", "1 to 500");
  if (!conversation && !caller.is_operator()) co_return bad("conversation", "required (operators may list every call)");
  auto r = ctx.reads.with([&](store::Db& db) -> Result<array> {
    if (conversation)
      if (auto ok = check_visible(db, caller, conversation, "conversation"); !ok) return ok.error();
    array out;
    for (const auto& c : calls::records::list(db, conversation, limit)) out.push_back(record_json(c));
    return out;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"calls", std::move(*r)}});
}

void call_sessions_closed(Context& ctx, const SessionsGone& gone) {
  if (!ctx.calls || !ctx.loop) return;
  std::vector<std::pair<std::int64_t, std::int64_t>> left;  // (call, user)
  for (const auto& [id, c] : ctx.calls->all())
    for (const auto& m : c.members)
      if (m.state == "joined" && gone(m.user, m.session)) left.emplace_back(id, m.user);
  if (left.empty()) return;
  boost::asio::co_spawn(
      ctx.loop,
      [&ctx, left]() -> boost::asio::awaitable<void> {
        for (auto [id, user] : left) {
          auto* c = ctx.calls->find(id);
          auto* m = c ? c->member(user) : nullptr;
          if (!m || m->state != "joined") continue;
          m->state = "left";
          tell_joined(ctx, *c, events::push("call.left", object{{"id", id}, {"user", m->handle}, {"reason", "disconnected"}}));
          auto stored = store_member(ctx, id, user, "left", false);
          co_await std::move(stored);
          auto settling = settle(ctx, id, user);
          co_await std::move(settling);
        }
      },
      boost::asio::detached);
}

boost::asio::awaitable<void> end_orphan_calls(Context& ctx) {
  std::set<std::int64_t> here;
  if (ctx.calls)
    for (const auto& [id, c] : ctx.calls->all()) here.insert(id);
  auto pending = ctx.writer.run<std::vector<calls::records::Failed>>(
      [here](store::Db& db) -> Result<std::vector<calls::records::Failed>> {
        return calls::records::fail_open(db, timeutil::now_ms(), here);
      });
  auto failed = co_await std::move(pending);
  if (!failed || failed->empty()) co_return;
  for (const auto& f : *failed)
    ctx.events.publish(f.users, events::push("call.ended", object{{"id", f.id}, {"conversation", f.conversation}, {"outcome", "failed"}}));
  logging::get("calls")->warn("calls.interrupted calls={} (left open by the leader before: ended as failed)", failed->size());
}

void drop_calls(Context& ctx) {
  if (!ctx.calls || !ctx.calls->size()) return;
  std::vector<std::int64_t> ids;
  for (const auto& [id, c] : ctx.calls->all()) ids.push_back(id);
  for (auto id : ids) ctx.calls->remove(id);
  logging::get("calls")->warn("calls.handed_over calls={} (this node no longer leads: the new leader ends them)", ids.size());
}

namespace {
const Binding kBindings[] = {
    {"call.config", call_config}, {"call.start", call_start},   {"call.ringing", call_ringing}, {"call.accept", call_accept},
    {"call.decline", call_decline}, {"call.cancel", call_cancel}, {"call.hangup", call_hangup},   {"call.signal", call_signal},
    {"call.stats", call_stats},   {"call.show", call_show},     {"call.list", call_list},
};
}  // namespace

std::span<const Binding> call_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
