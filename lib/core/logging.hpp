// Logging: one named spdlog logger per part, all writing to stderr. Important events start with a
// fixed event name ("store.migrated", "daemon.ready") followed by key=value pairs, so operators
// and tests can grep for them. Never log tokens, passwords, message bodies or full phone numbers.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include <spdlog/spdlog.h>

namespace tourbus::logging {

// Sets up the shared stderr sink. Under systemd (JOURNAL_STREAM set) lines carry no timestamp,
// since journald adds its own.
void init(std::string_view level);
// Changes the level of every logger (log.level is reloadable). Returns false for an unknown level.
bool set_level(std::string_view level);
// The logger of a part ("store", "api", "net", "daemon", ...), created on first use. The reference
// stays valid for the calling thread's lifetime.
const std::shared_ptr<spdlog::logger>& get(std::string_view part);

// Text from outside (a request target, a client's close reason) made safe inside a log line's
// double quotes: at most `max` bytes of it, with `"` and `\` escaped by a backslash and control
// characters written as \xNN, so it cannot end its field or start a new line.
std::string quoted_field(std::string_view text, std::size_t max = 200);

}  // namespace tourbus::logging
