#include "api/fanout.hpp"

#include "api/json_out.hpp"
#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/this_coro.hpp>

#include "core/logging.hpp"
#include "core/time.hpp"
#include "chat/messages.hpp"
#include "notify/feed.hpp"
#include "store/users.hpp"
#include "translate/language.hpp"

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
  if (now_is == events::Presence::offline) last_seen = timeutil::now_ms();
  auto [handle, contacts] = ctx.reads.with([&](store::Db& db) {
    auto u = store::users::find_id(db, user);
    return std::pair{u ? u->handle : std::string(), chat::conversations::contacts(db, user)};
  });
  boost::json::object data{{"user", handle}, {"status", events::presence_name(now_is)}};
  data["last_seen"] = last_seen ? boost::json::value(timeutil::format_utc(*last_seen)) : nullptr;
  ctx.events.publish(contacts, events::push("presence", std::move(data)));
}

void record_last_seen(Context& ctx, std::int64_t user) {
  ctx.writer.submit_detached([user, at = timeutil::now_ms()](store::Db& db) { store::users::set_last_seen(db, user, at); });
}

void announce_change(Context& ctx, std::int64_t user, events::Presence before, events::Presence after) {
  if (user != 0 && before != events::Presence::offline && after == events::Presence::offline) record_last_seen(ctx, user);
  if (auto now_is = ctx.events.presence_changed(user, before, after)) announce_presence(ctx, user, *now_is);
}

std::optional<std::vector<events::EventPtr>> missed(Context& ctx, std::int64_t user, std::int64_t after_message,
                                                    std::int64_t after_feed, std::size_t limit) {
  auto max = static_cast<std::int64_t>(limit) + 1;
  auto [messages, translated, items, unread] = ctx.reads.with([&](store::Db& db) {
    auto m = chat::messages::after_id(db, user, after_message, max);
    auto f = user ? notify::feed::after_id(db, user, after_feed, max) : std::vector<notify::FeedItem>{};
    auto u = user && !f.empty() ? notify::feed::unread(db, user) : 0;
    std::vector<std::int64_t> ids;
    for (const auto& x : m) ids.push_back(x.id);
    auto t = m.size() + f.size() > limit ? std::map<std::int64_t, std::vector<translate::Stored>>{}
                                         : translate::translations::of(db, ids, reading_language(db, user));
    return std::tuple{std::move(m), std::move(t), std::move(f), u};
  });
  if (messages.size() + items.size() > limit) return std::nullopt;
  std::vector<events::EventPtr> out;
  out.reserve(messages.size() + items.size());
  for (const auto& m : messages) out.push_back(events::push("message", message_json(m, translated)));
  for (const auto& item : items) out.push_back(events::push("notification", notify::feed::push_data(item, unread)));
  return out;
}

std::vector<realtime::Ordered> StoreBackfill::messages(std::int64_t conversation, std::int64_t after, std::int64_t before,
                                                      std::int64_t since_ms, std::int64_t limit) {
  auto [list, members] = reads_.with([&](store::Db& db) {
    chat::Page page{.after = after, .before = before, .limit = limit};
    if (since_ms > 0) page.since = since_ms;
    auto m = chat::messages::page(db, conversation, page);
    return std::pair{std::move(m), m.empty() ? std::vector<std::int64_t>{} : chat::conversations::member_ids(db, conversation)};
  });
  std::vector<realtime::Ordered> out;
  out.reserve(list.size());
  for (const auto& m : list) out.push_back({m.seq, members, events::push("message", to_json(m)), true});
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> StoreBackfill::active_since(std::int64_t since_ms) {
  return reads_.with([&](store::Db& db) { return chat::conversations::active_since(db, since_ms); });
}

std::optional<std::string> reading_language(store::Db& db, std::int64_t user) {
  if (user == 0) return std::nullopt;
  auto u = store::users::find_id(db, user);
  return u ? translate::primary(u->language) : std::string();
}

boost::json::object message_json(const chat::Message& m, const std::map<std::int64_t, std::vector<translate::Stored>>& t) {
  auto o = to_json(m);
  auto it = t.find(m.id);
  if (it == t.end() || m.deleted_at) return o;
  boost::json::object out;
  for (const auto& s : it->second)
    out[s.lang] = boost::json::object{{"text", s.text},
                                      {"provider", s.provider},
                                      {"pivot", s.pivot ? boost::json::value(*s.pivot) : boost::json::value(nullptr)},
                                      {"machine", true}};
  o["translations"] = std::move(out);
  return o;
}

boost::json::array messages_json(store::Db& db, const std::vector<chat::Message>& list, const std::optional<std::string>& lang) {
  std::vector<std::int64_t> ids;
  for (const auto& m : list) ids.push_back(m.id);
  auto t = translate::translations::of(db, ids, lang);
  boost::json::array out;
  for (const auto& m : list) out.push_back(message_json(m, t));
  return out;
}

std::pair<std::int64_t, std::int64_t> last_pushed_ids(Context& ctx) {
  return ctx.reads.with(
      [](store::Db& db) { return std::pair{chat::messages::last_id(db), notify::feed::last_id(db)}; });
}

}  // namespace tourbus::api
