// The composition root: builds the parts in order (config, logging, lock, store, API context,
// listeners), runs the event loop, and turns signals into commands (SIGHUP reload, SIGTERM drain).
#pragma once

#include <filesystem>
#include <functional>
#include <optional>

#include "api/context.hpp"
#include "core/config.hpp"

namespace tourbus::daemon {

struct Options {
  std::optional<std::filesystem::path> config_file;
  // Command-line values win over the file, also after a reload.
  std::function<void(config::Config&)> overrides;
};

// Reads defaults, then the file, then the overrides.
Result<config::Config> build_config(const Options& options);

// Runs tourbusd until it is told to stop. Returns the process exit status.
int run(const Options& options, config::Config config);

}  // namespace tourbus::daemon
