// tourbus translate, glossary add|list|remove, translation on|off|default and conversation
// translation: trying the translation engines, the terms never translated, and who gets
// machine translations.
#include <iostream>
#include <sstream>

#include "commands.hpp"
#include "core/json.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;
using boost::json::value;

// Which engine answered: "apertium", "apertium (via es)", "deepl (cached)".
std::string engine_note(const object& o) {
  const auto* provider = o.if_contains("provider");
  if (!provider || !provider->is_string()) return "same language: nothing translated";
  std::string notes;
  if (const auto* p = o.if_contains("pivot"); p && p->is_string()) notes = "via " + std::string(p->as_string());
  if (const auto* c = o.if_contains("cached"); c && c->is_bool() && c->as_bool()) notes += (notes.empty() ? "" : ", ") + std::string("cached");
  return std::string(provider->as_string()) + (notes.empty() ? "" : " (" + notes + ")");
}

std::string on_off(bool on) { return on ? "on" : "off"; }

void print_term(const object& o) {
  auto note = show(o.at("note"));
  std::cout << "glossary term " << show(o.at("id")) << ": " << show(o.at("term")) << (note.empty() || note == "-" ? "" : " (" + note + ")")
            << "\n";
}

// The answer of translation.set, for the user named by --as.
void print_switch(const std::string& who, const object& o) {
  bool everywhere = o.at("everywhere").as_bool();
  if (!o.contains("conversation")) {
    std::cout << who << ": translation " << on_off(everywhere)
              << (everywhere ? "" : " everywhere: originals only, whatever each conversation says") << "\n";
    return;
  }
  const auto& chosen = o.at("enabled");
  bool by_default = o.at("default").as_bool();
  std::cout << who << " in conversation " << show(o.at("conversation")) << ": translation "
            << (chosen.is_bool() ? on_off(chosen.as_bool()) : "as the conversation's default") << " (its default: " << on_off(by_default)
            << ")\n";
  bool effective = everywhere && (chosen.is_bool() ? chosen.as_bool() : by_default);
  std::cout << "effective: " << (effective ? "translations into " + who + "'s language" : std::string("originals only"));
  if (!everywhere) std::cout << " (" << who << "'s translation is off everywhere: tourbus translation on --as " << who << ")";
  std::cout << "\n";
}

}  // namespace

void add_translate(CLI::App& app, Globals& g, Action& action) {
  struct Args {
    std::string text, from, to;
  };
  auto a = std::make_shared<Args>();
  auto* cmd = app.add_subcommand("translate", summary("translate") +
                                                  ": prints the translation, and on standard error the engine that made it");
  cmd->add_option("TEXT", a->text, "The text; '-' reads it from standard input")->required();
  cmd->add_option("-f,--from", a->from, "The language TEXT is in, a BCP 47 tag (es, en-GB)")->required();
  cmd->add_option("-t,--to", a->to, "The language wanted")->required();
  cmd->callback([&g, &action, a] {
    action = [&g, a] {
      if (a->text == "-") {
        std::ostringstream in;
        in << std::cin.rdbuf();
        a->text = in.str();
      }
      object body{{"text", a->text}, {"from", a->from}, {"to", a->to}};
      return run_call(g, [&](Client& c) { return c.call("translate", body); }, [&](const value& v) {
        if (g.json) {
          std::cout << json::dump(v) << "\n";
          return exit_code::ok;
        }
        // The translation is the result: printed even with --quiet, which only drops the note.
        const auto& o = v.as_object();
        std::cout << show(o.at("text")) << "\n";
        if (!g.quiet) std::cerr << engine_note(o) << "\n";
        return exit_code::ok;
      });
    };
  });
}

void add_glossary(CLI::App& app, Globals& g, Action& action) {
  auto* glossary = app.add_subcommand("glossary", "Terms never translated: places, attractions, meeting points, names");
  glossary->require_subcommand(1);
  {
    auto term = std::make_shared<std::string>();
    auto note = std::make_shared<std::string>();
    auto* cmd = glossary->add_subcommand("add", summary("glossary.add"));
    cmd->add_option("TERM", *term, "The words, as written (matched ignoring case, as whole words)")->required();
    cmd->add_option("--note", *note, "What it is, for operators");
    cmd->callback([&g, &action, term, note] {
      action = [&g, term, note] {
        object body{{"term", *term}};
        if (!note->empty()) body["note"] = *note;
        return run_call(g, [&](Client& c) { return c.call("glossary.add", body); },
                        [&](const value& v) { return print_object(g, v, print_term); });
      };
    });
  }
  {
    auto* cmd = glossary->add_subcommand("list", summary("glossary.list"));
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [](Client& c) { return c.call("glossary.list"); }, [&](const value& v) {
          return print_list(g, v, "terms", {"ID", "TERM", "NOTE", "ADDED"}, [](const object& o) {
            auto note = show(o.at("note"));
            return std::vector<std::string>{show(o.at("id")), show(o.at("term")), note.empty() ? "-" : note, show(o.at("created_at"))};
          });
        });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = glossary->add_subcommand("remove", summary("glossary.remove"));
    cmd->add_option("ID", *id, "The term's id (glossary list)")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("glossary.remove", {{"id", *id}}); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) { std::cout << "removed glossary term " << show(o.at("removed")) << "\n"; });
        });
      };
    });
  }
}

void add_translation(CLI::App& app, Globals& g, Action& action) {
  auto state = std::make_shared<std::string>();
  auto conversation = std::make_shared<std::optional<std::int64_t>>();
  auto* cmd = app.add_subcommand("translation", summary("translation.set") + "; for the user named by --as HANDLE");
  cmd->add_option("STATE", *state,
                  "on: translate what others write into the user's language; off: originals only; "
                  "default (with --conversation): follow the conversation's default")
      ->required()
      ->check(CLI::IsMember({"on", "off", "default"}));
  cmd->add_option("--conversation", *conversation, "Only in this conversation (default: everywhere)");
  cmd->callback([&g, &action, state, conversation] {
    action = [&g, state, conversation] {
      if (g.as.empty())
        return fail(g, Error(Code::invalid_argument, "translation is a user's own switch: name the user with --as HANDLE"));
      if (*state == "default" && !*conversation)
        return fail(g, Error(Code::invalid_argument, "'default' is per conversation: give --conversation ID"));
      object body{{"enabled", *state == "default" ? value(nullptr) : value(*state == "on")}};
      if (*conversation) body["conversation"] = **conversation;
      return run_call(g, [&](Client& c) { return c.call("translation.set", body); }, [&](const value& v) {
        return print_object(g, v, [&](const object& o) { print_switch(g.as, o); });
      });
    };
  });
}

void add_conversation_translation(CLI::App& conversation, Globals& g, Action& action) {
  auto id = std::make_shared<std::int64_t>(0);
  auto state = std::make_shared<std::string>();
  auto* cmd = conversation.add_subcommand("translation", summary("conversation.translation"));
  cmd->add_option("ID", *id, "The conversation")->required();
  cmd->add_option("STATE", *state, "on or off: whether members who chose nothing get machine translations")
      ->required()
      ->check(CLI::IsMember({"on", "off"}));
  cmd->callback([&g, &action, id, state] {
    action = [&g, id, state] {
      return run_call(g, [&](Client& c) { return c.call("conversation.translation", {{"id", *id}, {"enabled", *state == "on"}}); },
                      [&](const value& v) {
                        return print_object(g, v, [](const object& o) {
                          std::cout << "conversation " << show(o.at("conversation")) << ": translation "
                                    << on_off(o.at("default").as_bool())
                                    << " by default (members who chose otherwise keep their choice)\n";
                        });
                      });
    };
  });
}

}  // namespace tourbus::cli
