// Telling online members about committed chat changes: each frame is encoded once and queued on
// every session of every member (docs/protocol.md, "Server pushes").
#pragma once

#include <map>
#include <optional>

#include <boost/json/array.hpp>

#include "api/context.hpp"
#include "chat/posting.hpp"
#include "realtime/sequencer.hpp"
#include "translate/translations.hpp"

namespace tourbus::api {

// "message" to the members (and operators watching), unless it is a resend of an earlier one.
void announce(Context& ctx, const chat::Posted& posted);
// "message.updated" (an edit or a deletion) to the members.
void announce_update(Context& ctx, const chat::Message& m, std::span<const std::int64_t> members);
// The notice, then "conversation.members" to the members and to those removed.
void announce(Context& ctx, const chat::MembersChanged& change);
// "presence" to everyone who shares a conversation with the user (offline with the time as
// last_seen).
void announce_presence(Context& ctx, std::int64_t user, events::Presence now_is);
// Records now as the user's last_seen (in the background; an earlier time never replaces a later).
void record_last_seen(Context& ctx, std::int64_t user);
// This node's sessions of the user went from `before` to `after`: the last of them closing records
// last_seen (on every node, whatever the user's sessions elsewhere: the latest time is kept);
// announces the user's presence if it changed (events::Sink::presence_changed).
void announce_change(Context& ctx, std::int64_t user, events::Presence before, events::Presence after);

// The "message" and "notification" pushes the user's sessions got after message `after_message`
// and feed item `after_feed` (connection state recovery): the messages in id order, then the
// notifications; nothing when there are more than `limit` in all (the client must sync instead).
std::optional<std::vector<events::EventPtr>> missed(Context& ctx, std::int64_t user, std::int64_t after_message,
                                                    std::int64_t after_feed, std::size_t limit);
// The language a caller reads in (the primary subtag of their preferred language); nothing for the
// control socket, which sees every translation.
std::optional<std::string> reading_language(store::Db& db, std::int64_t user);
// Messages as a reader sees them: each with its stored translations into the reader's language
// ("translations": {"es": {"text", "provider", "pivot", "machine"}}), every language for nullopt.
boost::json::array messages_json(store::Db& db, const std::vector<chat::Message>& list, const std::optional<std::string>& lang);
boost::json::object message_json(const chat::Message& m, const std::map<std::int64_t, std::vector<translate::Stored>>& t);

// Where the relay's sequencer reads the `message` pushes it missed (several nodes): the same pushes
// announce() makes, to the conversation's members now.
class StoreBackfill final : public realtime::Backfill {
 public:
  explicit StoreBackfill(store::ReadPool& reads) : reads_(reads) {}
  std::vector<realtime::Ordered> messages(std::int64_t conversation, std::int64_t after, std::int64_t before,
                                          std::int64_t since_ms, std::int64_t limit) override;
  std::vector<std::pair<std::int64_t, std::int64_t>> active_since(std::int64_t since_ms) override;

 private:
  store::ReadPool& reads_;
};

// The highest message and feed item ids so far.
std::pair<std::int64_t, std::int64_t> last_pushed_ids(Context& ctx);

}  // namespace tourbus::api
