// tourbus user add|list|show|set|disable|enable
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;

const std::vector<std::string> kUserFields{"handle", "display_name", "role", "email", "phone", "language", "time_zone",
                                           "quiet_hours", "marketing_consent", "marketing_consent_at", "disabled",
                                           "created_at", "updated_at"};

int print_user(const Globals& g, const boost::json::value& v) {
  return print_object(g, v, [](const object& o) {
    print_fields(o, kUserFields);
    if (o.contains("tags")) print_fields(o, {"tags"});  // user show only
  });
}

// Options shared by `user add` and `user set`. With set, an empty value clears an optional field.
struct UserOptions {
  std::optional<std::string> name, role, email, phone, language, tz, quiet_hours, consent;

  void add_to(CLI::App* cmd) {
    cmd->add_option("-n,--name", name, "Display name");
    cmd->add_option("-r,--role", role, "tourist, guide or operator")->check(CLI::IsMember({"tourist", "guide", "operator"}));
    cmd->add_option("--email", email, "Email address");
    cmd->add_option("--phone", phone, "Phone number in E.164 form, like +393331234567");
    cmd->add_option("--language", language, "Preferred language (BCP 47: en, it, pt-BR)");
    cmd->add_option("--tz", tz, "IANA time zone, like Europe/Rome");
    cmd->add_option("--quiet-hours", quiet_hours, "HH:MM-HH:MM in the user's zone, like 22:00-07:00");
    cmd->add_option("--marketing-consent", consent, "yes or no (the time of consent is recorded)")
        ->check(CLI::IsMember({"yes", "no"}));
  }

  object body(bool clearing) const {
    object b;
    auto put = [&](const char* key, const std::optional<std::string>& v) {
      if (!v) return;
      if (clearing && v->empty()) b[key] = nullptr;
      else b[key] = *v;
    };
    put("display_name", name);
    put("role", role);
    put("email", email);
    put("phone", phone);
    put("language", language);
    put("time_zone", tz);
    put("quiet_hours", quiet_hours);
    if (consent) b["marketing_consent"] = *consent == "yes";
    return b;
  }
};

}  // namespace

void add_users(CLI::App& app, Globals& g, Action& action) {
  auto* user = app.add_subcommand("user", "Manage users (tourists, guides, operators)");
  user->require_subcommand(1);

  {
    auto* cmd = user->add_subcommand("add", summary("user.create"));
    auto handle = std::make_shared<std::string>();
    auto opts = std::make_shared<UserOptions>();
    cmd->add_option("HANDLE", *handle, "Login name: 2-32 of a-z 0-9 . _ -")->required();
    opts->add_to(cmd);
    cmd->callback([&g, &action, handle, opts] {
      action = [&g, handle, opts] {
        auto body = opts->body(false);
        body["handle"] = *handle;
        if (!body.contains("display_name")) body["display_name"] = *handle;
        if (!body.contains("role")) body["role"] = "tourist";
        return run_call(g, [&](Client& c) { return c.call("user.create", body); },
                        [&](const boost::json::value& v) { return print_user(g, v); });
      };
    });
  }
  {
    auto* cmd = user->add_subcommand("list", summary("user.list"));
    auto role = std::make_shared<std::string>();
    auto disabled = std::make_shared<bool>(false);
    auto enabled = std::make_shared<bool>(false);
    cmd->add_option("-r,--role", *role, "Only this role")->check(CLI::IsMember({"tourist", "guide", "operator"}));
    auto* d = cmd->add_flag("--disabled", *disabled, "Only disabled users");
    cmd->add_flag("--enabled", *enabled, "Only enabled users")->excludes(d);
    cmd->callback([&g, &action, role, disabled, enabled] {
      action = [&g, role, disabled, enabled] {
        // Pages through every user, 1000 at a time, and prints them as one list.
        auto fetch_all = [&](Client& c) -> Result<boost::json::value> {
          boost::json::array all;
          std::int64_t after = 0;
          for (;;) {
            object q{{"after", after}, {"limit", 1000}};
            if (!role->empty()) q["role"] = *role;
            if (*disabled) q["disabled"] = true;
            if (*enabled) q["disabled"] = false;
            auto page = c.call("user.list", q);
            if (!page) return page;
            const auto& users = page->as_object().at("users").as_array();
            for (const auto& u : users) all.push_back(u);
            if (users.size() < 1000) break;
            after = users.back().as_object().at("id").as_int64();
          }
          return boost::json::value(object{{"users", std::move(all)}});
        };
        return run_call(g, fetch_all,
                        [&](const boost::json::value& v) {
                          return print_list(g, v, "users", {"HANDLE", "NAME", "ROLE", "LANG", "TIME ZONE", "EMAIL", "PHONE", "DISABLED"},
                                            [](const object& u) {
                                              return std::vector<std::string>{show(u.at("handle")), show(u.at("display_name")),
                                                                              show(u.at("role")), show(u.at("language")),
                                                                              show(u.at("time_zone")), show(u.at("email")),
                                                                              show(u.at("phone")), show(u.at("disabled"))};
                                            });
                        });
      };
    });
  }
  {
    auto* cmd = user->add_subcommand("show", summary("user.show"));
    auto handle = std::make_shared<std::string>();
    cmd->add_option("HANDLE", *handle, "The user")->required();
    cmd->callback([&g, &action, handle] {
      action = [&g, handle] {
        return run_call(g, [&](Client& c) { return c.call("user.show", {{"handle", *handle}}); },
                        [&](const boost::json::value& v) { return print_user(g, v); });
      };
    });
  }
  {
    auto* cmd = user->add_subcommand("set", summary("user.update") + " (an empty value clears email, phone or quiet hours)");
    auto handle = std::make_shared<std::string>();
    auto opts = std::make_shared<UserOptions>();
    cmd->add_option("HANDLE", *handle, "The user")->required();
    opts->add_to(cmd);
    cmd->callback([&g, &action, handle, opts] {
      action = [&g, handle, opts] {
        auto body = opts->body(true);
        if (body.empty()) return fail(g, Error(Code::invalid_argument, "nothing to change: give at least one option (see --help)"));
        body["handle"] = *handle;
        return run_call(g, [&](Client& c) { return c.call("user.update", body); },
                        [&](const boost::json::value& v) { return print_user(g, v); });
      };
    });
  }
  for (auto [name, op] : {std::pair{"disable", "user.disable"}, std::pair{"enable", "user.enable"}}) {
    auto* cmd = user->add_subcommand(name, summary(op));
    auto handle = std::make_shared<std::string>();
    cmd->add_option("HANDLE", *handle, "The user")->required();
    std::string operation = op;
    cmd->callback([&g, &action, handle, operation] {
      action = [&g, handle, operation] {
        return run_call(g, [&](Client& c) { return c.call(operation, {{"handle", *handle}}); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [&](const object& o) {
                            std::cout << show(o.at("handle")) << " is now " << (o.at("disabled").as_bool() ? "disabled" : "enabled")
                                      << "\n";
                          });
                        });
      };
    });
  }
  {
    auto* cmd = user->add_subcommand("tag", summary("user.tag"));
    auto handle = std::make_shared<std::string>();
    auto add = std::make_shared<std::vector<std::string>>(), remove = std::make_shared<std::vector<std::string>>();
    cmd->add_option("HANDLE", *handle, "The user")->required();
    cmd->add_option("TAG", *add, "Tags to add (a-z 0-9 _ -)");
    cmd->add_option("-r,--remove", *remove, "A tag to take away (repeatable)");
    cmd->callback([&g, &action, handle, add, remove] {
      action = [&g, handle, add, remove] {
        object body{{"handle", *handle}};
        if (!add->empty()) body["add"] = strings(*add);
        if (!remove->empty()) body["remove"] = strings(*remove);
        return run_call(g, [&](Client& c) { return c.call("user.tag", body); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << show(o.at("handle")) << ":";
            for (const auto& t : o.at("tags").as_array()) std::cout << " " << show(t);
            std::cout << (o.at("tags").as_array().empty() ? " no tags\n" : "\n");
          });
        });
      };
    });
  }
}

}  // namespace tourbus::cli
