// Numbered schema migrations (store/migrations/NNNN_name.sql), embedded at build time.
#pragma once

#include <span>
#include <string_view>

namespace tourbus::store {

struct Migration {
  std::string_view name;  // "0001_init.sql"; its number is the schema version it produces
  std::string_view sql;
};

std::span<const Migration> migrations();

}  // namespace tourbus::store
