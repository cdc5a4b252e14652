#include "chat/conversations.hpp"

namespace tourbus::chat::conversations {
namespace {

constexpr std::string_view kColumns =
    "c.id, c.kind, c.title, c.owner_id, o.handle, c.tour_id, c.last_seq, c.last_message_at, c.created_at, c.updated_at";
constexpr std::string_view kFrom = " FROM conversations c LEFT JOIN users o ON o.id = c.owner_id";
constexpr std::string_view kMemberColumns =
    "m.user_id, u.handle, u.display_name, u.role, m.joined_at, m.delivered_seq, m.read_seq, m.muted, m.archived";

Conversation read_conversation(store::Stmt& s) {
  Conversation c;
  c.id = s.i64(0);
  c.kind = s.text(1);
  c.title = s.text(2);
  c.owner_id = s.i64(3);
  c.owner_handle = s.opt_text(4);
  c.tour_id = s.opt_i64(5);
  c.last_seq = s.i64(6);
  c.last_message_at = s.opt_i64(7);
  c.created_at = s.i64(8);
  c.updated_at = s.i64(9);
  return c;
}

Member read_member(store::Stmt& s, int at) {
  Member m;
  m.user_id = s.i64(at);
  m.handle = s.text(at + 1);
  m.display_name = s.text(at + 2);
  m.role = s.text(at + 3);
  m.joined_at = s.i64(at + 4);
  m.delivered_seq = s.i64(at + 5);
  m.read_seq = s.i64(at + 6);
  m.muted = s.i64(at + 7) != 0;
  m.archived = s.i64(at + 8) != 0;
  return m;
}

}  // namespace

std::int64_t insert(store::Db& db, const Conversation& c, const std::optional<std::string>& direct_key) {
  db.prepare(
        "INSERT INTO conversations (kind, title, owner_id, tour_id, direct_key, created_at, updated_at) "
        "VALUES (?, ?, ?, ?, ?, ?, ?)")
      .bind(1, c.kind)
      .bind(2, c.title)
      .bind(3, c.owner_id)
      .bind(4, c.tour_id)
      .bind(5, direct_key)
      .bind(6, c.created_at)
      .bind(7, c.updated_at)
      .run();
  return db.last_insert_rowid();
}

std::optional<Conversation> find(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string("SELECT ").append(kColumns).append(kFrom).append(" WHERE c.id = ?"));
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read_conversation(s);
}

std::optional<Conversation> find_for(store::Db& db, std::int64_t id, std::int64_t viewer) {
  auto c = find(db, id);
  if (c) c->me = member(db, id, viewer);
  return c;
}

std::optional<std::int64_t> find_direct(store::Db& db, const std::string& direct_key) {
  auto s = db.prepare("SELECT id FROM conversations WHERE direct_key = ?");
  s.bind(1, direct_key);
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

std::optional<std::int64_t> find_tour(store::Db& db, std::int64_t tour_id) {
  auto s = db.prepare("SELECT id FROM conversations WHERE tour_id = ?");
  s.bind(1, tour_id);
  if (!s.step()) return std::nullopt;
  return s.i64(0);
}

std::vector<Conversation> list(store::Db& db, const ConversationFilter& f) {
  std::string sql = std::string("SELECT ").append(kColumns);
  if (f.member) sql.append(", ").append(kMemberColumns);
  sql.append(kFrom);
  if (f.member)
    sql.append(" JOIN conversation_members m ON m.conversation_id = c.id AND m.user_id = ?1"
               " JOIN users u ON u.id = m.user_id");
  sql.append(" WHERE c.id > ?2 AND (CAST(?3 AS TEXT) IS NULL OR c.kind = ?3)");
  if (f.member && f.archived) sql.append(" AND m.archived = ?4");
  if (f.before) sql.append(" AND (coalesce(c.last_message_at, c.created_at), c.id) < (?6, ?7)");
  sql.append(" ORDER BY coalesce(c.last_message_at, c.created_at) DESC, c.id DESC LIMIT ?5");
  auto s = db.prepare(sql);
  if (f.member) s.bind(1, *f.member);
  s.bind(2, f.after_id).bind(3, f.kind).bind(4, f.archived.value_or(false)).bind(5, f.limit);
  if (f.before) s.bind(6, f.before->first).bind(7, f.before->second);
  std::vector<Conversation> out;
  while (s.step()) {
    out.push_back(read_conversation(s));
    if (f.member) out.back().me = read_member(s, 10);
  }
  return out;
}

void set_title(store::Db& db, std::int64_t id, const std::string& title, std::int64_t now) {
  db.prepare("UPDATE conversations SET title = ?, updated_at = ? WHERE id = ?").bind(1, title).bind(2, now).bind(3, id).run();
}

std::vector<Member> members(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string("SELECT ").append(kMemberColumns).append(
      " FROM conversation_members m JOIN users u ON u.id = m.user_id WHERE m.conversation_id = ? ORDER BY u.handle"));
  s.bind(1, id);
  std::vector<Member> out;
  while (s.step()) out.push_back(read_member(s, 0));
  return out;
}

std::vector<std::int64_t> member_ids(store::Db& db, std::int64_t id) {
  auto s = db.prepare("SELECT user_id FROM conversation_members WHERE conversation_id = ? ORDER BY user_id");
  s.bind(1, id);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::vector<std::pair<std::int64_t, std::int64_t>> active_since(store::Db& db, std::int64_t since) {
  auto s = db.prepare("SELECT id, last_seq FROM conversations WHERE last_message_at >= ? ORDER BY id");
  s.bind(1, since);
  std::vector<std::pair<std::int64_t, std::int64_t>> out;
  while (s.step()) out.emplace_back(s.i64(0), s.i64(1));
  return out;
}

std::optional<bool> is_member(store::Db& db, std::int64_t id, std::int64_t user_id) {
  auto s = db.prepare(
      "SELECT EXISTS (SELECT 1 FROM conversation_members WHERE conversation_id = ?1 AND user_id = ?2) "
      "FROM conversations WHERE id = ?1");
  s.bind(1, id).bind(2, user_id);
  if (!s.step()) return std::nullopt;
  return s.i64(0) != 0;
}

std::optional<Member> member(store::Db& db, std::int64_t id, std::int64_t user_id) {
  auto s = db.prepare(std::string("SELECT ").append(kMemberColumns).append(
      " FROM conversation_members m JOIN users u ON u.id = m.user_id WHERE m.conversation_id = ? AND m.user_id = ?"));
  s.bind(1, id).bind(2, user_id);
  if (!s.step()) return std::nullopt;
  return read_member(s, 0);
}

bool add_member(store::Db& db, std::int64_t id, std::int64_t user_id, std::int64_t now) {
  db.prepare("INSERT INTO conversation_members (conversation_id, user_id, joined_at) VALUES (?, ?, ?) ON CONFLICT DO NOTHING")
      .bind(1, id)
      .bind(2, user_id)
      .bind(3, now)
      .run();
  return db.changes() > 0;
}

bool remove_member(store::Db& db, std::int64_t id, std::int64_t user_id) {
  db.prepare("DELETE FROM conversation_members WHERE conversation_id = ? AND user_id = ?").bind(1, id).bind(2, user_id).run();
  return db.changes() > 0;
}

void set_flags(store::Db& db, std::int64_t id, std::int64_t user_id, std::optional<bool> muted,
               std::optional<bool> archived) {
  db.prepare(
        "UPDATE conversation_members SET muted = coalesce(?, muted), archived = coalesce(?, archived) "
        "WHERE conversation_id = ? AND user_id = ?")
      .bind(1, muted)
      .bind(2, archived)
      .bind(3, id)
      .bind(4, user_id)
      .run();
}

namespace {
// Receipts move forward only; read implies delivered (?1 read, ?2 delivered, ?3 conversation, ?4 user).
constexpr const char* kAdvance =
    "UPDATE conversation_members SET read_seq = CASE WHEN read_seq > ?1 THEN read_seq ELSE ?1 END, "
    "delivered_seq = CASE WHEN delivered_seq >= ?1 AND delivered_seq >= ?2 THEN delivered_seq "
    "WHEN ?1 >= ?2 THEN ?1 ELSE ?2 END "
    "WHERE conversation_id = ?3 AND user_id = ?4 ";
}  // namespace

std::vector<std::int64_t> sent_to(store::Db& db, std::int64_t id, std::int64_t user_id, std::int64_t seq) {
  if (db.dialect() != store::Dialect::postgres) {
    advance_receipts(db, id, user_id, seq, seq);
    return member_ids(db, id);
  }
  // The members as they were when the statement began: the update changes receipts, not who.
  auto s = db.prepare(std::string("WITH moved AS (") + kAdvance +
                      "RETURNING 1) SELECT user_id FROM conversation_members WHERE conversation_id = ?3 ORDER BY user_id");
  s.bind(1, seq).bind(2, seq).bind(3, id).bind(4, user_id);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

std::pair<std::int64_t, std::int64_t> advance_receipts(store::Db& db, std::int64_t id, std::int64_t user_id,
                                                       std::int64_t delivered, std::int64_t read) {
  auto s = db.prepare(std::string(kAdvance) + "RETURNING delivered_seq, read_seq");
  s.bind(1, read).bind(2, delivered).bind(3, id).bind(4, user_id);
  if (!s.step()) return {0, 0};
  std::pair<std::int64_t, std::int64_t> out{s.i64(0), s.i64(1)};
  while (s.step()) {
  }
  return out;
}

std::vector<std::int64_t> contacts(store::Db& db, std::int64_t user_id) {
  auto s = db.prepare(
      "WITH mine AS MATERIALIZED (SELECT m.conversation_id FROM conversation_members m WHERE m.user_id = ?1 AND "
      "(SELECT COUNT(*) FROM conversation_members c WHERE c.conversation_id = m.conversation_id) <= ?2) "
      "SELECT DISTINCT o.user_id FROM mine JOIN conversation_members o ON o.conversation_id = mine.conversation_id "
      "WHERE o.user_id != ?1 ORDER BY o.user_id");
  s.bind(1, user_id).bind(2, kPresenceMaxMembers);
  std::vector<std::int64_t> out;
  while (s.step()) out.push_back(s.i64(0));
  return out;
}

bool share_conversation(store::Db& db, std::int64_t a, std::int64_t b) {
  auto s = db.prepare(
      "SELECT 1 FROM conversation_members m JOIN conversation_members o ON o.conversation_id = m.conversation_id "
      "WHERE m.user_id = ? AND o.user_id = ? LIMIT 1");
  s.bind(1, a).bind(2, b);
  return s.step();
}

}  // namespace tourbus::chat::conversations
