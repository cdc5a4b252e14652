// tourbus push: Web Push set-up.
#include <iostream>


#include "commands.hpp"
#include "output.hpp"
#include "core/jwt.hpp"

namespace tourbus::cli {

using boost::json::object;

void add_push(CLI::App& app, Globals& g, Action& action) {
  auto* push = app.add_subcommand("push", "Web Push set-up");
  push->require_subcommand(1);
  {
    auto* cmd = push->add_subcommand("vapid-keys", "Generate a VAPID key pair (RFC 8292) for webpush.vapid_* in tourbus.toml");
    cmd->callback([&g, &action] {
      action = [&g] {
        auto keys = jwt::generate_p256_pair();
        object o{{"public_key", keys.public_key}, {"private_key", keys.private_key}};
        return print_object(g, boost::json::value(o), [&](const object&) {
          std::cout << "# Put these in tourbus.toml; give the public key to browsers (applicationServerKey).\n"
                    << "[webpush]\nvapid_public_key = \"" << keys.public_key << "\"\nvapid_private_key = \"" << keys.private_key
                    << "\"\n";
        });
      };
    });
  }
}

}  // namespace tourbus::cli
