// The client side of the delivery guarantees (docs/protocol.md, "Reconnecting and sync"): keeps
// the highest seq shown per conversation, hands on each message exactly once and in order,
// whether it came as a push or in a history page, and catches up after a reconnect.
#pragma once

#include <functional>
#include <map>
#include <set>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "live.hpp"

namespace tourbus::cli {

class Feed {
 public:
  using Deliver = std::function<void(const boost::json::object& message)>;
  Feed(Deliver deliver) : deliver_(std::move(deliver)) {}

  // A `message` push. True when it reveals a gap: call catch_up for its conversation.
  bool push(const boost::json::object& m);
  // Pages through history after the last seq shown until the conversation is caught up; pushes
  // for it that arrive meanwhile are held and handed on in order afterwards.
  boost::asio::awaitable<Status> catch_up(Live& live, std::int64_t conversation);
  // Start a conversation at `seq` (messages up to it count as shown).
  void start_at(std::int64_t conversation, std::int64_t seq);
  bool knows(std::int64_t conversation) const { return shown_.contains(conversation); }
  std::int64_t shown(std::int64_t conversation) const;

 private:
  void hand_on(const boost::json::object& m);

  Deliver deliver_;
  std::map<std::int64_t, std::int64_t> shown_;
  std::set<std::int64_t> syncing_;
  std::map<std::int64_t, std::vector<boost::json::object>> held_;
};

}  // namespace tourbus::cli
