// tourbusd: the tourbus daemon. Flags override the config file; see tourbusd(8).
#include <cstdlib>
#include <iostream>

#include <CLI/CLI.hpp>
#include <curl/curl.h>

#include "core/config.hpp"
#include "core/logging.hpp"
#include "daemon.hpp"
#include "net/tls.hpp"

int main(int argc, char** argv) {
  using namespace tourbus;
  CLI::App app{"tourbusd: the tourbus communication daemon (chat, notifications, alerts).\n"
               "Configuration comes from the file (--config, $TOURBUS_CONFIG or /etc/tourbus/tourbus.toml when it\n"
               "exists), and the flags below win over it. See tourbusd(8) and tourbus.toml(5).",
               "tourbusd"};
  std::string config_file, state_dir, listen, socket;
  bool check_config = false, version = false;
  app.add_option("-c,--config", config_file, "Configuration file (TOML)");
  app.add_option("--state-dir", state_dir, "State directory (database, lock file, default socket)");
  app.add_option("--listen", listen, "HTTP listener HOST:PORT (port 0: any free port)");
  app.add_option("--socket", socket, "Control socket path");
  app.add_flag("--check-config", check_config, "Validate the configuration, print it, and exit");
  app.add_flag("-V,--version", version, "Print the version and exit");
  try {
    app.parse(argc, argv);
  } catch (const CLI::ParseError& e) {
    return app.exit(e) == 0 ? 0 : 2;
  }

  if (version) {
    std::cout << "tourbusd " << TOURBUS_VERSION << "\n";
    return 0;
  }

  daemon::Options options;
  if (!config_file.empty()) {
    options.config_file = config_file;
  } else if (const char* env = std::getenv("TOURBUS_CONFIG"); env && *env) {
    options.config_file = env;
  } else if (std::filesystem::exists("/etc/tourbus/tourbus.toml")) {
    options.config_file = "/etc/tourbus/tourbus.toml";
  }
  if (options.config_file && !std::filesystem::exists(*options.config_file)) {
    std::cerr << "tourbusd: config file " << options.config_file->string() << " does not exist\n";
    return 1;
  }
  options.overrides = [=](config::Config& c) {
    if (!state_dir.empty()) c.state_dir = state_dir;
    if (!listen.empty()) c.listen = listen;
    if (!socket.empty()) c.socket = socket;
  };

  auto cfg = daemon::build_config(options);
  if (!cfg) {
    std::cerr << "tourbusd: " << cfg.error().message << "\n";
    return 1;
  }
  if (check_config) {
    if (!cfg->tls_certificate.empty()) {
      if (auto tls = net::load_tls(cfg->tls_certificate, cfg->tls_key); !tls) {
        std::cerr << "tourbusd: " << tls.error().message << "\n";
        return 1;
      }
    }
    std::cout << "# " << (options.config_file ? options.config_file->string() : "no config file; defaults") << ": OK\n";
    for (const auto& key : config::keys()) {
      std::visit(
          [&](auto m) {
            if constexpr (std::is_same_v<decltype(m), std::string config::Config::*>) {
              if (key.secret)  // secrets are never printed
                std::cout << key.name << " = " << (((*cfg).*m).empty() ? "\"\"" : "\"(set)\"") << "\n";
              else
                std::cout << key.name << " = \"" << (*cfg).*m << "\"\n";
            }
            else
              std::cout << key.name << " = " << (*cfg).*m << "\n";
          },
          key.member);
    }
    return 0;
  }
  logging::init(cfg->log_level);
  curl_global_init(CURL_GLOBAL_DEFAULT);
  return daemon::run(options, *cfg);
}
