// The tokens table. Only the SHA-256 of a token's secret is stored.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"
#include "store/users.hpp"

namespace tourbus::store {

struct Token {
  std::int64_t id = 0;
  std::int64_t user_id = 0;
  std::string user_handle;
  std::string label;
  std::string prefix;
  std::int64_t created_at = 0;
  std::optional<std::int64_t> expires_at, revoked_at, last_used_at;
};

namespace tokens {
Token insert(Db& db, Token t, std::string_view hash);
std::optional<Token> find(Db& db, std::int64_t id);
// The token with this hash and its user, whatever their state (the caller judges validity).
std::optional<std::pair<Token, User>> find_by_hash(Db& db, std::string_view hash);
// user_id 0: every user's. active_only: neither revoked nor expired at `now`.
std::vector<Token> list(Db& db, std::int64_t user_id, bool active_only, std::int64_t now);
// Marks revoked; false when it already was.
bool revoke(Db& db, std::int64_t id, std::int64_t now);
void touch(Db& db, std::int64_t id, std::int64_t now);
}  // namespace tokens

}  // namespace tourbus::store
