// tourbus template list|show|preview.
#include <iostream>


#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

using boost::json::object;

void add_templates(CLI::App& app, Globals& g, Action& action) {
  auto* tmpl = app.add_subcommand("template", "Look at message templates and render them");
  tmpl->require_subcommand(1);
  {
    auto* cmd = tmpl->add_subcommand("list", summary("template.list"));
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [&](Client& c) { return c.call("template.list"); }, [&](const boost::json::value& v) {
          return print_list(g, v, "templates", {"NAME", "LANGUAGE", "CATEGORY", "VARIABLES", "SUBJECT"}, [](const object& o) {
            std::string vars;
            for (const auto& x : o.at("variables").as_array()) vars += (vars.empty() ? "" : ",") + show(x);
            return std::vector<std::string>{show(o.at("name")), show(o.at("language")), show(o.at("category")), vars,
                                            show(o.at("subject"))};
          });
        });
      };
    });
  }
  for (auto verb : {"show", "preview"}) {
    auto name = std::make_shared<std::string>();
    auto language = std::make_shared<std::string>();
    auto vars = std::make_shared<std::vector<std::string>>();
    auto* cmd = tmpl->add_subcommand(verb, summary(std::string("template.") + verb));
    cmd->add_option("NAME", *name, "The template")->required();
    cmd->add_option("-l,--language", *language, "Language (default notify.default_language; falls back like a send)");
    if (std::string_view(verb) == "preview") cmd->add_option("--var", *vars, "Sample value NAME=VALUE (repeatable)");
    cmd->callback([&g, &action, name, language, vars, verb = std::string(verb)] {
      action = [&g, name, language, vars, verb] {
        auto print = [&](const boost::json::value& v) {
          return print_object(g, v, [&](const object& o) {
            print_fields(o, {"name", "language", "category", "variables", "sampled"});
            std::cout << "\nsubject: " << show(o.at("subject")) << "\n\n" << show(o.at("text")) << "\n";
            if (!o.at("html").as_string().empty()) std::cout << "\n--- html ---\n" << show(o.at("html")) << "\n";
          });
        };
        if (verb == "show") {
          object q{{"name", *name}};
          if (!language->empty()) q["language"] = *language;
          return run_call(g, [&](Client& c) { return c.call("template.show", q); }, print);
        }
        object body{{"name", *name}};
        if (!language->empty()) body["language"] = *language;
        object v;
        if (!parse_vars(*vars, v)) return exit_code::usage;
        if (!v.empty()) body["vars"] = std::move(v);
        return run_call(g, [&](Client& c) { return c.call("template.preview", body); }, print);
      };
    });
  }
}

}  // namespace tourbus::cli
