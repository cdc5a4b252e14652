// The conversations and conversation_members tables: direct, group and tour conversations, their
// members, and each member's receipts (delivered and read up to a seq) and flags.
// Functions take the Db of the caller's thread (the writer's, or a read-pool lease) and throw
// store::SqlError on database failures.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::chat {

struct Member {
  std::int64_t user_id = 0;
  std::string handle, display_name, role;
  std::int64_t joined_at = 0;
  std::int64_t delivered_seq = 0, read_seq = 0;
  bool muted = false, archived = false;
};

struct Conversation {
  std::int64_t id = 0;
  std::string kind;  // direct, group, tour
  std::string title;
  std::int64_t owner_id = 0;
  std::optional<std::string> owner_handle;
  std::optional<std::int64_t> tour_id;
  std::int64_t last_seq = 0;
  std::optional<std::int64_t> last_message_at;
  std::int64_t created_at = 0, updated_at = 0;
  std::optional<Member> me;  // the viewer's membership, filled by list_for()/find_for()
};

struct ConversationFilter {
  std::optional<std::int64_t> member;  // only conversations of this user (with `me` filled)
  std::optional<std::string> kind;
  std::optional<bool> archived;        // with member: only (un)archived ones
  std::int64_t after_id = 0;
  // Paging in list order: only conversations less recently active than (activity, id).
  std::optional<std::pair<std::int64_t, std::int64_t>> before;
  std::int64_t limit = 200;
};

namespace conversations {

std::int64_t insert(store::Db& db, const Conversation& c, const std::optional<std::string>& direct_key);
std::optional<Conversation> find(store::Db& db, std::int64_t id);
// The conversation together with `viewer`'s membership (me is empty when not a member).
std::optional<Conversation> find_for(store::Db& db, std::int64_t id, std::int64_t viewer);
std::optional<std::int64_t> find_direct(store::Db& db, const std::string& direct_key);
std::optional<std::int64_t> find_tour(store::Db& db, std::int64_t tour_id);
// Most recent activity first.
std::vector<Conversation> list(store::Db& db, const ConversationFilter& f);
void set_title(store::Db& db, std::int64_t id, const std::string& title, std::int64_t now);

std::vector<Member> members(store::Db& db, std::int64_t id);
std::vector<std::int64_t> member_ids(store::Db& db, std::int64_t id);
// The conversations with a message stored at or after `since` (ms since the epoch), each with its
// last seq, by id.
std::vector<std::pair<std::int64_t, std::int64_t>> active_since(store::Db& db, std::int64_t since);
// Whether the user is a member; nullopt when there is no such conversation. One indexed lookup,
// for the paths that need no more than that (sending a message).
std::optional<bool> is_member(store::Db& db, std::int64_t id, std::int64_t user_id);
std::optional<Member> member(store::Db& db, std::int64_t id, std::int64_t user_id);
// New members see the whole history, so their receipts start at 0. True when the user was not
// yet a member.
bool add_member(store::Db& db, std::int64_t id, std::int64_t user_id, std::int64_t now);
// True when the user was a member.
bool remove_member(store::Db& db, std::int64_t id, std::int64_t user_id);
void set_flags(store::Db& db, std::int64_t id, std::int64_t user_id, std::optional<bool> muted,
               std::optional<bool> archived);
// Moves receipts forward only (never back); read implies delivered. Returns the stored pair.
std::pair<std::int64_t, std::int64_t> advance_receipts(store::Db& db, std::int64_t id, std::int64_t user_id,
                                                       std::int64_t delivered, std::int64_t read);
// After a user's message `seq`: their receipts move to it (as advance_receipts), and the members
// to push it to come back (as member_ids); on PostgreSQL in one round trip.
std::vector<std::int64_t> sent_to(store::Db& db, std::int64_t id, std::int64_t user_id, std::int64_t seq);
// Conversations larger than this do not share their members' presence: in a group of thousands,
// everyone coming online would tell everyone else (n² pushes) for no one's benefit.
inline constexpr std::int64_t kPresenceMaxMembers = 256;
// Everyone who shares at least one conversation of at most kPresenceMaxMembers members with the
// user (not the user): whom the user's presence goes to.
std::vector<std::int64_t> contacts(store::Db& db, std::int64_t user_id);
bool share_conversation(store::Db& db, std::int64_t a, std::int64_t b);

}  // namespace conversations
}  // namespace tourbus::chat
