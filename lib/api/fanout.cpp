#include "api/fanout.hpp"

#include "api/json_out.hpp"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/logging.hpp"
#include "core/time.hpp"
#include "store/users.hpp"

namespace tourbus::api {

void announce(Context& ctx, const chat::Posted& posted) {
  if (posted.duplicate || posted.message.id == 0) return;
  ctx.events.publish(posted.members, events::push("message", to_json(posted.message)), true);
}

void announce_update(Context& ctx, const chat::Message& m, std::span<const std::int64_t> members) {
  ctx.events.publish(members, events::push("message.updated", to_json(m)), true);
}

void announce(Context& ctx, const chat::MembersChanged& change) {
  announce(ctx, change.notice);
  boost::json::array added, removed;
  for (const auto& h : change.added) added.emplace_back(h);
  for (const auto& h : change.removed) removed.emplace_back(h);
  auto frame = events::push("conversation.members", boost::json::object{{"conversation", change.conversation},
                                                                          {"added", std::move(added)},
                                                                          {"removed", std::move(removed)}});
  auto members = ctx.reads.with([&](store::Db& db) { return chat::conversations::member_ids(db, change.conversation); });
  ctx.events.publish(members, frame, true);
  ctx.events.publish(change.removed_ids, frame);
  logging::get("chat")->info("chat.members_changed conversation={} added={} removed={}", change.conversation,
                             change.added.size(), change.removed.size());
}

void announce_presence(Context& ctx, std::int64_t user, events::Presence now_is) {
  if (user == 0) return;
  std::optional<std::int64_t> last_seen;
  if (now_is == events::Presence::offline) {
    last_seen = timeutil::now_ms();
    ctx.writer.submit_detached([user, at = *last_seen](store::Db& db) { store::users::set_last_seen(db, user, at); });
  }
  auto [handle, contacts] = ctx.reads.with([&](store::Db& db) {
    auto u = store::users::find_id(db, user);
    return std::pair{u ? u->handle : std::string(), chat::conversations::contacts(db, user)};
  });
  boost::json::object data{{"user", handle}, {"status", events::presence_name(now_is)}};
  data["last_seen"] = last_seen ? boost::json::value(timeutil::format_utc(*last_seen)) : nullptr;
  ctx.events.publish(contacts, events::push("presence", std::move(data)));
}

}  // namespace tourbus::api
