#include "core/events.hpp"

#include <stdexcept>

#include <boost/json/object.hpp>
#include "core/json.hpp"

namespace tourbus::events {

namespace {

constexpr PushEvent kPushEvents[] = {
    {"message", "every session of every member, the sender's own included; control-socket operators",
     "a message was stored"},
    {"message.updated", "every session of every member; control-socket operators", "a message was edited or deleted"},
    {"message.translated", "the members who read that language and want translations (not the sender); control-socket operators",
     "a machine translation of a text message was stored (the original was delivered before, unchanged)"},
    {"translation.unavailable", "the members who read that language and want translations; control-socket operators",
     "no engine translates between the two languages: said once per conversation and pair"},
    {"conversation.members", "the members after the change and those removed; control-socket operators",
     "people were added to or removed from a conversation, or it was created"},
    {"receipt", "every member, the reader's own sessions included", "a member's delivered or read position moved"},
    {"typing", "the other members", "a member is typing, or stopped"},
    {"presence", "everyone who shares a conversation with the user", "a user came online, went away or went offline"},
    {"notification", "every session of the user", "an in-app notification was stored in the user's feed"},
    {"notification.read", "every session of the user", "feed items were marked read"},
    {"location", "the tour's guide, the tourists allowed to see the person (the guide always), control-socket operators",
     "a person's position on a tour changed, or they stopped sharing it (shared: false)"},
    {"location.straggler", "the tour's guide; control-socket operators",
     "a participant has stayed farther from the guide than location.straggler_meters for location.straggler_seconds (or is back)"},
    {"location.geofence", "the tour's guide; control-socket operators", "a participant entered or left the meeting point's geofence"},
    {"alert", "every session of each recipient", "an emergency alert (or its update or cancellation) in the recipient's language"},
    {"alert.answer", "the person's guide; control-socket operators", "a roll-call answer was recorded"},
    {"sos", "the person's guide and the operators on duty; control-socket operators", "someone raised an SOS"},
    {"call.invite", "every session of each person invited", "someone calls: ring (answer with call.ringing, then call.accept or call.decline)"},
    {"call.ringing", "the session of each member in the call", "an invited person's device is ringing"},
    {"call.accepted", "the session of each member in the call, the one who joined included",
     "someone joined the call: each member already in it sends them an offer (call.signal)"},
    {"call.taken", "the person's other sessions; for an SOS's call, the other operators on duty",
     "the call was answered or declined on another device, or (state taken, by) another operator took the SOS's call: stop ringing"},
    {"call.declined", "the session of each member in the call", "an invited person declined, or was busy in another call"},
    {"call.left", "the session of each member in the call", "someone hung up or lost their connection; the call goes on"},
    {"call.ended", "the members' sessions, and every session of those still being rung",
     "the call is over (completed, missed, declined, busy, cancelled): stop ringing, close the connections"},
    {"call.signal", "the one session of the member it is for",
     "SDP (offer, answer, renegotiation) or an ICE candidate from another member of the call"},
    {"preview.recording", "the preview's guide and the session of each viewer",
     "recording of the preview was turned on or off (show it: people must know they are recorded)"},
    {"preview.ended", "the session of each viewer", "the preview is over: close the connection"},
    {"recording.ready", "the preview's guide", "a recording of the preview was converted and stored (recording.download)"},
    {"sos.updated", "the person, their guide and the operators on duty; control-socket operators",
     "an SOS was acknowledged or resolved"},
};

EventPtr make(std::string_view name, boost::json::value data, const boost::json::value* ref) {
  std::string json = "{\"event\":" + json::dump(boost::json::string(name)) + ",\"data\":";
  auto at = json.size();
  json += json::dump(data);
  auto length = json.size() - at;
  if (ref) json += ",\"ref\":" + json::dump(*ref);
  json += '}';
  return std::make_shared<const Event>(std::string(name), std::move(json), std::pair(at, length));
}

}  // namespace

std::span<const PushEvent> push_events() { return kPushEvents; }

EventPtr push(std::string_view name, boost::json::value data) {
  bool known = false;
  for (const auto& e : kPushEvents) known = known || e.name == name;
  if (!known) throw std::logic_error("'" + std::string(name) + "' is not a declared push event");
  return make(name, std::move(data), nullptr);
}

EventPtr answer(std::string_view kind, boost::json::value data, const boost::json::value* ref) {
  return make(kind, std::move(data), ref);
}

std::string_view presence_name(Presence p) {
  switch (p) {
    case Presence::offline: return "offline";
    case Presence::away: return "away";
    case Presence::online: return "online";
  }
  return "offline";
}

}  // namespace tourbus::events
