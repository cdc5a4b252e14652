// The users table.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::store {

struct User {
  std::int64_t id = 0;
  std::string handle;
  std::string display_name;
  std::string role;
  std::optional<std::string> email;
  std::optional<std::string> phone;
  std::string language = "en";
  std::string time_zone = "UTC";
  std::optional<std::int64_t> quiet_start, quiet_end;
  bool marketing_consent = false;
  std::optional<std::int64_t> marketing_consent_at;
  bool disabled = false;
  std::int64_t created_at = 0;
  std::int64_t updated_at = 0;
};

struct UserFilter {
  std::optional<std::string> role;
  std::optional<bool> disabled;
  std::int64_t after_id = 0;  // paging: ids greater than this
  std::int64_t limit = 1000;
};

namespace users {
// Inserts and returns the stored user; already_exists when the handle is taken.
Result<User> insert(Db& db, User u);
// By handle, case-insensitively (handles are stored in lower case).
std::optional<User> find(Db& db, std::string_view handle);
std::optional<User> find_id(Db& db, std::int64_t id);
// The enabled user with this E.164 phone number (an SMS reply's sender), the lowest id if several.
std::optional<User> find_phone(Db& db, std::string_view phone);
std::vector<User> list(Db& db, const UserFilter& filter);
// Writes every column of an existing user (by id).
void update(Db& db, const User& u);
// When the user's last session closed (presence), or nothing if never seen. Setting it keeps the
// later of the stored time and `at` (with several nodes, each records it for its own sessions).
void set_last_seen(Db& db, std::int64_t id, std::int64_t at);
std::optional<std::int64_t> last_seen(Db& db, std::int64_t id);
// Tags (for campaign segments), sorted.
std::vector<std::string> tags(Db& db, std::int64_t id);
void add_tag(Db& db, std::int64_t id, std::string_view tag);
void remove_tag(Db& db, std::int64_t id, std::string_view tag);
}  // namespace users

}  // namespace tourbus::store
