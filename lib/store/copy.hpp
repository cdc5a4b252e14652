// Moving an installation from SQLite to PostgreSQL (`tourbus migrate-store`): every table of the
// live SQLite store copied into a PostgreSQL database of the same schema version, ids kept.
#pragma once

#include <cstdint>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::store {

struct CopyReport {
  int schema_version = 0;
  std::int64_t rows = 0;
  std::vector<std::pair<std::string, std::int64_t>> tables;  // rows copied, in copy order
};

// Copies `source` (SQLite, migrated) into `target` (PostgreSQL): applies the PostgreSQL
// migrations there, refuses a target that has users already (conflict), then in one transaction
// replaces whatever the migrations seeded with every row of every table, parents before children,
// and sets each identity sequence past the highest id SQLite ever handed out (its AUTOINCREMENT
// high-water marks included), so no id is reused. Run it where no write can happen meanwhile
// (on the writer's thread).
Result<CopyReport> copy_to_postgres(Db& source, const Target& target);

// The two halves, so that the slow one (connecting, migrating) runs before the writer is held:
// open_target connects, migrates and checks the target is empty; copy_into copies.
Result<std::unique_ptr<Db>> open_target(const Target& target);
Result<CopyReport> copy_into(Db& source, Db& dest);

}  // namespace tourbus::store
