#include "api/on_leader.hpp"

#include <algorithm>
#include <array>
#include <memory>

#include <boost/asio/as_tuple.hpp>
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json.hpp>

#include "api/handlers.hpp"
#include "core/logging.hpp"
#include "realtime/relay.hpp"

namespace tourbus::api {

namespace asio = boost::asio;
namespace json = boost::json;

namespace {

// How long a node waits for the leader's answer (a preview's Janus calls take seconds at worst).
constexpr std::chrono::seconds kAskTimeout{15};

// What a node asks of the leader, and what comes back (the relay carries the bytes):
//   {"op":"call.accept","params":{...},"caller":{"role":"guide","user":3,"handle":"ann",
//    "transport":2,"peer":"...","request":12,"session":330712481793,"token":7}}
//   {"status":200,"json":{...}}   or   {"error":{"code":"not_found","message":"...","field":"id"}}
json::object caller_json(const Caller& c) {
  return json::object{{"role", role_name(c.role)},      {"user", c.user_id},        {"handle", c.handle},
                      {"transport", static_cast<int>(c.transport)}, {"peer", c.peer}, {"request", c.request_id},
                      {"session", c.session},           {"token", c.token_id}};
}

std::optional<Caller> caller_of(const json::object& o) {
  const auto* role = o.if_contains("role");
  const auto* user = o.if_contains("user");
  const auto* handle = o.if_contains("handle");
  const auto* transport = o.if_contains("transport");
  const auto* peer = o.if_contains("peer");
  const auto* request = o.if_contains("request");
  const auto* session = o.if_contains("session");
  const auto* token = o.if_contains("token");
  if (!role || !role->is_string() || !user || !user->is_int64() || !handle || !handle->is_string() || !transport ||
      !transport->is_int64() || !peer || !peer->is_string() || !request || !request->is_number() || !session ||
      !session->is_number() || !token || !token->is_int64())
    return std::nullopt;
  auto r = role_from_name(role->as_string());
  auto t = transport->as_int64();
  if (!r || t < 0 || t > static_cast<int>(Transport::websocket)) return std::nullopt;
  boost::system::error_code ec;
  auto request_id = request->to_number<std::uint64_t>(ec);
  if (ec) return std::nullopt;
  auto session_id = session->to_number<std::uint64_t>(ec);
  if (ec) return std::nullopt;
  Caller c;
  c.role = *r;
  c.user_id = user->as_int64();
  c.handle = std::string(handle->as_string());
  c.transport = static_cast<Transport>(t);
  c.peer = std::string(peer->as_string());
  c.request_id = request_id;
  c.session = session_id;
  c.token_id = token->as_int64();
  return c;
}

std::string answer_of(const Result<Reply>& r) {
  if (!r)
    return json::serialize(json::object{
        {"error", json::object{{"code", code_name(r.error().code)}, {"message", r.error().message}, {"field", r.error().field}}}});
  return json::serialize(json::object{{"status", r->status}, {"json", r->json}});
}

Result<Reply> reply_of(const std::string& bytes) {
  auto bad = Error(Code::internal, "the leader's answer could not be read");
  boost::system::error_code ec;
  auto v = json::parse(bytes, ec);
  if (ec || !v.is_object()) return bad;
  const auto& o = v.as_object();
  if (const auto* e = o.if_contains("error")) {
    const auto* eo = e->if_object();
    if (!eo) return bad;
    const auto* code = eo->if_contains("code");
    const auto* message = eo->if_contains("message");
    const auto* field = eo->if_contains("field");
    auto c = code && code->is_string() ? code_from_name(code->as_string()) : std::nullopt;
    if (!c || !message || !message->is_string() || !field || !field->is_string()) return bad;
    return Error(*c, std::string(message->as_string()), std::string(field->as_string()));
  }
  const auto* status = o.if_contains("status");
  const auto* body = o.if_contains("json");
  if (!status || !status->is_int64() || !body) return bad;
  return Reply{static_cast<int>(status->as_int64()), *body};
}

// Runs what another node asked and gives back the answer's bytes.
asio::awaitable<std::string> run_asked(Context& ctx, std::string request) {
  auto refuse = [](std::string why) { return answer_of(Error(Code::bad_request, std::move(why))); };
  boost::system::error_code ec;
  auto v = json::parse(request, ec);
  const auto* o = !ec ? v.if_object() : nullptr;
  const auto* name = o ? o->if_contains("op") : nullptr;
  const auto* params = o ? o->if_contains("params") : nullptr;
  const auto* who = o ? o->if_contains("caller") : nullptr;
  if (!name || !name->is_string() || !params || !params->is_object() || !who || !who->is_object())
    co_return refuse("not a question from another node");
  const auto* op = find_operation(name->as_string());
  if (!op || !runs_on_leader(op->name)) co_return refuse("the leader is asked only for calls and previews");
  auto caller = caller_of(who->as_object());
  if (!caller) co_return refuse("the caller could not be read");
  auto running = invoke(ctx, *op, *caller, params->as_object(), true);
  auto r = co_await std::move(running);
  co_return answer_of(r);
}

}  // namespace

bool runs_on_leader(std::string_view operation) {
  // (preview.list and preview.show too: the viewers watching are counted where they watch.)
  static constexpr std::array<std::string_view, 18> kOnLeader{
      "call.start",     "call.ringing",  "call.accept",     "call.decline",  "call.cancel",    "call.hangup",
      "call.signal",    "call.stats",    "preview.start",   "preview.publish", "preview.watch", "preview.answer",
      "preview.stats",  "preview.leave", "preview.record",  "preview.stop",  "preview.list",   "preview.show"};
  return std::find(kOnLeader.begin(), kOnLeader.end(), operation) != kOnLeader.end();
}

bool elsewhere(const Context& ctx, const Operation& op) {
  return ctx.relay && ctx.leading && !ctx.leading->load() && runs_on_leader(op.name);
}

asio::awaitable<Result<Reply>> ask_leader(Context& ctx, const Operation& op, const Caller& caller, const json::object& params) {
  auto leader = ctx.relay->leader();
  if (leader.empty())
    co_return Error(Code::unavailable, "no node leads the cluster right now (calls and previews run on the leader): try again in a few seconds");
  auto request = json::serialize(json::object{{"op", op.name}, {"params", params}, {"caller", caller_json(caller)}});
  // The answer comes on the loop; the timer is only a signal (the relay times the question out).
  auto answered = std::make_shared<std::optional<Result<std::string>>>();
  auto signal = std::make_shared<asio::steady_timer>(co_await asio::this_coro::executor, asio::steady_timer::time_point::max());
  ctx.relay->ask(leader, request, kAskTimeout, [answered, signal](Result<std::string> r) {
    answered->emplace(std::move(r));
    signal->cancel();
  });
  while (!*answered) {
    auto waiting = signal->async_wait(asio::as_tuple(asio::use_awaitable));
    co_await std::move(waiting);
  }
  auto& r = **answered;
  if (!r) {
    logging::get("cluster")->warn("cluster.leader_unanswered req={} op={} leader={} error=\"{}\"", caller.request_id, op.name, leader,
                                  r.error().message);
    co_return r.error();
  }
  co_return reply_of(*r);
}

void serve_other_nodes(Context& ctx) {
  if (!ctx.relay) return;
  ctx.relay->on_ask([&ctx](std::string request, std::function<void(std::string)> answer) {
    asio::co_spawn(ctx.loop, run_asked(ctx, std::move(request)),
                   [answer = std::move(answer)](std::exception_ptr e, std::string bytes) {
                     if (!e) answer(std::move(bytes));
                   });
  });
  ctx.relay->on_closed([&ctx](std::int64_t user, std::uint64_t session, std::uint64_t prefix) {
    handlers::SessionsGone gone;
    if (prefix)
      gone = [prefix](std::int64_t, std::uint64_t s) { return realtime::Relay::prefix_of(s) == prefix; };
    else
      gone = [user, session](std::int64_t u, std::uint64_t s) { return u == user && s == session; };
    handlers::call_sessions_closed(ctx, gone);
    handlers::preview_sessions_closed(ctx, gone);
  });
}

void session_closed(Context& ctx, std::int64_t user, std::uint64_t session) {
  handlers::SessionsGone gone = [user, session](std::int64_t u, std::uint64_t s) { return u == user && s == session; };
  handlers::call_sessions_closed(ctx, gone);
  handlers::preview_sessions_closed(ctx, gone);
  if (ctx.relay) ctx.relay->session_closed(user, session);
}

void lead_changed(Context& ctx, bool on) {
  if (!ctx.relay) return;
  ctx.relay->set_leading(on);
  if (!on) {
    handlers::drop_calls(ctx);
    handlers::drop_previews(ctx);
    return;
  }
  asio::co_spawn(
      ctx.loop,
      [&ctx]() -> asio::awaitable<void> {
        auto calls = handlers::end_orphan_calls(ctx);
        co_await std::move(calls);
        auto previews = handlers::end_orphan_previews(ctx);
        co_await std::move(previews);
      },
      asio::detached);
}

}  // namespace tourbus::api
