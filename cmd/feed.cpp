#include "feed.hpp"

namespace tourbus::cli {

void Feed::start_at(std::int64_t conversation, std::int64_t seq) { shown_[conversation] = seq; }

std::int64_t Feed::shown(std::int64_t conversation) const {
  auto it = shown_.find(conversation);
  return it == shown_.end() ? 0 : it->second;
}

void Feed::hand_on(const boost::json::object& m) {
  auto conv = m.at("conversation").as_int64();
  auto seq = m.at("seq").as_int64();
  auto& last = shown_[conv];
  if (seq <= last) return;  // seen already (a push and a page overlap)
  last = seq;
  deliver_(m);
}

bool Feed::push(const boost::json::object& m) {
  auto conv = m.at("conversation").as_int64();
  if (syncing_.contains(conv)) {
    held_[conv].push_back(m);
    return false;
  }
  auto seq = m.at("seq").as_int64();
  if (shown_.contains(conv) && seq > shown_[conv] + 1) {
    held_[conv].push_back(m);  // a gap: the catch-up that follows fills it
    return true;
  }
  hand_on(m);
  return false;
}

boost::asio::awaitable<Status> Feed::catch_up(Live& live, std::int64_t conversation) {
  syncing_.insert(conversation);
  Status result;
  for (;;) {
    boost::json::object q{{"conversation", conversation}, {"after", shown(conversation)}};
    auto pending = live.call("message.history", std::move(q));
    auto page = co_await std::move(pending);
    if (!page) {
      result = page.error();
      break;
    }
    for (const auto& m : page->at("messages").as_array()) hand_on(m.as_object());
    if (!page->at("more").as_bool()) break;
  }
  syncing_.erase(conversation);
  auto held = std::move(held_[conversation]);
  held_.erase(conversation);
  for (const auto& m : held) hand_on(m);
  co_return result;
}

}  // namespace tourbus::cli
