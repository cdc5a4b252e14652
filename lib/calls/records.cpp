#include "calls/records.hpp"

namespace tourbus::calls::records {
namespace {

constexpr std::string_view kSelect =
    "SELECT c.id, c.conversation_id, c.caller_id, u.handle, c.video, c.state, c.outcome, c.created_at, c.answered_at, "
    "c.ended_at, c.ended_by, c.samples, c.rtt_ms, c.loss_percent, c.bitrate_kbps, c.fps, c.height, c.score, c.worst_score "
    "FROM calls c JOIN users u ON u.id = c.caller_id ";

CallRecord read(store::Stmt& s) {
  CallRecord c;
  c.id = s.i64(0);
  c.conversation_id = s.i64(1);
  c.caller_id = s.i64(2);
  c.caller_handle = s.text(3);
  c.video = s.i64(4) != 0;
  c.state = s.text(5);
  c.outcome = s.opt_text(6);
  c.created_at = s.i64(7);
  c.answered_at = s.opt_i64(8);
  c.ended_at = s.opt_i64(9);
  c.ended_by = s.opt_i64(10);
  c.quality.samples = s.i64(11);
  c.quality.rtt_ms = s.opt_real(12);
  c.quality.loss_percent = s.opt_real(13);
  c.quality.bitrate_kbps = s.opt_real(14);
  c.quality.fps = s.opt_real(15);
  c.quality.height = s.opt_i64(16);
  c.quality.score = s.opt_text(17);
  c.quality.worst_score = s.opt_text(18);
  return c;
}

}  // namespace

std::int64_t insert(store::Db& db, const CallRecord& c) {
  db.prepare("INSERT INTO calls (conversation_id, caller_id, video, state, created_at) VALUES (?, ?, ?, ?, ?)")
      .bind(1, c.conversation_id)
      .bind(2, c.caller_id)
      .bind(3, c.video)
      .bind(4, c.state)
      .bind(5, c.created_at)
      .run();
  return db.last_insert_rowid();
}

void add_member(store::Db& db, std::int64_t call, std::int64_t user, const std::string& state, std::optional<std::int64_t> joined_at) {
  db.prepare("INSERT INTO call_members (call_id, user_id, state, joined_at) VALUES (?, ?, ?, ?)")
      .bind(1, call)
      .bind(2, user)
      .bind(3, state)
      .bind(4, joined_at)
      .run();
}

void set_member(store::Db& db, std::int64_t call, std::int64_t user, const std::string& state, std::int64_t now) {
  // Joining records when; any other change after joining records when they left.
  db.prepare(
        "UPDATE call_members SET state = ?3, joined_at = CASE WHEN ?3 = 'joined' THEN ?4 ELSE joined_at END, "
        "left_at = CASE WHEN ?3 <> 'joined' AND joined_at IS NOT NULL THEN coalesce(left_at, ?4) ELSE left_at END "
        "WHERE call_id = ?1 AND user_id = ?2")
      .bind(1, call)
      .bind(2, user)
      .bind(3, state)
      .bind(4, now)
      .run();
}

void answered(store::Db& db, std::int64_t call, std::int64_t now) {
  db.prepare("UPDATE calls SET state = 'active', answered_at = coalesce(answered_at, ?2) WHERE id = ?1")
      .bind(1, call)
      .bind(2, now)
      .run();
}

void end(store::Db& db, std::int64_t call, const std::string& outcome, std::int64_t now, std::optional<std::int64_t> by) {
  db.prepare("UPDATE calls SET state = 'ended', outcome = ?2, ended_at = ?3, ended_by = ?4 WHERE id = ?1 AND state <> 'ended'")
      .bind(1, call)
      .bind(2, outcome)
      .bind(3, now)
      .bind(4, by)
      .run();
  db.prepare("UPDATE call_members SET state = 'left', left_at = ?2 WHERE call_id = ?1 AND state = 'joined'")
      .bind(1, call)
      .bind(2, now)
      .run();
}

void set_quality(store::Db& db, std::int64_t call, const Quality& q) {
  db.prepare(
        "UPDATE calls SET samples = ?2, rtt_ms = ?3, loss_percent = ?4, bitrate_kbps = ?5, fps = ?6, height = ?7, "
        "score = ?8, worst_score = ?9 WHERE id = ?1")
      .bind(1, call)
      .bind(2, q.samples)
      .bind(3, q.rtt_ms)
      .bind(4, q.loss_percent)
      .bind(5, q.bitrate_kbps)
      .bind(6, q.fps)
      .bind(7, q.height)
      .bind(8, q.score)
      .bind(9, q.worst_score)
      .run();
}

std::optional<CallRecord> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSelect) + "WHERE c.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  auto c = read(s);
  auto m = db.prepare(
      "SELECT m.user_id, u.handle, m.state, m.joined_at, m.left_at FROM call_members m JOIN users u ON u.id = m.user_id "
      "WHERE m.call_id = ? ORDER BY m.user_id = ? DESC, u.handle");
  m.bind(1, id).bind(2, c.caller_id);
  while (m.step()) c.members.push_back(MemberRecord{m.i64(0), m.text(1), m.text(2), m.opt_i64(3), m.opt_i64(4)});
  return c;
}

std::vector<CallRecord> list(store::Db& db, std::int64_t conversation, std::int64_t limit) {
  auto s = db.prepare(std::string(kSelect) + "WHERE (?1 = 0 OR c.conversation_id = ?1) ORDER BY c.id DESC LIMIT ?2");
  s.bind(1, conversation).bind(2, limit);
  std::vector<CallRecord> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

std::vector<Failed> fail_open(store::Db& db, std::int64_t now, const std::set<std::int64_t>& keep) {
  std::vector<Failed> out;
  {
    auto s = db.prepare("SELECT id, conversation_id FROM calls WHERE state <> 'ended' ORDER BY id");
    while (s.step())
      if (!keep.contains(s.i64(0))) out.push_back({s.i64(0), s.i64(1), {}});
  }
  for (auto& f : out) {
    auto s = db.prepare("SELECT user_id FROM call_members WHERE call_id = ? AND state IN ('joined', 'invited') ORDER BY user_id");
    s.bind(1, f.id);
    while (s.step()) f.users.push_back(s.i64(0));
    end(db, f.id, "failed", now, std::nullopt);
  }
  return out;
}

}  // namespace tourbus::calls::records
