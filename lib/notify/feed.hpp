// The in-app feed: notifications stored per user, with an unread count and read marks.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "store/db.hpp"

namespace tourbus::notify {

struct FeedItem {
  std::int64_t id = 0, user_id = 0, notification_id = 0;
  std::string category, title, body;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> read_at;
};

namespace feed {
// The "notification" push of an item (docs/protocol.md), with the user's unread count.
boost::json::object push_data(const FeedItem& item, std::int64_t unread);
FeedItem insert(store::Db& db, const FeedItem& item);
// Newest first: items with an id below `before_id` (0: from the newest).
std::vector<FeedItem> list(store::Db& db, std::int64_t user_id, std::int64_t before_id, std::int64_t limit, bool unread_only);
// The user's items with an id above `after`, oldest first (state recovery).
std::vector<FeedItem> after_id(store::Db& db, std::int64_t user_id, std::int64_t after, std::int64_t limit);
// The highest feed item id so far (0: none).
std::int64_t last_id(store::Db& db);
std::int64_t unread(store::Db& db, std::int64_t user_id);
// Marks the user's items read (all of them when `ids` is empty); returns how many changed.
std::int64_t mark_read(store::Db& db, std::int64_t user_id, const std::vector<std::int64_t>& ids, std::int64_t at);
}  // namespace feed

// Preferences: one switch per user, category and channel. Without a row a channel is on.
namespace preferences {
struct Row {
  std::string category, channel;
  bool enabled = true;
  std::int64_t updated_at = 0;
};
std::optional<bool> get(store::Db& db, std::int64_t user_id, std::string_view category, std::string_view channel);
void set(store::Db& db, std::int64_t user_id, std::string_view category, std::string_view channel, bool enabled,
         std::int64_t at);
std::vector<Row> list(store::Db& db, std::int64_t user_id);
}  // namespace preferences

// Where push notifications go: browsers' Web Push subscriptions and phones' device tokens.
struct PushSubscription {
  std::int64_t id = 0, user_id = 0;
  std::string endpoint, p256dh, auth;
  std::int64_t created_at = 0;
};
struct Device {
  std::int64_t id = 0, user_id = 0;
  std::string platform, token;
  std::int64_t created_at = 0;
};

namespace addresses {
// Registers a subscription by endpoint; returns it. An endpoint registered by another user is
// moved to this one under a new id (ids are never reused, so jobs naming the old one go nowhere).
PushSubscription subscribe(store::Db& db, PushSubscription s);
std::optional<PushSubscription> subscription(store::Db& db, std::int64_t id);
std::vector<PushSubscription> subscriptions(store::Db& db, std::int64_t user_id);
bool unsubscribe(store::Db& db, std::int64_t user_id, std::int64_t id);
Device register_device(store::Db& db, Device d);
std::optional<Device> device(store::Db& db, std::int64_t id);
std::vector<Device> devices(store::Db& db, std::int64_t user_id);
bool unregister_device(store::Db& db, std::int64_t user_id, std::int64_t id);
// A provider said the address is gone (404/410, unregistered token).
// The subscription or device id a push job's address holds.
std::optional<std::int64_t> address_id(std::string_view address);
}  // namespace addresses

}  // namespace tourbus::notify
