#include "store/secrets.hpp"

#include "core/crypto.hpp"

namespace tourbus::store::secrets {

std::string get_or_create(Db& db, std::string_view name, std::int64_t now) {
  {
    auto s = db.prepare("SELECT value FROM secrets WHERE name = ?1");
    s.bind(1, name);
    if (s.step()) return s.text(0);
  }
  // Several nodes starting at once on one store may each make one: the first kept is everyone's.
  auto value = crypto::random_token(32);
  auto s = db.prepare("INSERT INTO secrets (name, value, created_at) VALUES (?1, ?2, ?3) ON CONFLICT (name) DO NOTHING");
  s.bind(1, name).bind(2, value).bind(3, now);
  s.run();
  auto kept = db.prepare("SELECT value FROM secrets WHERE name = ?1");
  kept.bind(1, name);
  return kept.step() ? kept.text(0) : value;
}

}  // namespace tourbus::store::secrets
