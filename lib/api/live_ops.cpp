// Receipts, typing and presence: what members see of each other while they chat.
// Typing is ephemeral (never stored); receipts are two numbers per member; presence is shown
// only to people who share a conversation.
#include "api/chat_access.hpp"
#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/schema.hpp"
#include "core/time.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

// How long a typing indicator lasts unless renewed; clients renew it every few seconds.
constexpr int kTypingExpiresMs = 6000;

}  // namespace

boost::asio::awaitable<Result<Reply>> receipt(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "conversation");
  auto delivered = get_int(p, "delivered").value_or(0);
  auto read = get_int(p, "read").value_or(0);
  if (!has(p, "delivered") && !has(p, "read"))
    co_return Error(Code::invalid_argument, "give delivered, read or both (a seq)", "read");
  if (delivered < 0 || read < 0) co_return Error(Code::invalid_argument, "delivered and read are seqs, 0 or more", "read");
  struct Moved {
    std::int64_t delivered = 0, read = 0, last_seq = 0;
    bool changed = false;
    std::vector<std::int64_t> members;
  };
  auto pending = ctx.writer.run<Moved>([=](store::Db& db) -> Result<Moved> {
    auto c = visible_conversation(db, caller, id, "conversation");
    if (!c) return c.error();
    if (!c->me) return Error(Code::conflict, "only members have receipts", "conversation");
    // A receipt never runs ahead of the conversation.
    auto [d, r] = chat::conversations::advance_receipts(db, id, caller.user_id, std::min(delivered, c->last_seq),
                                                        std::min(read, c->last_seq));
    return Moved{d, r, c->last_seq, d != c->me->delivered_seq || r != c->me->read_seq,
                 chat::conversations::member_ids(db, id)};
  });
  auto moved = co_await std::move(pending);
  if (!moved) co_return moved.error();
  if (moved->changed) {
    // Every member, the reader included: their other devices clear the unread count too.
    ctx.events.publish(moved->members,
                       events::push("receipt", object{{"conversation", id},
                                                        {"user", caller.handle},
                                                        {"delivered_seq", moved->delivered},
                                                        {"read_seq", moved->read}}));
  }
  co_return Reply::ok(object{{"conversation", id},
                             {"delivered_seq", moved->delivered},
                             {"read_seq", moved->read},
                             {"unread", moved->last_seq - moved->read}});
}

boost::asio::awaitable<Result<Reply>> typing(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "conversation");
  auto state = get_string(p, "state").value_or("typing");
  if (state != "typing" && state != "stopped")
    co_return Error(Code::invalid_argument, "state: typing or stopped", "state");
  auto members = ctx.reads.with([&](store::Db& db) -> Result<std::vector<std::int64_t>> {
    auto c = visible_conversation(db, caller, id, "conversation");
    if (!c) return c.error();
    if (!c->me) return Error(Code::conflict, "only members type in a conversation", "conversation");
    return chat::conversations::member_ids(db, id);
  });
  if (!members) co_return members.error();
  bool forwarded = state == "stopped" || ctx.events.allow_typing(caller.user_id, id);
  if (forwarded) {
    std::erase(*members, caller.user_id);
    ctx.events.publish(*members, events::push("typing", object{{"conversation", id},
                                                                 {"user", caller.handle},
                                                                 {"state", state},
                                                                 {"expires_in_ms", kTypingExpiresMs}}));
  }
  co_return Reply::ok(object{{"forwarded", forwarded}});
}

boost::asio::awaitable<Result<Reply>> presence_set(Context& ctx, const Caller& caller, const object& p) {
  auto status = *get_string(p, "status");
  if (status != "online" && status != "away")
    co_return Error(Code::invalid_argument, "status: online or away (offline is closing the connection)", "status");
  if (caller.session == 0 || caller.user_id == 0)
    co_return Error(Code::bad_request, "presence belongs to a user's WebSocket session; send it there");
  if (auto changed = ctx.events.set_away(caller.user_id, caller.session, status == "away"))
    announce_presence(ctx, caller.user_id, *changed);
  co_return Reply::ok(object{{"status", events::presence_name(ctx.events.presence(caller.user_id))}});
}

boost::asio::awaitable<Result<Reply>> presence_list(Context& ctx, const Caller& caller, const object& p) {
  auto handles = get_strings(p, "users");
  auto result = ctx.reads.with([&](store::Db& db) -> Result<boost::json::array> {
    std::vector<store::User> people;
    if (handles.empty()) {
      if (caller.user_id == 0) return Error(Code::invalid_argument, "users: name the users to look up", "users");
      for (auto id : chat::conversations::contacts(db, caller.user_id))
        if (auto u = store::users::find_id(db, id)) people.push_back(*u);
    }
    for (const auto& h : handles) {
      auto u = store::users::find(db, h);
      // Presence is private to people who share a conversation.
      if (!u || (!caller.is_operator() && u->id != caller.user_id &&
                 !chat::conversations::share_conversation(db, caller.user_id, u->id)))
        return Error(Code::not_found, "users: no user '" + h + "' that shares a conversation with you", "users");
      people.push_back(*u);
    }
    boost::json::array out;
    for (const auto& u : people) {
      auto now_is = ctx.events.presence(u.id);
      auto seen = now_is == events::Presence::offline ? store::users::last_seen(db, u.id) : std::nullopt;
      object o{{"user", u.handle}, {"status", events::presence_name(now_is)}};
      o["last_seen"] = seen ? boost::json::value(timeutil::format_utc(*seen)) : boost::json::value(nullptr);
      out.push_back(std::move(o));
    }
    return out;
  });
  if (!result) co_return result.error();
  co_return Reply::ok(object{{"presence", std::move(*result)}});
}

namespace {
const Binding kBindings[] = {
    {"receipt", receipt},
    {"typing", typing},
    {"presence.set", presence_set},
    {"presence.list", presence_list},
};
}  // namespace

std::span<const Binding> live_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
