// SOS calls and the operators' duty roster. An SOS rings (notifies the person's guide and the
// operators on duty again every sos.ring_seconds) until someone acknowledges it.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::safety {

struct Sos {
  std::int64_t id = 0, user_id = 0;
  std::string handle, display_name;
  std::optional<std::string> client_id;
  std::optional<std::int64_t> tour_id;
  std::optional<double> lat, lon, accuracy;
  std::optional<std::int64_t> located_at;
  std::optional<std::string> note;
  std::string state = "open";  // open, acknowledged, resolved
  std::optional<std::int64_t> conversation;
  std::int64_t rings = 1;
  std::optional<std::int64_t> next_ring_at;
  std::int64_t raised_at = 0;
  std::optional<std::string> acked_by;
  std::optional<std::int64_t> acked_at;
  std::optional<std::string> resolved_by;
  std::optional<std::int64_t> resolved_at;
  std::optional<std::string> resolution;
};

struct DutyEntry {
  std::int64_t user_id = 0;
  std::string handle, display_name, by;
  std::int64_t since = 0;
};

namespace sos {
// Stores a new SOS; the same client_id from the same person returns the first one (second: true).
std::pair<Sos, bool> insert(store::Db& db, Sos s);
std::optional<Sos> find(store::Db& db, std::int64_t id);
// Newest first. state: open, acknowledged, resolved, or empty for open and acknowledged, "all".
std::vector<Sos> list(store::Db& db, const std::string& state, std::int64_t limit);
void set_conversation(store::Db& db, std::int64_t id, std::int64_t conversation);
// open -> acknowledged; false when it was not open.
bool acknowledge(store::Db& db, std::int64_t id, const std::string& by, std::int64_t now);
// open or acknowledged -> resolved; false when it was resolved already.
bool resolve(store::Db& db, std::int64_t id, const std::string& by, const std::optional<std::string>& note, std::int64_t now);
// Open SOS calls whose next ring is due.
std::vector<Sos> ringing(store::Db& db, std::int64_t now);
std::optional<std::int64_t> next_ring(store::Db& db);
void rang(store::Db& db, std::int64_t id, std::int64_t next_ring_at);
// An open SOS rings again at once (its emergency video call went unanswered). False when it is
// not open any more.
bool ring_now(store::Db& db, std::int64_t id, std::int64_t now);
}  // namespace sos

namespace duty {
// True when the user was not on duty.
bool on(store::Db& db, std::int64_t user, const std::string& by, std::int64_t now);
bool off(store::Db& db, std::int64_t user);
std::vector<DutyEntry> list(store::Db& db);
std::vector<std::int64_t> ids(store::Db& db);
}  // namespace duty

}  // namespace tourbus::safety
