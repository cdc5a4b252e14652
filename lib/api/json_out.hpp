// JSON shapes of the entities, as documented in docs/api.md.
#pragma once

#include <boost/json/object.hpp>

#include "chat/conversations.hpp"
#include "chat/messages.hpp"
#include "notify/feed.hpp"
#include "notify/model.hpp"
#include "store/tokens.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::api {

boost::json::object to_json(const store::User& u);
boost::json::object to_json(const store::Token& t, std::int64_t now);
boost::json::object to_json(const store::Tour& t);
boost::json::object to_json(const chat::FileInfo& f);
boost::json::object to_json(const chat::Message& m);
boost::json::object to_json(const chat::Member& m);
// With the viewer's membership (c.me): unread count, receipts, muted, archived.
boost::json::object to_json(const chat::Conversation& c);
boost::json::object to_json(const notify::Job& j);
boost::json::object to_json(const notify::FeedItem& f);
// A UTC timestamp, or null.
boost::json::value time_or_null(std::optional<std::int64_t> t);

}  // namespace tourbus::api
