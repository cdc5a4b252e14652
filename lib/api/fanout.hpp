// Telling online members about committed chat changes: each frame is encoded once and queued on
// every session of every member (docs/protocol.md, "Server pushes").
#pragma once

#include "api/context.hpp"
#include "chat/posting.hpp"

namespace tourbus::api {

// "message" to the members (and operators watching), unless it is a resend of an earlier one.
void announce(Context& ctx, const chat::Posted& posted);
// "message.updated" (an edit or a deletion) to the members.
void announce_update(Context& ctx, const chat::Message& m, std::span<const std::int64_t> members);
// The notice, then "conversation.members" to the members and to those removed.
void announce(Context& ctx, const chat::MembersChanged& change);
// "presence" to everyone who shares a conversation with the user. Going offline also records
// the time as the user's last_seen (in the background).
void announce_presence(Context& ctx, std::int64_t user, events::Presence now_is);

// The "message" and "notification" pushes the user's sessions got after message `after_message`
// and feed item `after_feed` (connection state recovery): the messages in id order, then the
// notifications; nothing when there are more than `limit` in all (the client must sync instead).
std::optional<std::vector<events::EventPtr>> missed(Context& ctx, std::int64_t user, std::int64_t after_message,
                                                    std::int64_t after_feed, std::size_t limit);
// The highest message and feed item ids so far.
std::pair<std::int64_t, std::int64_t> last_pushed_ids(Context& ctx);

}  // namespace tourbus::api
