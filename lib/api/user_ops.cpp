// user.* operations and `me`.
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

// Validates and copies every user field present in p onto u. Null clears optional fields.
Status apply_fields(store::User& u, const object& p, std::int64_t now) {
  auto set = [&](std::string_view key, auto check, auto assign) -> Status {
    if (auto v = get_string(p, key)) {
      auto r = check(*v);
      if (!r) return field_error(key, r.error());
      assign(*r);
    }
    return {};
  };
  Status st;
  if (st = set("handle", validate::handle, [&](auto v) { u.handle = v; }); !st) return st;
  if (st = set("display_name", validate::display_name, [&](auto v) { u.display_name = v; }); !st) return st;
  if (auto role = get_string(p, "role")) {
    if (!role_from_name(*role))
      return Error(Code::invalid_argument, "role: '" + *role + "' is not tourist, guide or operator", "role");
    u.role = *role;
  }
  if (st = set("email", validate::email, [&](auto v) { u.email = v; }); !st) return st;
  if (is_null(p, "email")) u.email.reset();
  if (st = set("phone", validate::phone, [&](auto v) { u.phone = v; }); !st) return st;
  if (is_null(p, "phone")) u.phone.reset();
  if (st = set("language", validate::language, [&](auto v) { u.language = v; }); !st) return st;
  if (st = set("time_zone", validate::time_zone, [&](auto v) { u.time_zone = v; }); !st) return st;
  if (st = set("quiet_hours", validate::quiet_hours, [&](auto q) {
        u.quiet_start = q.start_minute;
        u.quiet_end = q.end_minute;
      });
      !st)
    return st;
  if (is_null(p, "quiet_hours")) u.quiet_start = u.quiet_end = std::nullopt;
  if (auto consent = get_bool(p, "marketing_consent"); consent && *consent != u.marketing_consent) {
    u.marketing_consent = *consent;
    u.marketing_consent_at = now;
  }
  return {};
}

Error no_user(std::string_view handle) {
  return Error(Code::not_found, "no user with handle '" + std::string(handle) + "'", "handle");
}

// Open sessions follow a change of rights at once. Before the write, with `after` the change as
// it would come out: a disabled account's sessions end, and a changed role is lowered to the lesser
// of the two, so nothing they send from now on runs with rights they are losing. After it (whether
// it committed or not), the sessions take the role the user has in the store.
void restrict_sessions(Context& ctx, const store::User& before, const store::User& after) {
  if (after.disabled && !before.disabled) {
    ctx.sessions.end_user(before.id, "the account was disabled");
    return;
  }
  auto was = role_from_name(before.role), will = role_from_name(after.role);
  if (was && will && *was != *will) ctx.sessions.set_role(before.id, std::min(*was, *will));
}

void settle_sessions(Context& ctx, std::int64_t id) {
  auto u = ctx.reads.with([id](store::Db& db) { return store::users::find_id(db, id); });
  if (!u) return;
  if (u->disabled) ctx.sessions.end_user(id, "the account was disabled");
  else if (auto role = role_from_name(u->role)) ctx.sessions.set_role(id, *role);
}

// Loads, changes and stores one user inside the writer's transaction.
template <class F>
boost::asio::awaitable<Result<Reply>> modify(Context& ctx, std::string handle, F change) {
  auto before = ctx.reads.with([&handle](store::Db& db) { return store::users::find(db, handle); });
  if (before) {
    auto after = *before;
    if (change(after, timeutil::now_ms())) restrict_sessions(ctx, *before, after);
  }
  auto pending = ctx.writer.run<store::User>([handle, change](store::Db& db) -> Result<store::User> {
    auto u = store::users::find(db, handle);
    if (!u) return no_user(handle);
    std::int64_t now = timeutil::now_ms();
    if (auto st = change(*u, now); !st) return st.error();
    u->updated_at = now;
    try {
      store::users::update(db, *u);
    } catch (const store::SqlError& e) {
      if (e.is_unique_violation())
        return Error(Code::already_exists, "a user with handle '" + u->handle + "' already exists", "handle");
      throw;
    }
    return *u;
  });
  auto r = co_await std::move(pending);
  if (before) settle_sessions(ctx, before->id);
  if (!r) co_return r.error();
  logging::get("api")->info("api.user_changed handle={}", r->handle);
  co_return Reply::ok(to_json(*r));
}

}  // namespace

boost::asio::awaitable<Result<Reply>> user_create(Context& ctx, const Caller&, const object& p) {
  store::User u;
  std::int64_t now = timeutil::now_ms();
  if (auto st = apply_fields(u, p, now); !st) co_return st.error();
  u.created_at = u.updated_at = now;
  auto pending = ctx.writer.run<store::User>([u](store::Db& db) { return store::users::insert(db, u); });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.user_created handle={} role={}", r->handle, r->role);
  co_return Reply::created(to_json(*r));
}

boost::asio::awaitable<Result<Reply>> user_list(Context& ctx, const Caller&, const object& p) {
  store::UserFilter f;
  if (auto role = get_string(p, "role")) {
    if (!role_from_name(*role))
      co_return Error(Code::invalid_argument, "role: '" + *role + "' is not tourist, guide or operator", "role");
    f.role = *role;
  }
  f.disabled = get_bool(p, "disabled");
  f.after_id = get_int(p, "after").value_or(0);
  f.limit = std::clamp<std::int64_t>(get_int(p, "limit").value_or(1000), 1, 1000);
  auto list = ctx.reads.with([&](store::Db& db) { return store::users::list(db, f); });
  boost::json::array out;
  for (const auto& u : list) out.push_back(to_json(u));
  co_return Reply::ok(object{{"users", std::move(out)}});
}

boost::asio::awaitable<Result<Reply>> user_show(Context& ctx, const Caller& caller, const object& p) {
  auto handle = validate::fold_handle(*get_string(p, "handle"));
  if (!caller.is_operator() && handle != caller.handle)
    co_return Error(Code::permission_denied, "only operators may look at other users");
  auto u = ctx.reads.with([&](store::Db& db) { return store::users::find(db, handle); });
  if (!u) co_return no_user(handle);
  auto o = to_json(*u);
  boost::json::array tags;
  for (const auto& t : ctx.reads.with([&](store::Db& db) { return store::users::tags(db, u->id); })) tags.emplace_back(t);
  o["tags"] = std::move(tags);
  co_return Reply::ok(std::move(o));
}

boost::asio::awaitable<Result<Reply>> user_tag(Context& ctx, const Caller&, const object& p) {
  auto handle = validate::fold_handle(*get_string(p, "handle"));
  auto add = get_strings(p, "add"), remove = get_strings(p, "remove");
  if (add.empty() && remove.empty()) co_return Error(Code::invalid_argument, "add: give tags to add or remove", "add");
  for (const auto* list : {&add, &remove})
    for (const auto& t : *list)
      if (t.empty() || t.size() > 64 || t.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_-") != std::string::npos)
        co_return Error(Code::invalid_argument, std::string(list == &add ? "add" : "remove") + ": '" + t +
                        "' is not a tag (1-64 of a-z 0-9 _ -)", list == &add ? "add" : "remove");
  auto pending = ctx.writer.run<boost::json::array>([handle, add, remove](store::Db& db) -> Result<boost::json::array> {
    auto u = store::users::find(db, handle);
    if (!u) return no_user(handle);
    for (const auto& t : add) store::users::add_tag(db, u->id, t);
    for (const auto& t : remove) store::users::remove_tag(db, u->id, t);
    boost::json::array tags;
    for (const auto& t : store::users::tags(db, u->id)) tags.emplace_back(t);
    return tags;
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"handle", handle}, {"tags", std::move(*r)}});
}

boost::asio::awaitable<Result<Reply>> me(Context& ctx, const Caller& caller, const object&) {
  if (caller.user_id == 0) {  // the control socket, over HTTP or WebSocket
    auto transport = caller.transport == Transport::websocket ? "websocket" : "unix";
    co_return Reply::ok(object{{"role", "operator"}, {"transport", transport}, {"peer", caller.peer}});
  }
  auto u = ctx.reads.with([&](store::Db& db) { return store::users::find_id(db, caller.user_id); });
  if (!u) co_return Error(Code::unauthenticated, "the calling user no longer exists");
  co_return Reply::ok(to_json(*u));
}

boost::asio::awaitable<Result<Reply>> user_update(Context& ctx, const Caller&, const object& p) {
  auto handle = *get_string(p, "handle");
  // "handle" names the user; renaming is not offered (handles are how others know you).
  object changes = p;
  changes.erase("handle");
  auto pending = modify(ctx, handle, [changes](store::User& u, std::int64_t now) {
    return apply_fields(u, changes, now);
  });
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> user_disable(Context& ctx, const Caller&, const object& p) {
  auto pending = modify(ctx, *get_string(p, "handle"), [](store::User& u, std::int64_t) -> Status {
    u.disabled = true;
    return {};
  });
  co_return co_await std::move(pending);
}

boost::asio::awaitable<Result<Reply>> user_enable(Context& ctx, const Caller&, const object& p) {
  auto pending = modify(ctx, *get_string(p, "handle"), [](store::User& u, std::int64_t) -> Status {
    u.disabled = false;
    return {};
  });
  co_return co_await std::move(pending);
}

namespace {
const Binding kBindings[] = {
    {"me", me},
    {"user.create", user_create},
    {"user.list", user_list},
    {"user.show", user_show},
    {"user.update", user_update},
    {"user.disable", user_disable},
    {"user.enable", user_enable},
    {"user.tag", user_tag},
};
}  // namespace

std::span<const Binding> user_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
