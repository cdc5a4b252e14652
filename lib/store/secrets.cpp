#include "store/secrets.hpp"

#include "core/crypto.hpp"

namespace tourbus::store::secrets {

std::string get_or_create(Db& db, std::string_view name, std::int64_t now) {
  {
    auto s = db.prepare("SELECT value FROM secrets WHERE name = ?1");
    s.bind(1, name);
    if (s.step()) return s.text(0);
  }
  auto value = crypto::random_token(32);
  auto s = db.prepare("INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3)");
  s.bind(1, name).bind(2, value).bind(3, now);
  s.run();
  return value;
}

}  // namespace tourbus::store::secrets
