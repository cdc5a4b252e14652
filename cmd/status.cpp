// tourbus status
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

// The "translation" section: counters since start, then one line per engine with its health.
void print_translation(const boost::json::object& t) {
  std::string waiting = show(t.at("waiting")) + " waiting to be tried again";
  const auto* enabled = t.if_contains("enabled");
  if (!enabled) {
    std::cout << "translation: not running, " << waiting << "\n";
    return;
  }
  std::cout << "translation: " << (enabled->as_bool() ? "on" : "off (no engine in translate.providers or translate.routes)")
            << ", " << show(t.at("translated")) << " translated, " << show(t.at("cache_hits")) << " from the cache, "
            << show(t.at("failed")) << " failed, " << show(t.at("unsupported")) << " with no engine for the pair; " << waiting << "\n";
  for (const auto& e : t.at("engines").as_array()) {
    const auto& eo = e.as_object();
    std::string state = eo.at("reachable").as_bool() ? "reachable" : "unreachable";
    if (eo.at("backing_off").as_bool()) state += ", backing off (skipped after failures)";
    std::cout << "  " << show(eo.at("name")) << ": " << state << "; " << show(eo.at("ok")) << " ok, " << show(eo.at("failed"))
              << " failed";
    if (!eo.at("last_error").is_null())
      std::cout << "; last error " << show(eo.at("last_error_at")) << ": " << show(eo.at("last_error"));
    std::cout << "\n";
    if (const auto* pairs = eo.if_contains("pairs"); pairs && pairs->is_array() && !pairs->as_array().empty())
      std::cout << "    pairs: " << show(*pairs) << "\n";
  }
}

// This node's name and role, then (several nodes on one store) a line per node.
void print_nodes(const boost::json::object& o) {
  std::cout << "node:        " << show(o.at("node")) << " (" << show(o.at("role")) << ")";
  if (const auto* nats = o.if_contains("nats"); nats && nats->is_string() && nats->as_string() != "off")
    std::cout << ", NATS " << show(*nats);
  std::cout << "\n";
  const auto* nodes = o.if_contains("nodes");
  if (!nodes || !nodes->is_array() || nodes->as_array().size() < 2) return;
  for (const auto& v : nodes->as_array()) {
    const auto& n = v.as_object();
    std::cout << "  " << show(n.at("name")) << (n.at("self").as_bool() ? " (this node)" : "") << ": " << show(n.at("role"))
              << ", " << show(n.at("connections")) << " connections, last seen " << show(n.at("lag_ms")) << " ms ago, "
              << show(n.at("listen")) << ", pid " << show(n.at("pid")) << ", " << show(n.at("version")) << "\n";
  }
}

}  // namespace

void add_status(CLI::App& app, Globals& g, Action& action) {
  auto* cmd = app.add_subcommand("status", summary("status"));
  cmd->callback([&] {
    action = [&] {
      return run_call(g, [](Client& c) { return c.call("status"); },
                      [&](const boost::json::value& v) {
                        return print_object(g, v, [](const boost::json::object& o) {
                          const auto& s = o.at("store").as_object();
                          const auto& c = o.at("connections").as_object();
                          std::cout << "tourbusd " << show(o.at("version")) << ", pid " << show(o.at("pid"))
                                    << ", up " << show(o.at("uptime_seconds")) << " s\n"
                                    << "listen:      " << show(o.at("listen")) << "\n"
                                    << "socket:      " << show(o.at("socket")) << "\n"
                                    << "state dir:   " << show(o.at("state_dir")) << "\n"
                                    << "database:    " << show(s.at("path")) << " (schema " << show(s.at("schema_version"))
                                    << ", " << show(s.at("db_bytes")) << " bytes + WAL " << show(s.at("wal_bytes")) << ")\n"
                                    << "entities:    " << show(s.at("users")) << " users, " << show(s.at("tokens"))
                                    << " tokens, " << show(s.at("tours")) << " tours\n"
                                    << "writes:      " << show(s.at("writes")) << " in " << show(s.at("commits"))
                                    << " commits, " << show(s.at("queued_writes")) << " queued\n"
                                    << "connections: " << show(c.at("tcp")) << " tcp, " << show(c.at("unix")) << " unix, "
                                    << show(c.at("websocket")) << " websocket"
                                    << (c.contains("socketio") ? ", " + show(c.at("socketio")) + " socket.io" : std::string())
                                    << "\n";
                          print_nodes(o);
                          if (const auto* t = o.if_contains("translation"); t && t->is_object()) print_translation(t->as_object());
                        });
                      });
    };
  });
}

}  // namespace tourbus::cli
