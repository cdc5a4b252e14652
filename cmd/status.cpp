// tourbus status
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

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
                        });
                      });
    };
  });
}

}  // namespace tourbus::cli
