#include "store/nodes.hpp"

namespace tourbus::store::nodes {

namespace {

constexpr const char* kColumns = "SELECT name, version, pid, listen, leader, connections, started_at, seen_at FROM nodes ";

Node read(Stmt& s) {
  Node n;
  n.name = s.text(0);
  n.version = s.text(1);
  n.pid = s.i64(2);
  n.listen = s.text(3);
  n.leader = s.i64(4) != 0;
  n.connections = s.i64(5);
  n.started_at = s.i64(6);
  n.seen_at = s.i64(7);
  return n;
}

}  // namespace

std::optional<Node> beat(Db& db, const Node& n) {
  std::optional<Node> before;
  {
    auto s = db.prepare(std::string(kColumns) + "WHERE name = ?1");
    s.bind(1, n.name);
    if (s.step()) before = read(s);
  }
  db.prepare(
        "INSERT INTO nodes (name, version, pid, listen, leader, connections, started_at, seen_at) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) "
        "ON CONFLICT (name) DO UPDATE SET version = excluded.version, pid = excluded.pid, listen = excluded.listen, "
        "leader = excluded.leader, connections = excluded.connections, started_at = excluded.started_at, "
        "seen_at = excluded.seen_at")
      .bind(1, n.name)
      .bind(2, n.version)
      .bind(3, n.pid)
      .bind(4, n.listen)
      .bind(5, n.leader ? 1 : 0)
      .bind(6, n.connections)
      .bind(7, n.started_at)
      .bind(8, n.seen_at)
      .run();
  // A new leader's rows say so at once: a dead leader's would until it counts as gone.
  if (n.leader) db.prepare("UPDATE nodes SET leader = 0 WHERE leader = 1 AND name <> ?").bind(1, n.name).run();
  return before;
}

std::vector<Node> list(Db& db) {
  auto s = db.prepare(std::string(kColumns) + "ORDER BY name");
  std::vector<Node> out;
  while (s.step()) out.push_back(read(s));
  return out;
}

std::int64_t forget(Db& db, std::int64_t before) {
  auto s = db.prepare("DELETE FROM nodes WHERE seen_at < ?1");
  s.bind(1, before).run();
  return db.changes();
}

}  // namespace tourbus::store::nodes
