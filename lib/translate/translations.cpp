#include "translate/translations.hpp"

#include <cctype>

#include "translate/language.hpp"

namespace tourbus::translate {

namespace translations {

std::map<std::int64_t, std::vector<Stored>> of(store::Db& db, std::span<const std::int64_t> messages,
                                               const std::optional<std::string>& lang) {
  std::map<std::int64_t, std::vector<Stored>> out;
  for (auto id : messages) {
    auto s = db.prepare(
        "SELECT message_id, lang, text, provider, pivot, created_at FROM translations "
        "WHERE message_id = ?1 AND (CAST(?2 AS TEXT) IS NULL OR lang = ?2) ORDER BY lang");
    s.bind(1, id).bind(2, lang);
    while (s.step())
      out[id].push_back(Stored{s.i64(0), s.text(1), s.text(2), s.text(3), s.opt_text(4), s.i64(5)});
  }
  return out;
}

void put(store::Db& db, const Stored& t) {
  db.prepare(
        "INSERT INTO translations (message_id, lang, text, provider, pivot, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6) "
        "ON CONFLICT (message_id, lang) DO UPDATE SET text = ?3, provider = ?4, pivot = ?5, created_at = ?6")
      .bind(1, t.message_id)
      .bind(2, t.lang)
      .bind(3, t.text)
      .bind(4, t.provider)
      .bind(5, t.pivot)
      .bind(6, t.created_at)
      .run();
}

void remove(store::Db& db, std::int64_t message_id) {
  db.prepare("DELETE FROM translations WHERE message_id = ?").bind(1, message_id).run();
}

std::int64_t count(store::Db& db) {
  auto s = db.prepare("SELECT count(*) FROM translations");
  s.step();
  return s.i64(0);
}

}  // namespace translations

namespace jobs {

std::int64_t cursor(store::Db& db) {
  auto s = db.prepare("SELECT message_id FROM translation_cursor WHERE id = 1");
  return s.step() ? s.i64(0) : 0;
}

void set_cursor(store::Db& db, std::int64_t message_id) {
  db.prepare("UPDATE translation_cursor SET message_id = ? WHERE id = 1 AND message_id < ?")
      .bind(1, message_id)
      .bind(2, message_id)
      .run();
}

std::vector<Job> due(store::Db& db, std::int64_t now, std::int64_t limit) {
  auto s = db.prepare(
      "SELECT message_id, due_at, attempts, last_error FROM translation_jobs WHERE due_at <= ? "
      "ORDER BY due_at, message_id LIMIT ?");
  s.bind(1, now).bind(2, limit);
  std::vector<Job> out;
  while (s.step()) out.push_back(Job{s.i64(0), s.i64(1), s.i64(2), s.opt_text(3)});
  return out;
}

std::optional<std::int64_t> next_due(store::Db& db) {
  auto s = db.prepare("SELECT min(due_at) FROM translation_jobs");
  s.step();
  return s.opt_i64(0);
}

void schedule(store::Db& db, std::int64_t message_id, std::int64_t due_at, std::int64_t attempts,
              const std::optional<std::string>& error) {
  db.prepare(
        "INSERT INTO translation_jobs (message_id, due_at, attempts, last_error) VALUES (?1, ?2, ?3, ?4) "
        "ON CONFLICT (message_id) DO UPDATE SET due_at = ?2, attempts = ?3, last_error = ?4")
      .bind(1, message_id)
      .bind(2, due_at)
      .bind(3, attempts)
      .bind(4, error)
      .run();
}

void done(store::Db& db, std::int64_t message_id) {
  db.prepare("DELETE FROM translation_jobs WHERE message_id = ?").bind(1, message_id).run();
}

std::int64_t waiting(store::Db& db) {
  auto s = db.prepare("SELECT count(*) FROM translation_jobs");
  s.step();
  return s.i64(0);
}

}  // namespace jobs

namespace notices {

bool first(store::Db& db, std::int64_t conversation, const std::string& source, const std::string& target, std::int64_t now) {
  db.prepare(
        "INSERT INTO translation_notices (conversation_id, source, target, created_at) VALUES (?, ?, ?, ?) "
        "ON CONFLICT DO NOTHING")
      .bind(1, conversation)
      .bind(2, source)
      .bind(3, target)
      .bind(4, now)
      .run();
  return db.changes() > 0;
}

}  // namespace notices

namespace glossary {

namespace {
std::string key_of(const std::string& term) {
  std::string k = term;
  for (auto& c : k) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return k;
}
}  // namespace

Result<Term> add(store::Db& db, const std::string& term, const std::string& note, std::int64_t now) {
  auto s = db.prepare("SELECT id FROM glossary WHERE term_key = ?");
  s.bind(1, key_of(term));
  if (s.step())
    return Error(Code::conflict, "'" + term + "' is in the glossary already (id " + std::to_string(s.i64(0)) + ")", "term");
  db.prepare("INSERT INTO glossary (term, term_key, note, created_at) VALUES (?, ?, ?, ?)")
      .bind(1, term)
      .bind(2, key_of(term))
      .bind(3, note)
      .bind(4, now)
      .run();
  return Term{db.last_insert_rowid(), term, note, now};
}

std::vector<Term> list(store::Db& db) {
  auto s = db.prepare("SELECT id, term, note, created_at FROM glossary ORDER BY term_key");
  std::vector<Term> out;
  while (s.step()) out.push_back(Term{s.i64(0), s.text(1), s.text(2), s.i64(3)});
  return out;
}

bool remove(store::Db& db, std::int64_t id) {
  db.prepare("DELETE FROM glossary WHERE id = ?").bind(1, id).run();
  return db.changes() > 0;
}

std::vector<std::string> terms(store::Db& db) {
  auto s = db.prepare("SELECT term FROM glossary ORDER BY id");
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

}  // namespace glossary

namespace settings {

std::vector<Reader> readers(store::Db& db, std::int64_t conversation) {
  auto s = db.prepare(
      "SELECT u.id, u.language, u.translate, m.translate, c.translate FROM conversation_members m "
      "JOIN users u ON u.id = m.user_id JOIN conversations c ON c.id = m.conversation_id "
      "WHERE m.conversation_id = ?");
  s.bind(1, conversation);
  std::vector<Reader> out;
  while (s.step()) {
    Reader r;
    r.user_id = s.i64(0);
    r.lang = primary(s.text(1));
    bool own = s.i64(2) != 0;
    auto member = s.opt_i64(3);
    bool dflt = s.i64(4) != 0;
    r.wants = own && (member ? *member != 0 : dflt);
    out.push_back(std::move(r));
  }
  return out;
}

bool conversation_default(store::Db& db, std::int64_t conversation) {
  auto s = db.prepare("SELECT translate FROM conversations WHERE id = ?");
  s.bind(1, conversation);
  return !s.step() || s.i64(0) != 0;
}

void set_user(store::Db& db, std::int64_t user, bool on) {
  db.prepare("UPDATE users SET translate = ? WHERE id = ?").bind(1, on).bind(2, user).run();
}

bool user(store::Db& db, std::int64_t user) {
  auto s = db.prepare("SELECT translate FROM users WHERE id = ?");
  s.bind(1, user);
  return !s.step() || s.i64(0) != 0;
}

void set_member(store::Db& db, std::int64_t conversation, std::int64_t user, std::optional<bool> on) {
  auto v = on ? std::optional<std::int64_t>(*on) : std::nullopt;
  db.prepare("UPDATE conversation_members SET translate = ? WHERE conversation_id = ? AND user_id = ?")
      .bind(1, v)
      .bind(2, conversation)
      .bind(3, user)
      .run();
}

std::optional<bool> member(store::Db& db, std::int64_t conversation, std::int64_t user) {
  auto s = db.prepare("SELECT translate FROM conversation_members WHERE conversation_id = ? AND user_id = ?");
  s.bind(1, conversation).bind(2, user);
  if (!s.step()) return std::nullopt;
  auto v = s.opt_i64(0);
  return v ? std::optional<bool>(*v != 0) : std::nullopt;
}

void set_conversation(store::Db& db, std::int64_t conversation, bool on) {
  db.prepare("UPDATE conversations SET translate = ? WHERE id = ?").bind(1, on).bind(2, conversation).run();
}

}  // namespace settings

}  // namespace tourbus::translate
