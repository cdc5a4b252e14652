#include "chat/messages.hpp"

namespace tourbus::chat::messages {
namespace {

constexpr std::string_view kSelect =
    "SELECT m.id, m.conversation_id, m.seq, m.sender_id, u.handle, m.client_id, m.kind, m.body, m.data, m.file_id, "
    "m.created_at, m.edited_at, m.deleted_at, f.sha256, f.content_type, f.name, f.size, f.width, f.height, "
    "f.uploader_id, f.created_at, m.lang, m.lang_method, m.translate "
    "FROM messages m LEFT JOIN users u ON u.id = m.sender_id LEFT JOIN files f ON f.id = m.file_id ";

Message read(store::Stmt& s) {
  Message m;
  m.id = s.i64(0);
  m.conversation_id = s.i64(1);
  m.seq = s.i64(2);
  m.sender_id = s.i64(3);
  m.sender_handle = s.opt_text(4);
  m.client_id = s.opt_text(5);
  m.kind = s.text(6);
  m.body = s.text(7);
  m.data = s.opt_text(8);
  m.file_id = s.opt_i64(9);
  m.created_at = s.i64(10);
  m.edited_at = s.opt_i64(11);
  m.deleted_at = s.opt_i64(12);
  if (m.file_id && !s.is_null(13)) {
    FileInfo f;
    f.id = *m.file_id;
    f.sha256 = s.text(13);
    f.content_type = s.text(14);
    f.name = s.text(15);
    f.size = s.i64(16);
    f.width = s.opt_i64(17);
    f.height = s.opt_i64(18);
    f.uploader_id = s.i64(19);
    f.created_at = s.i64(20);
    m.file = std::move(f);
  }
  m.lang = s.opt_text(21);
  m.lang_method = s.opt_text(22);
  m.translate = s.i64(23) != 0;
  return m;
}

std::vector<Message> read_all(store::Stmt& s) {
  std::vector<Message> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

// Plain words to an FTS5 query: each word quoted (quotes doubled), all of them required.
std::string fts_query(const std::string& text) {
  std::string out, word;
  auto flush = [&] {
    if (word.empty()) return;
    if (!out.empty()) out += ' ';
    out += '"';
    for (char c : word) out += c == '"' ? std::string("\"\"") : std::string(1, c);
    out += '"';
    word.clear();
  };
  for (char c : text) {
    if (c == ' ' || c == '\t' || c == '\n' || c == '\r') flush();
    else word += c;
  }
  flush();
  return out;
}

}  // namespace

std::optional<Message> find_client(store::Db& db, std::int64_t sender_id, const std::string& client_id) {
  auto s = db.prepare(std::string(kSelect) + "WHERE m.sender_id = ? AND m.client_id = ?");
  s.bind(1, sender_id).bind(2, client_id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

Message append(store::Db& db, Message m) {
  // The next seq is taken under the conversation's row lock. On PostgreSQL it is taken and the
  // message inserted in one statement (one round trip); SQLite has no UPDATE inside WITH, so it
  // takes the seq first. The id comes back with the insert.
  bool pg = db.dialect() == store::Dialect::postgres;
  if (!pg) {
    auto next = db.prepare(
        "UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?1, updated_at = ?1 WHERE id = ?2 "
        "RETURNING last_seq");
    next.bind(1, m.created_at).bind(2, m.conversation_id);
    if (!next.step()) throw store::SqlError(0, 0, "append: no conversation " + std::to_string(m.conversation_id));
    m.seq = next.i64(0);
    while (next.step()) {
    }
  }
  auto insert = db.prepare(
      std::string(pg ? "WITH next AS (UPDATE conversations SET last_seq = last_seq + 1, last_message_at = ?8, "
                       "updated_at = ?8 WHERE id = ?1 RETURNING last_seq) "
                     : "") +
      "INSERT INTO messages (conversation_id, seq, sender_id, client_id, kind, body, data, file_id, created_at, lang, "
      "lang_method, translate) VALUES (?1, " + (pg ? "(SELECT last_seq FROM next)" : "?12") +
      ", ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) RETURNING id, seq");
  insert.bind(1, m.conversation_id)
      .bind(2, m.sender_id)
      .bind(3, m.client_id)
      .bind(4, m.kind)
      .bind(5, m.body)
      .bind(6, m.data)
      .bind(7, m.file_id)
      .bind(8, m.created_at)
      .bind(9, m.lang)
      .bind(10, m.lang_method)
      .bind(11, m.translate);
  if (!pg) insert.bind(12, m.seq);
  if (!insert.step()) throw store::SqlError(0, 0, "append: no conversation " + std::to_string(m.conversation_id));
  m.id = insert.i64(0);
  m.seq = insert.i64(1);
  while (insert.step()) {
  }
  return m;
}

std::vector<Message> text_after(store::Db& db, std::int64_t after, std::int64_t limit) {
  auto s = db.prepare(std::string(kSelect) + "WHERE m.id > ? AND m.kind = 'text' ORDER BY m.id LIMIT ?");
  s.bind(1, after).bind(2, limit);
  return read_all(s);
}

std::optional<Message> by_id(store::Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSelect) + "WHERE m.id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::optional<Message> find(store::Db& db, std::int64_t conversation_id, std::int64_t seq) {
  auto s = db.prepare(std::string(kSelect) + "WHERE m.conversation_id = ? AND m.seq = ?");
  s.bind(1, conversation_id).bind(2, seq);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::vector<Message> page(store::Db& db, std::int64_t conversation_id, const Page& p) {
  if (p.after) {
    auto s = db.prepare(std::string(kSelect) +
                        "WHERE m.conversation_id = ? AND m.seq > ? AND (CAST(? AS BIGINT) IS NULL OR m.seq < ?) "
                        "AND (CAST(? AS BIGINT) IS NULL OR m.created_at >= ?) ORDER BY m.seq LIMIT ?");
    s.bind(1, conversation_id).bind(2, *p.after).bind(3, p.before).bind(4, p.before).bind(5, p.since).bind(6, p.since);
    s.bind(7, p.limit);
    return read_all(s);
  }
  auto s = db.prepare(std::string(kSelect) +
                      "WHERE m.conversation_id = ? AND (CAST(? AS BIGINT) IS NULL OR m.seq < ?) ORDER BY m.seq DESC LIMIT ?");
  s.bind(1, conversation_id).bind(2, p.before).bind(3, p.before).bind(4, p.limit);
  auto out = read_all(s);
  std::reverse(out.begin(), out.end());
  return out;
}

std::vector<Message> after_id(store::Db& db, std::int64_t user_id, std::int64_t after, std::int64_t limit) {
  if (user_id == 0) {
    auto s = db.prepare(std::string(kSelect) + "WHERE m.id > ? ORDER BY m.id LIMIT ?");
    s.bind(1, after).bind(2, limit);
    return read_all(s);
  }
  auto s = db.prepare(std::string(kSelect) +
                      "JOIN conversation_members c ON c.conversation_id = m.conversation_id AND c.user_id = ? "
                      "WHERE m.id > ? ORDER BY m.id LIMIT ?");
  s.bind(1, user_id).bind(2, after).bind(3, limit);
  return read_all(s);
}

std::int64_t last_id(store::Db& db) {
  auto s = db.prepare("SELECT coalesce(max(id), 0) FROM messages");
  s.step();
  return s.i64(0);
}

std::vector<Message> search(store::Db& db, std::int64_t conversation_id, const std::string& query, std::int64_t limit) {
  auto q = fts_query(query);
  if (q.empty()) return {};
  if (db.dialect() == store::Dialect::postgres) {
    // Every word required, accents folded, as below; the GIN index of migration 0002 serves it.
    auto s = db.prepare(std::string(kSelect) +
                        "WHERE to_tsvector('tourbus_search', m.body) @@ plainto_tsquery('tourbus_search', ?) "
                        "AND m.conversation_id = ? AND m.deleted_at IS NULL ORDER BY m.seq DESC LIMIT ?");
    s.bind(1, query).bind(2, conversation_id).bind(3, limit);
    return read_all(s);
  }
  auto s = db.prepare(std::string(kSelect) +
                      "JOIN messages_fts ON messages_fts.rowid = m.id WHERE messages_fts MATCH ? "
                      "AND m.conversation_id = ? AND m.deleted_at IS NULL ORDER BY m.seq DESC LIMIT ?");
  s.bind(1, q).bind(2, conversation_id).bind(3, limit);
  return read_all(s);
}

void edit(store::Db& db, std::int64_t id, const std::string& body, std::int64_t now) {
  db.prepare("UPDATE messages SET body = ?, edited_at = ? WHERE id = ?").bind(1, body).bind(2, now).bind(3, id).run();
}

void tombstone(store::Db& db, std::int64_t id, std::int64_t now) {
  db.prepare("UPDATE messages SET body = '', data = NULL, file_id = NULL, deleted_at = ? WHERE id = ?")
      .bind(1, now)
      .bind(2, id)
      .run();
}

bool file_visible_to(store::Db& db, std::int64_t file_id, std::int64_t user_id) {
  auto s = db.prepare(
      "SELECT 1 FROM messages m JOIN conversation_members c ON c.conversation_id = m.conversation_id "
      "WHERE m.file_id = ? AND c.user_id = ? LIMIT 1");
  s.bind(1, file_id).bind(2, user_id);
  return s.step();
}

}  // namespace tourbus::chat::messages
