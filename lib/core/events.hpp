// Events and how parts below the transports tell online clients about things (a new message, a
// receipt, presence): they publish events to users through the Sink interface, which realtime/
// implements. An event is a name and its data, encoded to JSON once; each transport adds its own
// framing (a WebSocket text frame, a Socket.IO packet), once per event, not once per recipient.
// Call on the daemon's event loop.
#pragma once

#include <array>
#include <cstdint>
#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>

#include <boost/json/value.hpp>

namespace tourbus::events {

// The framings of events that transports make: one slot each on every event.
// socketio: the Engine.IO packet ("42[NAME,DATA]"); socketio_ws: the same in a WebSocket frame.
enum class Framing : std::uint8_t { websocket, socketio, socketio_ws };
inline constexpr std::size_t kFramings = 3;

// A transport's bytes for one event, shared by every session of that transport it goes to.
using Framed = std::shared_ptr<const std::string>;

// One event, immutable once made: its name and {"event": NAME, "data": {...}} (with "ref" when it
// answers a request) as JSON text, shared by every session it goes to.
class Event {
 public:
  // `data`: where the data's JSON text lies in `json` (offset, length).
  Event(std::string name, std::string json, std::pair<std::size_t, std::size_t> data)
      : name_(std::move(name)), json_(std::move(json)), data_(data) {}
  const std::string& name() const { return name_; }
  const std::string& json() const { return json_; }
  // The data alone, as JSON text.
  std::string_view data() const { return std::string_view(json_).substr(data_.first, data_.second); }
  // This event as a transport frames it: `make(json())` the first time, then the same bytes for
  // every other session of the transport. On the event loop only.
  template <class Make>
  const Framed& framed(Framing framing, Make&& make) const {
    auto& slot = framed_[static_cast<std::size_t>(framing)];
    if (!slot) slot = std::make_shared<const std::string>(make(json_));
    return slot;
  }

 private:
  std::string name_;
  std::string json_;
  std::pair<std::size_t, std::size_t> data_;
  mutable std::array<Framed, kFramings> framed_;
};
using EventPtr = std::shared_ptr<const Event>;

// A server push: who gets it and why, declared once (push_events()) and documented in
// docs/protocol.md "Server pushes" (a unit test compares the two).
struct PushEvent {
  std::string_view name;
  std::string_view recipients;
  std::string_view summary;
};
std::span<const PushEvent> push_events();

// A server push {"event": name, "data": data}. `name` must be one of push_events() (anything else
// is a programming error: std::logic_error).
EventPtr push(std::string_view name, boost::json::value data);
// The answer to a request ("reply" or "error"), carrying the request's ref when it had one.
EventPtr answer(std::string_view kind, boost::json::value data, const boost::json::value* ref);

enum class Presence { offline, away, online };
std::string_view presence_name(Presence p);

class Sink {
 public:
  virtual ~Sink() = default;
  // Queues the event on every open session of each user; with `platform`, also on the control
  // socket's operator sessions (which watch everything).
  virtual void publish(std::span<const std::int64_t> users, const EventPtr& event, bool platform = false) = 0;
  // Queues the event on one session of the user (a call's signalling goes to the device that
  // joined); with `others`, on every session of the user but that one (the devices still ringing).
  // False when the user has no such session (it closed).
  virtual bool publish_session(std::int64_t user, std::uint64_t session, const EventPtr& event, bool others = false) = 0;
  virtual Presence presence(std::int64_t user) const = 0;
  // Marks one session of the user away (or back); returns the user's new presence when it changed.
  virtual std::optional<Presence> set_away(std::int64_t user, std::uint64_t session, bool away) = 0;
  // This node's sessions of the user went from `before` to `after` (one opened or closed): the
  // presence to announce, or nothing when the user's presence did not change (with several nodes,
  // presence is the best over every node's sessions).
  virtual std::optional<Presence> presence_changed(std::int64_t user, Presence before, Presence after) = 0;
  // Typing indicators are forwarded at most once a second per user and conversation.
  virtual bool allow_typing(std::int64_t user, std::int64_t conversation) = 0;
};

}  // namespace tourbus::events
