// Numbered schema migrations (store/migrations/NNNN_name.sql for SQLite, the same names under
// store/migrations/postgres for PostgreSQL), embedded at build time.
#pragma once

#include <span>
#include <string_view>

#include "store/db.hpp"

namespace tourbus::store {

struct Migration {
  std::string_view name;  // "0001_init.sql"; its number is the schema version it produces
  std::string_view sql;
};

std::span<const Migration> migrations(Dialect dialect = Dialect::sqlite);

}  // namespace tourbus::store
