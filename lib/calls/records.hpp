// The calls tables (migration 0011): a call's record and its members, its quality summary, and
// calls left open by a daemon that stopped. Functions take the Db of the caller's thread and throw
// store::SqlError on database failures.
#pragma once

#include <cstdint>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::calls {

struct MemberRecord {
  std::int64_t user_id = 0;
  std::string handle;
  std::string state;  // invited, joined, declined, busy, missed, left, cancelled
  std::optional<std::int64_t> joined_at, left_at;
};

struct Quality {
  std::int64_t samples = 0;
  std::optional<double> rtt_ms, loss_percent, bitrate_kbps, fps;
  std::optional<std::int64_t> height;
  std::optional<std::string> score, worst_score;
};

struct CallRecord {
  std::int64_t id = 0;
  std::int64_t conversation_id = 0;
  std::int64_t caller_id = 0;
  std::string caller_handle;
  bool video = true;
  std::string state;  // ringing, active, ended
  std::optional<std::string> outcome;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> answered_at, ended_at, ended_by;
  Quality quality;
  std::vector<MemberRecord> members;  // filled by find()
};

namespace records {
std::int64_t insert(store::Db& db, const CallRecord& c);
void add_member(store::Db& db, std::int64_t call, std::int64_t user, const std::string& state, std::optional<std::int64_t> joined_at);
void set_member(store::Db& db, std::int64_t call, std::int64_t user, const std::string& state, std::int64_t now);
void answered(store::Db& db, std::int64_t call, std::int64_t now);
void end(store::Db& db, std::int64_t call, const std::string& outcome, std::int64_t now, std::optional<std::int64_t> by);
void set_quality(store::Db& db, std::int64_t call, const Quality& q);
std::optional<CallRecord> find(store::Db& db, std::int64_t id);
// Newest first; a conversation's, or every one (conversation 0).
std::vector<CallRecord> list(store::Db& db, std::int64_t conversation, std::int64_t limit);
// Calls left ringing or active by a daemon that stopped (at start-up), or by a leader that is gone
// (their new leader), ended as failed; `keep`: the calls still live here. Returns those ended,
// each with the members still in it or still being rung (to be told).
struct Failed {
  std::int64_t id = 0, conversation = 0;
  std::vector<std::int64_t> users;
};
std::vector<Failed> fail_open(store::Db& db, std::int64_t now, const std::set<std::int64_t>& keep = {});
}  // namespace records

}  // namespace tourbus::calls
