#include "store/tokens.hpp"

namespace tourbus::store::tokens {
namespace {

constexpr const char* kSelect =
    "SELECT t.id, t.user_id, u.handle, t.label, t.prefix, t.created_at, t.expires_at, t.revoked_at, t.last_used_at "
    "FROM tokens t JOIN users u ON u.id = t.user_id ";

Token read(const Stmt& s) {
  Token t;
  t.id = s.i64(0);
  t.user_id = s.i64(1);
  t.user_handle = s.text(2);
  t.label = s.text(3);
  t.prefix = s.text(4);
  t.created_at = s.i64(5);
  t.expires_at = s.opt_i64(6);
  t.revoked_at = s.opt_i64(7);
  t.last_used_at = s.opt_i64(8);
  return t;
}

}  // namespace

Token insert(Db& db, Token t, std::string_view hash) {
  auto s = db.prepare(
      "INSERT INTO tokens (user_id, label, hash, prefix, created_at, expires_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)");
  s.bind(1, t.user_id).bind(2, t.label).bind(3, hash).bind(4, t.prefix).bind(5, t.created_at).bind(6, t.expires_at);
  s.run();
  t.id = db.last_insert_rowid();
  return t;
}

std::optional<Token> find(Db& db, std::int64_t id) {
  auto s = db.prepare(std::string(kSelect) + "WHERE t.id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::optional<std::pair<Token, User>> find_by_hash(Db& db, std::string_view hash) {
  std::optional<Token> token;
  {
    auto s = db.prepare(std::string(kSelect) + "WHERE t.hash = ?1");
    s.bind(1, hash);
    if (!s.step()) return std::nullopt;
    token = read(s);
  }
  auto user = users::find_id(db, token->user_id);
  if (!user) return std::nullopt;
  return std::pair{*token, *user};
}

std::vector<Token> list(Db& db, std::int64_t user_id, bool active_only, std::int64_t now) {
  auto s = db.prepare(std::string(kSelect) +
                      "WHERE (?1 = 0 OR t.user_id = ?1) AND (?2 = 0 OR (t.revoked_at IS NULL AND "
                      "(t.expires_at IS NULL OR t.expires_at > ?3))) ORDER BY t.id");
  s.bind(1, user_id).bind(2, active_only).bind(3, now);
  std::vector<Token> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

bool revoke(Db& db, std::int64_t id, std::int64_t now) {
  auto s = db.prepare("UPDATE tokens SET revoked_at = ?2 WHERE id = ?1 AND revoked_at IS NULL");
  s.bind(1, id).bind(2, now);
  s.run();
  return db.changes() > 0;
}

void touch(Db& db, std::int64_t id, std::int64_t now) {
  auto s = db.prepare("UPDATE tokens SET last_used_at = ?2 WHERE id = ?1");
  s.bind(1, id).bind(2, now);
  s.run();
}

}  // namespace tourbus::store::tokens
