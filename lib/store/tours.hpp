// The tours and tour_participants tables.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::store {

struct Tour {
  std::int64_t id = 0;
  std::string title;
  std::int64_t starts_at = 0, ends_at = 0;
  std::string time_zone;
  std::optional<std::string> meeting_label;
  std::optional<double> meeting_lat, meeting_lon;
  std::optional<std::int64_t> guide_id;
  std::optional<std::string> guide_handle;  // filled by reads
  std::string status = "scheduled";
  std::optional<std::string> cancel_reason;
  std::int64_t created_at = 0, updated_at = 0;
  std::vector<std::string> participants;  // handles, filled by find()
};

struct TourFilter {
  std::optional<std::string> status;
  std::optional<std::int64_t> guide_id;
  std::optional<std::int64_t> participant_id;
  std::optional<std::int64_t> visible_to;  // guide or participant of the tour
  std::optional<std::int64_t> from, to;    // overlapping [from, to)
  std::int64_t limit = 1000;
};

namespace tours {
Tour insert(Db& db, Tour t);
std::optional<Tour> find(Db& db, std::int64_t id);
// Without participants; fill them with participants() where needed.
std::vector<Tour> list(Db& db, const TourFilter& filter);
std::vector<std::string> participants(Db& db, std::int64_t tour_id);
std::vector<std::int64_t> participant_ids(Db& db, std::int64_t tour_id);
void update(Db& db, const Tour& t);
// True when the user was not yet a participant.
bool add_participant(Db& db, std::int64_t tour_id, std::int64_t user_id, std::int64_t now);
// True when the user was a participant.
bool remove_participant(Db& db, std::int64_t tour_id, std::int64_t user_id);
bool is_participant(Db& db, std::int64_t tour_id, std::int64_t user_id);
// Marks a participant as not having shown up (or clears it); false when not a participant.
bool set_no_show(Db& db, std::int64_t tour_id, std::int64_t user_id, bool no_show);
bool is_no_show(Db& db, std::int64_t tour_id, std::int64_t user_id);
// Whether the tour's tourists see each other's positions (the guide decides).
bool group_locations(Db& db, std::int64_t tour_id);
void set_group_locations(Db& db, std::int64_t tour_id, bool visible);
// Tours not cancelled that end after `t`, for planning what is still ahead of them.
std::vector<std::int64_t> open_ids_ending_after(Db& db, std::int64_t t);
}  // namespace tours

}  // namespace tourbus::store
