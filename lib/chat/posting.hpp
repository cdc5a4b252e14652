// Chat rules that span both tables, run inside the writer's transaction: posting a message
// (dedupe by client_id, gap-free seq, the sender's own receipt) and keeping a tour's conversation
// in step with the tour (title, guide and participants).
#pragma once

#include <cstdint>
#include <string>
#include <vector>

#include <boost/json/object.hpp>

#include "chat/conversations.hpp"
#include "chat/messages.hpp"
#include "core/error.hpp"
#include "store/tours.hpp"

namespace tourbus::chat {

struct Posted {
  Message message;
  bool duplicate = false;               // the client_id was seen before: this is the original
  std::vector<std::int64_t> members;    // who to fan it out to
};

// Stores the message (its conversation, sender, kind, body, data, file and client_id set; the
// sender's handle and the file's details, as readers see them, are the caller's to fill in).
// A client_id the sender used before returns the original; in another conversation it is a conflict.
Result<Posted> post(store::Db& db, Message draft);

// A system message in a conversation, e.g. "alice added bob".
Posted post_system(store::Db& db, std::int64_t conversation, const std::string& text, boost::json::object details,
                   std::int64_t now);

// A change of a conversation's members, to announce once committed.
struct MembersChanged {
  std::int64_t conversation = 0;
  std::vector<std::string> added, removed;  // handles
  std::vector<std::int64_t> removed_ids;    // still told, though no longer members
  Posted notice;                            // the system message saying so (id 0: none)
};

// Creates the tour's conversation if needed and makes its members the guide and the
// participants. Returns what changed.
std::vector<MembersChanged> sync_tour(store::Db& db, const store::Tour& tour, std::int64_t now);

// "low:high": the key of the one direct conversation between two users.
std::string direct_key(std::int64_t a, std::int64_t b);

}  // namespace tourbus::chat
