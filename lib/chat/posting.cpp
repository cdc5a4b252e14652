#include "chat/posting.hpp"

#include <algorithm>

#include "core/json.hpp"

#include "store/users.hpp"

namespace tourbus::chat {

Result<Posted> post(store::Db& db, Message draft) {
  if (draft.client_id) {
    if (auto original = messages::find_client(db, draft.sender_id, *draft.client_id)) {
      if (original->conversation_id != draft.conversation_id)
        return Error(Code::conflict,
                     "client_id: '" + *draft.client_id + "' was already used for a message in conversation " +
                         std::to_string(original->conversation_id),
                     "client_id");
      return Posted{std::move(*original), true, conversations::member_ids(db, draft.conversation_id)};
    }
  }
  auto stored = messages::append(db, std::move(draft));
  auto members = stored.sender_id != 0 ? conversations::sent_to(db, stored.conversation_id, stored.sender_id, stored.seq)
                                       : conversations::member_ids(db, stored.conversation_id);
  return Posted{std::move(stored), false, std::move(members)};
}

Posted post_system(store::Db& db, std::int64_t conversation, const std::string& text, boost::json::object details,
                   std::int64_t now) {
  Message m;
  m.conversation_id = conversation;
  m.kind = "system";
  m.body = text;
  m.data = json::dump(details);
  m.created_at = now;
  return std::move(*post(db, std::move(m)));
}

namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

boost::json::array to_array(const std::vector<std::string>& v) {
  boost::json::array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

}  // namespace

std::vector<MembersChanged> sync_tour(store::Db& db, const store::Tour& tour, std::int64_t now) {
  auto id = conversations::find_tour(db, tour.id);
  bool created = false;
  if (!id) {
    Conversation c;
    c.kind = "tour";
    c.title = tour.title;
    c.tour_id = tour.id;
    c.created_at = c.updated_at = now;
    id = conversations::insert(db, c, std::nullopt);
    created = true;
  } else if (auto c = conversations::find(db, *id); c && c->title != tour.title) {
    conversations::set_title(db, *id, tour.title, now);
  }

  auto want = store::tours::participant_ids(db, tour.id);
  if (tour.guide_id) want.push_back(*tour.guide_id);
  auto have = conversations::member_ids(db, *id);
  MembersChanged change;
  change.conversation = *id;
  for (auto u : want) {
    if (std::find(have.begin(), have.end(), u) != have.end()) continue;
    conversations::add_member(db, *id, u, now);
    if (auto user = store::users::find_id(db, u)) change.added.push_back(user->handle);
  }
  for (auto u : have) {
    if (std::find(want.begin(), want.end(), u) != want.end()) continue;
    conversations::remove_member(db, *id, u);
    change.removed_ids.push_back(u);
    if (auto user = store::users::find_id(db, u)) change.removed.push_back(user->handle);
  }
  if (change.added.empty() && change.removed.empty()) return {};
  if (created) return {std::move(change)};  // the members learn of the new conversation; no notice
  std::string text;
  if (!change.added.empty()) text = join(change.added) + " joined the tour";
  if (!change.removed.empty()) text += (text.empty() ? "" : "; ") + join(change.removed) + " left the tour";
  change.notice = post_system(db, *id, text,
                              {{"action", "members_changed"}, {"added", to_array(change.added)},
                               {"removed", to_array(change.removed)}},
                              now);
  return {std::move(change)};
}

std::string direct_key(std::int64_t a, std::int64_t b) {
  return std::to_string(std::min(a, b)) + ":" + std::to_string(std::max(a, b));
}

}  // namespace tourbus::chat
