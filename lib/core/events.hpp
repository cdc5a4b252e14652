// How parts below the transports tell online clients about things (a new message, a receipt,
// presence): they publish encoded frames to users through this interface, which realtime/
// implements. Call on the daemon's event loop.
#pragma once

#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/json/value.hpp>

namespace tourbus::events {

// One encoded event: a complete WebSocket text frame (header and JSON), made once and shared by
// every session it goes to, which writes it as it is.
using Frame = std::shared_ptr<const std::string>;

// {"event": event, "data": data} (and "ref" when given: the answer to a request), encoded once.
Frame encode(std::string_view event, boost::json::value data, const boost::json::value* ref = nullptr);

enum class Presence { offline, away, online };
std::string_view presence_name(Presence p);

class Sink {
 public:
  virtual ~Sink() = default;
  // Queues the frame on every open session of each user; with `platform`, also on the control
  // socket's operator sessions (which watch everything).
  virtual void publish(std::span<const std::int64_t> users, const Frame& frame, bool platform = false) = 0;
  virtual Presence presence(std::int64_t user) const = 0;
  // Marks one session of the user away (or back); returns the user's new presence when it changed.
  virtual std::optional<Presence> set_away(std::int64_t user, std::uint64_t session, bool away) = 0;
  // Typing indicators are forwarded at most once a second per user and conversation.
  virtual bool allow_typing(std::int64_t user, std::int64_t conversation) = 0;
};

}  // namespace tourbus::events
