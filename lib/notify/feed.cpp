#include "notify/feed.hpp"

#include <charconv>

#include "core/time.hpp"

namespace tourbus::notify {
namespace feed {

namespace {
FeedItem read_item(store::Stmt& s) {
  return {s.i64(0), s.i64(1), s.i64(2), s.text(3), s.text(4), s.text(5), s.i64(6), s.opt_i64(7)};
}
constexpr const char* kSelect = "SELECT id, user_id, notification_id, category, title, body, created_at, read_at FROM feed";
}  // namespace

boost::json::object push_data(const FeedItem& item, std::int64_t unread) {
  return {{"id", item.id},
          {"category", item.category},
          {"title", item.title},
          {"body", item.body},
          {"created_at", timeutil::format_utc(item.created_at)},
          {"unread", unread}};
}

FeedItem insert(store::Db& db, const FeedItem& item) {
  db.prepare("INSERT INTO feed (user_id, notification_id, category, title, body, created_at) VALUES (?, ?, ?, ?, ?, ?)")
      .bind(1, item.user_id)
      .bind(2, item.notification_id)
      .bind(3, item.category)
      .bind(4, item.title)
      .bind(5, item.body)
      .bind(6, item.created_at)
      .run();
  FeedItem out = item;
  out.id = db.last_insert_rowid();
  return out;
}

std::vector<FeedItem> list(store::Db& db, std::int64_t user_id, std::int64_t before_id, std::int64_t limit,
                           bool unread_only) {
  auto s = db.prepare(std::string(kSelect) +
                      " WHERE user_id = ?1 AND (?2 = 0 OR id < ?2) AND (?3 = 0 OR read_at IS NULL) ORDER BY id DESC LIMIT ?4");
  s.bind(1, user_id).bind(2, before_id).bind(3, unread_only).bind(4, limit);
  std::vector<FeedItem> out;
  while (s.step()) out.push_back(read_item(s));
  return out;
}

std::vector<FeedItem> after_id(store::Db& db, std::int64_t user_id, std::int64_t after, std::int64_t limit) {
  auto s = db.prepare(std::string(kSelect) + " WHERE user_id = ? AND id > ? ORDER BY id LIMIT ?");
  s.bind(1, user_id).bind(2, after).bind(3, limit);
  std::vector<FeedItem> out;
  while (s.step()) out.push_back(read_item(s));
  return out;
}

std::int64_t last_id(store::Db& db) {
  auto s = db.prepare("SELECT coalesce(max(id), 0) FROM feed");
  s.step();
  return s.i64(0);
}

std::int64_t unread(store::Db& db, std::int64_t user_id) {
  auto s = db.prepare("SELECT count(*) FROM feed WHERE user_id = ? AND read_at IS NULL");
  s.bind(1, user_id);
  s.step();
  return s.i64(0);
}

std::int64_t mark_read(store::Db& db, std::int64_t user_id, const std::vector<std::int64_t>& ids, std::int64_t at) {
  if (ids.empty()) {
    db.prepare("UPDATE feed SET read_at = ? WHERE user_id = ? AND read_at IS NULL").bind(1, at).bind(2, user_id).run();
    return db.changes();
  }
  std::int64_t changed = 0;
  for (auto id : ids) {
    db.prepare("UPDATE feed SET read_at = ? WHERE user_id = ? AND id = ? AND read_at IS NULL")
        .bind(1, at)
        .bind(2, user_id)
        .bind(3, id)
        .run();
    changed += db.changes();
  }
  return changed;
}

}  // namespace feed

namespace preferences {

std::optional<bool> get(store::Db& db, std::int64_t user_id, std::string_view category, std::string_view channel) {
  auto s = db.prepare("SELECT enabled FROM notify_preferences WHERE user_id = ? AND category = ? AND channel = ?");
  s.bind(1, user_id).bind(2, category).bind(3, channel);
  if (!s.step()) return std::nullopt;
  return s.i64(0) != 0;
}

void set(store::Db& db, std::int64_t user_id, std::string_view category, std::string_view channel, bool enabled,
         std::int64_t at) {
  db.prepare(
        "INSERT INTO notify_preferences (user_id, category, channel, enabled, updated_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (user_id, category, channel) DO UPDATE SET enabled = excluded.enabled, updated_at = excluded.updated_at")
      .bind(1, user_id)
      .bind(2, category)
      .bind(3, channel)
      .bind(4, enabled)
      .bind(5, at)
      .run();
}

std::vector<Row> list(store::Db& db, std::int64_t user_id) {
  auto s = db.prepare(
      "SELECT category, channel, enabled, updated_at FROM notify_preferences WHERE user_id = ? ORDER BY category, channel");
  s.bind(1, user_id);
  std::vector<Row> out;
  while (s.step()) out.push_back({s.text(0), s.text(1), s.i64(2) != 0, s.i64(3)});
  return out;
}

}  // namespace preferences

namespace addresses {

PushSubscription subscribe(store::Db& db, PushSubscription s) {
  // A browser now signed in as someone else gets a new id: jobs naming the old one go nowhere.
  db.prepare("DELETE FROM push_subscriptions WHERE endpoint = ? AND user_id <> ?").bind(1, s.endpoint).bind(2, s.user_id).run();
  db.prepare(
        "INSERT INTO push_subscriptions (user_id, endpoint, p256dh, auth, created_at) VALUES (?, ?, ?, ?, ?) "
        "ON CONFLICT (endpoint) DO UPDATE SET p256dh = excluded.p256dh, auth = excluded.auth")
      .bind(1, s.user_id)
      .bind(2, s.endpoint)
      .bind(3, s.p256dh)
      .bind(4, s.auth)
      .bind(5, s.created_at)
      .run();
  auto q = db.prepare("SELECT id, created_at FROM push_subscriptions WHERE endpoint = ?");
  q.bind(1, s.endpoint);
  q.step();
  s.id = q.i64(0);
  s.created_at = q.i64(1);
  return s;
}

namespace {
constexpr const char* kSubSelect = "SELECT id, user_id, endpoint, p256dh, auth, created_at FROM push_subscriptions";
PushSubscription read_sub(store::Stmt& s) { return {s.i64(0), s.i64(1), s.text(2), s.text(3), s.text(4), s.i64(5)}; }
constexpr const char* kDevSelect = "SELECT id, user_id, platform, token, created_at FROM devices";
Device read_dev(store::Stmt& s) { return {s.i64(0), s.i64(1), s.text(2), s.text(3), s.i64(4)}; }
}  // namespace

std::optional<PushSubscription> subscription(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSubSelect) + " WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_sub(s);
}

std::vector<PushSubscription> subscriptions(store::Db& db, std::int64_t user_id) {
  auto s = db.prepare(std::string(kSubSelect) + " WHERE user_id = ? ORDER BY id");
  s.bind(1, user_id);
  std::vector<PushSubscription> out;
  while (s.step()) out.push_back(read_sub(s));
  return out;
}

bool unsubscribe(store::Db& db, std::int64_t user_id, std::int64_t id) {
  db.prepare("DELETE FROM push_subscriptions WHERE id = ? AND user_id = ?").bind(1, id).bind(2, user_id).run();
  return db.changes() > 0;
}

Device register_device(store::Db& db, Device d) {
  // A phone now signed in as someone else gets a new id, as for subscriptions.
  db.prepare("DELETE FROM devices WHERE platform = ? AND token = ? AND user_id <> ?")
      .bind(1, d.platform)
      .bind(2, d.token)
      .bind(3, d.user_id)
      .run();
  db.prepare(
        "INSERT INTO devices (user_id, platform, token, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT (platform, token) DO NOTHING")
      .bind(1, d.user_id)
      .bind(2, d.platform)
      .bind(3, d.token)
      .bind(4, d.created_at)
      .run();
  auto q = db.prepare("SELECT id, created_at FROM devices WHERE platform = ? AND token = ?");
  q.bind(1, d.platform).bind(2, d.token);
  q.step();
  d.id = q.i64(0);
  d.created_at = q.i64(1);
  return d;
}

std::optional<Device> device(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kDevSelect) + " WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_dev(s);
}

std::vector<Device> devices(store::Db& db, std::int64_t user_id) {
  auto s = db.prepare(std::string(kDevSelect) + " WHERE user_id = ? ORDER BY id");
  s.bind(1, user_id);
  std::vector<Device> out;
  while (s.step()) out.push_back(read_dev(s));
  return out;
}

bool unregister_device(store::Db& db, std::int64_t user_id, std::int64_t id) {
  db.prepare("DELETE FROM devices WHERE id = ? AND user_id = ?").bind(1, id).bind(2, user_id).run();
  return db.changes() > 0;
}

std::optional<std::int64_t> address_id(std::string_view address) {
  std::int64_t id = 0;
  auto [p, ec] = std::from_chars(address.data(), address.data() + address.size(), id);
  if (ec != std::errc{} || p != address.data() + address.size() || id <= 0) return std::nullopt;
  return id;
}

}  // namespace addresses
}  // namespace tourbus::notify
