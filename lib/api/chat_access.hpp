// Who may see a conversation: its members, and operators. Everyone else is told it does not
// exist, so conversation ids reveal nothing.
#pragma once

#include <string>

#include "api/operation.hpp"
#include "chat/conversations.hpp"

namespace tourbus::api {

// The conversation with the caller's membership filled in (`me`), or not_found naming `field`.
inline Error not_visible(std::int64_t id, std::string_view field) {
  return Error(Code::not_found, "no conversation " + std::to_string(id) + " that you are a member of", std::string(field));
}

inline Result<chat::Conversation> visible_conversation(store::Db& db, const Caller& caller, std::int64_t id,
                                                       std::string_view field) {
  auto c = chat::conversations::find_for(db, id, caller.user_id);
  if (!c || (!c->me && !caller.is_operator())) return not_visible(id, field);
  return *c;
}

// The same rule when only the answer is needed, not the conversation (the send path).
inline Status check_visible(store::Db& db, const Caller& caller, std::int64_t id, std::string_view field) {
  auto member = chat::conversations::is_member(db, id, caller.user_id);
  if (!member || (!*member && !caller.is_operator())) return not_visible(id, field);
  return {};
}

}  // namespace tourbus::api
