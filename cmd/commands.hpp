// Command families of the tourbus CLI, one file each. Every command sets `action`, run after
// parsing; its return value is the exit status.
#pragma once

#include <functional>
#include <string>

#include <CLI/CLI.hpp>

#include "api/operation.hpp"
#include "client.hpp"

namespace tourbus::cli {

using Action = std::function<int()>;

// The one-line summary of an API operation, for --help: the table is the single source.
inline std::string summary(std::string_view operation) {
  const auto* op = api::find_operation(operation);
  return op ? std::string(op->summary) : std::string();
}

void add_status(CLI::App& app, Globals& g, Action& action);
void add_users(CLI::App& app, Globals& g, Action& action);
void add_tokens(CLI::App& app, Globals& g, Action& action);
void add_tours(CLI::App& app, Globals& g, Action& action);
void add_admin(CLI::App& app, Globals& g, Action& action);
void add_conversations(CLI::App& app, Globals& g, Action& action);
void add_send(CLI::App& app, Globals& g, Action& action);
void add_chat(CLI::App& app, Globals& g, Action& action);
void add_notify(CLI::App& app, Globals& g, Action& action);
void add_queue(CLI::App& app, Globals& g, Action& action);
void add_templates(CLI::App& app, Globals& g, Action& action);
void add_feed(CLI::App& app, Globals& g, Action& action);
void add_preferences(CLI::App& app, Globals& g, Action& action);
void add_push(CLI::App& app, Globals& g, Action& action);
void add_reminders(CLI::App& app, Globals& g, Action& action);
void add_rules(CLI::App& app, Globals& g, Action& action);
void add_events(CLI::App& app, Globals& g, Action& action);
void add_reviews(CLI::App& app, Globals& g, Action& action);
void add_campaigns(CLI::App& app, Globals& g, Action& action);
void add_location(CLI::App& app, Globals& g, Action& action);
void add_alerts(CLI::App& app, Globals& g, Action& action);
void add_sos(CLI::App& app, Globals& g, Action& action);
void add_duty(CLI::App& app, Globals& g, Action& action);
void add_calls(CLI::App& app, Globals& g, Action& action);
// `preview` and `recording`: live tour previews through Janus and their recordings.
void add_previews(CLI::App& app, Globals& g, Action& action);
void add_translate(CLI::App& app, Globals& g, Action& action);
void add_glossary(CLI::App& app, Globals& g, Action& action);
void add_translation(CLI::App& app, Globals& g, Action& action);
// `conversation translation`, added to the `conversation` family by add_conversations.
void add_conversation_translation(CLI::App& conversation, Globals& g, Action& action);

// A JSON array of strings.
boost::json::array strings(const std::vector<std::string>& v);
// --var NAME=VALUE pairs into an object; false (and a message on stderr) on a malformed one.
bool parse_vars(const std::vector<std::string>& pairs, boost::json::object& out);

}  // namespace tourbus::cli
