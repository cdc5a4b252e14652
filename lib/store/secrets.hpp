// The secrets table: keys the daemon makes for itself (the link-signing key). Never logged.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>

#include "store/db.hpp"

namespace tourbus::store::secrets {
// The secret of that name, made (32 random bytes, base64url) and stored the first time.
std::string get_or_create(Db& db, std::string_view name, std::int64_t now);
}  // namespace tourbus::store::secrets
