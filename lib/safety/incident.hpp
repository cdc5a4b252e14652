// Incident conversations: when someone needs help (an SOS, a need-help answer), a group
// conversation with the person, their guide and the operators on duty, opened by a system
// message with what is known: why, the person's last position and how old it is.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "chat/posting.hpp"
#include "safety/locations.hpp"
#include "store/db.hpp"

namespace tourbus::safety {

struct Incident {
  std::int64_t conversation = 0;
  chat::Posted notice;  // the opening message, to announce once committed
};

// `about`: "SOS" or "alert 12: Flood warning". `position`: the person's last known one.
Incident open_incident(store::Db& db, std::int64_t person, std::optional<std::int64_t> guide,
                       const std::vector<std::int64_t>& operators, const std::string& about,
                       const std::optional<std::string>& note, const std::optional<Position>& position, std::int64_t now);

// "41.89021,12.49223 (±15 m), 4 min ago", or "no position shared".
std::string describe(const std::optional<Position>& position, std::int64_t now);
boost::json::value position_json(const std::optional<Position>& position, std::int64_t now);

}  // namespace tourbus::safety
