// The nodes table: every tourbusd on one store says here, every few seconds, that it is alive,
// what it runs and how many clients it holds (docs/scaling.md). `tourbus status` lists them; a
// node's claims on notification jobs hold only while it is alive (notify/outbox.hpp).
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "store/db.hpp"

namespace tourbus::store {

struct Node {
  std::string name, version, listen;
  std::int64_t pid = 0;
  bool leader = false;
  std::int64_t connections = 0;
  std::int64_t started_at = 0, seen_at = 0;
};

namespace nodes {

// How often a node says it is alive, and how long after its last word it counts as gone.
constexpr std::int64_t kBeatMs = 2'000;
constexpr std::int64_t kGoneAfterMs = 10'000;

// Writes the node's row (inserted the first time, replaced after). A node that leads (it holds
// the lock) is then the only row that says so: a dead leader's row would until it counts as gone.
// Returns the row as it was (nothing the first time): written by another process (another pid
// or start time) after this one's first beat, it says two running nodes share a name.
std::optional<Node> beat(Db& db, const Node& node);
// Every node that ever ran on this store, by name.
std::vector<Node> list(Db& db);
// Removes the rows of nodes not seen since `before`; returns how many.
std::int64_t forget(Db& db, std::int64_t before);

}  // namespace nodes
}  // namespace tourbus::store
