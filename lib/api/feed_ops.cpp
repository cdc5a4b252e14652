// feed.* and preference.* operations: the in-app feed, and users' notification preferences.
#include <algorithm>

#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/time.hpp"
#include "notify/feed.hpp"
#include "notify/model.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {

using boost::json::array;
using boost::json::object;

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
    ctx.events.publish(std::span(&uid, 1), events::push("notification.read", object{{"unread", done->second}}));
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
  if (!channels(ctx).find(channel))
    co_return Error(Code::invalid_argument, "channel: '" + channel + "' is not one of " + channels(ctx).names(), "channel");
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
const Binding kBindings[] = {
    {"feed.list", feed_list},
    {"feed.read", feed_read},
    {"preference.list", preference_list},
    {"preference.set", preference_set},
};
}  // namespace

std::span<const Binding> feed_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
