// tourbus: the command-line client of tourbusd. See tourbus(1).
#include <iostream>

#include "commands.hpp"
#include "core/error.hpp"

int main(int argc, char** argv) {
  using namespace tourbus;
  using namespace tourbus::cli;
  CLI::App app{"tourbus: control tourbusd (users, tokens, tours, conversations, chat, translation, notifications, reminders, campaigns, locations, alerts, SOS, calls, previews, recordings, backups) over its control socket.\n"
               "Exit codes: 0 ok, 1 internal error, 2 usage, 3 not found, 4 invalid input or conflict,\n"
               "5 permission denied, 6 daemon unreachable. See tourbus(1).",
               "tourbus"};
  app.require_subcommand(1);
  app.fallthrough();  // global options may also follow the subcommand
  Globals g;
  app.add_option("-s,--socket", g.socket, "Control socket of tourbusd (default: $TOURBUS_SOCKET, the config's server.socket, "
                                          "/run/tourbus/tourbusd.sock, the config's state_dir, ./tourbus-data)");
  app.add_option("-c,--config", g.config, "tourbus.toml to find the socket in (default: $TOURBUS_CONFIG, /etc/tourbus/tourbus.toml)");
  app.add_flag("-j,--json", g.json, "Machine-readable output: one JSON document, or one JSON object per line for lists");
  app.add_option("--as", g.as, "Act as this user, with their rights (operators on the control socket; Tourbus-As)");
  app.add_flag("-q,--quiet", g.quiet, "Print nothing on success (errors still go to stderr)");
  app.set_version_flag("-V,--version", "tourbus " TOURBUS_VERSION);

  Action action;
  add_status(app, g, action);
  add_users(app, g, action);
  add_tokens(app, g, action);
  add_tours(app, g, action);
  add_conversations(app, g, action);
  add_send(app, g, action);
  add_chat(app, g, action);
  add_translate(app, g, action);
  add_translation(app, g, action);
  add_glossary(app, g, action);
  add_notify(app, g, action);
  add_queue(app, g, action);
  add_templates(app, g, action);
  add_feed(app, g, action);
  add_preferences(app, g, action);
  add_push(app, g, action);
  add_reminders(app, g, action);
  add_rules(app, g, action);
  add_events(app, g, action);
  add_reviews(app, g, action);
  add_campaigns(app, g, action);
  add_location(app, g, action);
  add_alerts(app, g, action);
  add_sos(app, g, action);
  add_duty(app, g, action);
  add_calls(app, g, action);
  add_previews(app, g, action);
  add_admin(app, g, action);

  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    int rc = app.exit(e);
    return rc == 0 ? exit_code::ok : exit_code::usage;
  }
  return action ? action() : exit_code::usage;
}
