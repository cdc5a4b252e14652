// tourbus backup, tourbus reload
#include <iostream>

#include "core/json.hpp"

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

void add_admin(CLI::App& app, Globals& g, Action& action) {
  auto* backup = app.add_subcommand("backup", summary("backup") + " into FILE ('-' for standard output)");
  static std::string file;
  backup->add_option("FILE", file, "Where to write the copy (written as FILE.partial, then renamed)")->required();
  backup->callback([&] {
    action = [&] {
      Client client(find_socket(g), g.as);
      auto r = client.download("backup", {}, file);
      if (!r) return fail(g, r.error());
      if (file == "-") return exit_code::ok;  // standard output carries the database itself
      if (g.json) std::cout << json::dump(boost::json::object{{"file", file}, {"bytes", *r}}) << "\n";
      else if (!g.quiet) std::cout << "backup written to " << file << " (" << *r << " bytes)\n";
      return exit_code::ok;
    };
  });

  auto* reload = app.add_subcommand("reload", summary("reload"));
  reload->callback([&] {
    action = [&] {
      return run_call(g, [](Client& c) { return c.call("reload"); },
                      [&](const boost::json::value& v) {
                        return print_object(g, v, [](const boost::json::object& o) {
                          std::cout << "reloaded; applied: " << show(o.at("applied"))
                                    << "; need a restart: " << show(o.at("needs_restart")) << "\n";
                        });
                      });
    };
  });
}

}  // namespace tourbus::cli
