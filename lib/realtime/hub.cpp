#include "realtime/hub.hpp"

#include <algorithm>

namespace tourbus::realtime {

using events::Presence;

Hub::Change Hub::attach(std::int64_t user, std::uint64_t session, Client* client, std::int64_t token) {
  auto before = presence(user);
  sessions_[user].push_back({session, client, false, token});
  ++count_;
  return {before, presence(user)};
}

Hub::Change Hub::detach(std::int64_t user, std::uint64_t session) {
  auto before = presence(user);
  auto it = sessions_.find(user);
  if (it == sessions_.end()) return {before, before};
  auto& list = it->second;
  auto old = list.size();
  std::erase_if(list, [session](const Entry& e) { return e.session == session; });
  count_ -= old - list.size();
  if (list.empty()) sessions_.erase(it);
  return {before, presence(user)};
}

std::optional<Presence> Hub::set_away(std::int64_t user, std::uint64_t session, bool away) {
  auto before = presence(user);
  if (auto it = sessions_.find(user); it != sessions_.end())
    for (auto& e : it->second)
      if (e.session == session) e.away = away;
  auto after = presence(user);
  if (after == before) return std::nullopt;
  return after;
}

void Hub::publish(std::span<const std::int64_t> users, const events::EventPtr& event, bool platform) {
  for (auto user : users) {
    if (user == 0) continue;
    if (auto it = sessions_.find(user); it != sessions_.end())
      for (auto& e : it->second) e.client->deliver(event);
  }
  if (platform)
    if (auto it = sessions_.find(0); it != sessions_.end())
      for (auto& e : it->second) e.client->deliver(event);
}

bool Hub::publish_session(std::int64_t user, std::uint64_t session, const events::EventPtr& event, bool others) {
  auto it = sessions_.find(user);
  if (it == sessions_.end()) return false;
  bool found = false;
  std::vector<Client*> to;
  for (auto& e : it->second) {
    if (e.session == session) found = true;
    if ((e.session == session) != others) to.push_back(e.client);
  }
  for (auto* c : to) c->deliver(event);
  return found;
}

Presence Hub::presence(std::int64_t user) const {
  auto it = sessions_.find(user);
  if (user == 0 || it == sessions_.end()) return Presence::offline;
  bool any_active = std::any_of(it->second.begin(), it->second.end(), [](const Entry& e) { return !e.away; });
  return any_active ? Presence::online : Presence::away;
}

std::vector<std::pair<std::int64_t, Presence>> Hub::present() const {
  std::vector<std::pair<std::int64_t, Presence>> out;
  out.reserve(sessions_.size());
  for (const auto& [user, list] : sessions_)
    if (user != 0) out.emplace_back(user, presence(user));
  return out;
}

bool Hub::allow_typing(std::int64_t user, std::int64_t conversation) {
  auto now = std::chrono::steady_clock::now();
  // Forget stale entries now and then so the map stays as small as the set of people typing.
  if (typing_.size() > 4096)
    std::erase_if(typing_, [now](const auto& kv) { return now - kv.second > std::chrono::seconds(1); });
  auto [it, inserted] = typing_.try_emplace({user, conversation}, now);
  if (inserted) return true;
  if (now - it->second < std::chrono::seconds(1)) return false;
  it->second = now;
  return true;
}

template <class Pick>
std::vector<Client*> Hub::clients(std::int64_t user, Pick pick) const {
  std::vector<Client*> out;
  if (auto it = sessions_.find(user); it != sessions_.end())
    for (const auto& e : it->second)
      if (pick(e)) out.push_back(e.client);
  return out;
}

std::size_t Hub::end_token(std::int64_t user, std::int64_t token, std::string_view reason) {
  auto list = clients(user, [token](const Entry& e) { return e.token == token; });
  for (auto* c : list) c->revoke(sessions::kCloseRevoked, reason);
  return list.size();
}

std::size_t Hub::end_user(std::int64_t user, std::string_view reason) {
  if (user == 0) return 0;  // the control socket's operator is not an account
  auto list = clients(user, [](const Entry&) { return true; });
  for (auto* c : list) c->revoke(sessions::kCloseRevoked, reason);
  return list.size();
}

std::size_t Hub::set_role(std::int64_t user, Role role) {
  if (user == 0) return 0;
  auto list = clients(user, [](const Entry&) { return true; });
  for (auto* c : list) c->set_role(role);
  return list.size();
}

}  // namespace tourbus::realtime
