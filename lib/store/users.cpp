#include "store/users.hpp"

#include "core/validate.hpp"

namespace tourbus::store::users {
namespace {

constexpr std::string_view kColumns =
    "id, handle, display_name, role, email, phone, language, time_zone, quiet_start, quiet_end, "
    "marketing_consent, marketing_consent_at, disabled, created_at, updated_at";

User read(const Stmt& s) {
  User u;
  u.id = s.i64(0);
  u.handle = s.text(1);
  u.display_name = s.text(2);
  u.role = s.text(3);
  u.email = s.opt_text(4);
  u.phone = s.opt_text(5);
  u.language = s.text(6);
  u.time_zone = s.text(7);
  u.quiet_start = s.opt_i64(8);
  u.quiet_end = s.opt_i64(9);
  u.marketing_consent = s.i64(10) != 0;
  u.marketing_consent_at = s.opt_i64(11);
  u.disabled = s.i64(12) != 0;
  u.created_at = s.i64(13);
  u.updated_at = s.i64(14);
  return u;
}

// Binds columns 2.. (everything but id) starting at parameter 1.
void bind_fields(Stmt& s, const User& u) {
  s.bind(1, u.handle).bind(2, u.display_name).bind(3, u.role).bind(4, u.email).bind(5, u.phone);
  s.bind(6, u.language).bind(7, u.time_zone).bind(8, u.quiet_start).bind(9, u.quiet_end);
  s.bind(10, u.marketing_consent).bind(11, u.marketing_consent_at).bind(12, u.disabled);
  s.bind(13, u.created_at).bind(14, u.updated_at);
}

}  // namespace

Result<User> insert(Db& db, User u) {
  auto s = db.prepare(
      "INSERT INTO users (handle, display_name, role, email, phone, language, time_zone, quiet_start, quiet_end, "
      "marketing_consent, marketing_consent_at, disabled, created_at, updated_at) "
      "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14)");
  bind_fields(s, u);
  try {
    s.run();
  } catch (const SqlError& e) {
    if (e.is_unique_violation())
      return Error(Code::already_exists, "a user with handle '" + u.handle + "' already exists", "handle");
    throw;
  }
  u.id = db.last_insert_rowid();
  return u;
}

std::optional<User> find(Db& db, std::string_view handle) {
  auto s = db.prepare(std::string("SELECT ") + std::string(kColumns) + " FROM users WHERE handle = ?1");
  // Handles are stored folded to lower case; lookups fold too ("Anna" finds "anna").
  s.bind(1, validate::fold_handle(handle));
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::optional<User> find_phone(Db& db, std::string_view phone) {
  auto s = db.prepare(std::string("SELECT ") + std::string(kColumns) +
                      " FROM users WHERE phone = ?1 AND disabled = 0 ORDER BY id LIMIT 1");
  s.bind(1, phone);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::optional<User> find_id(Db& db, std::int64_t id) {
  auto s = db.prepare(std::string("SELECT ") + std::string(kColumns) + " FROM users WHERE id = ?1");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return read(s);
}

std::vector<User> list(Db& db, const UserFilter& f) {
  auto s = db.prepare(std::string("SELECT ") + std::string(kColumns) +
                      " FROM users WHERE id > ?1 AND (CAST(?2 AS TEXT) IS NULL OR role = ?2) AND (CAST(?3 AS BIGINT) IS NULL OR disabled = ?3)"
                      " ORDER BY id LIMIT ?4");
  s.bind(1, f.after_id).bind(2, f.role).bind(3, f.disabled).bind(4, f.limit);
  std::vector<User> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

void update(Db& db, const User& u) {
  auto s = db.prepare(
      "UPDATE users SET handle = ?1, display_name = ?2, role = ?3, email = ?4, phone = ?5, language = ?6, "
      "time_zone = ?7, quiet_start = ?8, quiet_end = ?9, marketing_consent = ?10, marketing_consent_at = ?11, "
      "disabled = ?12, created_at = ?13, updated_at = ?14 WHERE id = ?15");
  bind_fields(s, u);
  s.bind(15, u.id);
  s.run();
}

void set_last_seen(Db& db, std::int64_t id, std::int64_t at) {
  db.prepare("UPDATE users SET last_seen_at = ?1 WHERE id = ?2 AND (last_seen_at IS NULL OR last_seen_at < ?1)")
      .bind(1, at)
      .bind(2, id)
      .run();
}

std::optional<std::int64_t> last_seen(Db& db, std::int64_t id) {
  auto s = db.prepare("SELECT last_seen_at FROM users WHERE id = ?");
  s.bind(1, id);
  if (!s.step()) return std::nullopt;
  return s.opt_i64(0);
}

std::vector<std::string> tags(Db& db, std::int64_t id) {
  auto s = db.prepare("SELECT tag FROM user_tags WHERE user_id = ?1 ORDER BY tag");
  s.bind(1, id);
  std::vector<std::string> out;
  while (s.step()) out.push_back(s.text(0));
  return out;
}

void add_tag(Db& db, std::int64_t id, std::string_view tag) {
  auto s = db.prepare("INSERT INTO user_tags (user_id, tag) VALUES (?1, ?2) ON CONFLICT DO NOTHING");
  s.bind(1, id).bind(2, tag);
  s.run();
}

void remove_tag(Db& db, std::int64_t id, std::string_view tag) {
  auto s = db.prepare("DELETE FROM user_tags WHERE user_id = ?1 AND tag = ?2");
  s.bind(1, id).bind(2, tag);
  s.run();
}

}  // namespace tourbus::store::users
