#include "core/events.hpp"

#include <boost/json/object.hpp>
#include <boost/json/serialize.hpp>

#include "net/ws_frame.hpp"

namespace tourbus::events {

Frame encode(std::string_view event, boost::json::value data, const boost::json::value* ref) {
  boost::json::object o;
  o["event"] = event;
  o["data"] = std::move(data);
  if (ref) o["ref"] = *ref;
  return std::make_shared<const std::string>(net::ws::server_frame(net::ws::text, boost::json::serialize(o)));
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
