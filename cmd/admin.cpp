// tourbus backup, tourbus reload, tourbus migrate-store
#include <algorithm>
#include <fstream>
#include <iostream>
#include <memory>
#include <string>
#include <utility>
#include <vector>

#include <termios.h>
#include <unistd.h>

#include "core/json.hpp"

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

// The password of --password-file: the first line of FILE ("-": standard input; from a terminal,
// asked for without echo), without its line end. It goes into the request body and nowhere else:
// never printed.
Result<std::string> read_password_file(const std::string& file) {
  std::string line;
  if (file == "-") {
    termios saved{};
    bool terminal = isatty(STDIN_FILENO) && tcgetattr(STDIN_FILENO, &saved) == 0;
    if (terminal) {
      termios quiet = saved;
      quiet.c_lflag &= ~static_cast<tcflag_t>(ECHO);
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &quiet);
      std::cerr << "PostgreSQL password: " << std::flush;
    }
    std::getline(std::cin, line);
    if (terminal) {
      tcsetattr(STDIN_FILENO, TCSAFLUSH, &saved);
      std::cerr << "\n";
    }
  } else {
    std::ifstream f(file, std::ios::binary);
    if (!f) return Error(Code::not_found, "cannot read " + file);
    std::getline(f, line);
  }
  if (!line.empty() && line.back() == '\r') line.pop_back();
  if (line.empty())
    return Error(Code::invalid_argument,
                 "--password-file: no password on the first line of " + (file == "-" ? std::string("standard input") : file));
  return line;
}

// Text as a TOML basic string, to be pasted into tourbus.toml.
std::string toml_quoted(std::string_view text) {
  std::string out = "\"";
  for (char ch : text) {
    if (ch == '"' || ch == '\\') out += '\\';
    out += ch;
  }
  return out + "\"";
}

}  // namespace

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

  {
    auto postgres = std::make_shared<std::string>();
    auto password_file = std::make_shared<std::string>();
    auto* cmd = app.add_subcommand("migrate-store", summary("store.migrate") + " (docs/scaling.md)");
    cmd->add_option("--postgres", *postgres,
                    "libpq connection string of the PostgreSQL database to fill, without the password: "
                    "\"host=db.example dbname=tourbus user=tourbus\" or postgresql://tourbus@db.example/tourbus")
        ->required();
    cmd->add_option("--password-file", *password_file,
                    "A file whose first line is the password of the connection string's role ('-': standard input, "
                    "asked for without echo on a terminal); sent to tourbusd in the request, never printed or logged");
    cmd->callback([&g, &action, postgres, password_file] {
      action = [&g, postgres, password_file] {
        boost::json::object body{{"postgres", *postgres}};
        if (!password_file->empty()) {
          auto password = read_password_file(*password_file);
          if (!password) return fail(g, password.error());
          body["password"] = std::move(*password);
        }
        bool with_password = body.contains("password");
        return run_call(g, [&](Client& c) { return c.call("store.migrate", std::move(body)); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [&](const boost::json::object& o) {
                            std::vector<std::pair<std::string, std::string>> tables;
                            for (const auto& [name, rows] : o.at("tables").as_object())
                              tables.emplace_back(std::string(name), show(rows));
                            std::sort(tables.begin(), tables.end());
                            for (const auto& [name, rows] : tables) std::cout << name << ": " << rows << "\n";
                            std::cout << "total: " << show(o.at("rows")) << " rows in " << tables.size()
                                      << " tables (schema version " << show(o.at("schema_version")) << ")\n\n"
                                      << "tourbusd now refuses every write until it is restarted on PostgreSQL.\n"
                                      << "Now stop tourbusd, set cluster.postgres = " << toml_quoted(*postgres)
                                      << (with_password ? " and the credential cluster.postgres_password"
                                                        : " (and the credential cluster.postgres_password if its role has a password)")
                                      << ", and start it again (docs/scaling.md).\n";
                          });
                        });
      };
    });
  }
}

}  // namespace tourbus::cli
