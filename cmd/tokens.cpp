// tourbus token issue|list|revoke
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

using boost::json::object;

void add_tokens(CLI::App& app, Globals& g, Action& action) {
  auto* token = app.add_subcommand("token", "Manage access tokens for the HTTP API");
  token->require_subcommand(1);
  {
    auto* cmd = token->add_subcommand("issue", summary("token.issue") + "; prints only the secret unless --json");
    auto handle = std::make_shared<std::string>();
    auto label = std::make_shared<std::string>();
    auto ttl = std::make_shared<std::optional<std::int64_t>>();
    cmd->add_option("HANDLE", *handle, "The user the token acts for")->required();
    cmd->add_option("-l,--label", *label, "A note to recognise the token by");
    cmd->add_option("--ttl-days", *ttl, "Lifetime in days; 0 never expires (default: tokens.default_ttl_days)")
        ->check(CLI::Range(0, 3650));
    cmd->callback([&g, &action, handle, label, ttl] {
      action = [&g, handle, label, ttl] {
        object body{{"user", *handle}};
        if (!label->empty()) body["label"] = *label;
        if (*ttl) body["ttl_days"] = **ttl;
        return run_call(g, [&](Client& c) { return c.call("token.issue", body); },
                        [&](const boost::json::value& v) {
                          // The secret exists only in this answer: print it even with --quiet.
                          const auto& o = v.as_object();
                          if (g.json) return print_object(g, v, [](const object&) {});
                          std::cout << show(o.at("token")) << "\n";
                          if (!g.quiet)
                            std::cerr << "token " << show(o.at("id")) << " for " << show(o.at("user")) << ", expires "
                                      << show(o.at("expires_at")) << "; store it now, it cannot be shown again\n";
                          return exit_code::ok;
                        });
      };
    });
  }
  {
    auto* cmd = token->add_subcommand("list", summary("token.list"));
    auto handle = std::make_shared<std::string>();
    auto all = std::make_shared<bool>(false);
    cmd->add_option("-u,--user", *handle, "Only this user's tokens");
    cmd->add_flag("-a,--all", *all, "Include revoked and expired tokens");
    cmd->callback([&g, &action, handle, all] {
      action = [&g, handle, all] {
        object q;
        if (!handle->empty()) q["user"] = *handle;
        if (*all) q["all"] = true;
        return run_call(g, [&](Client& c) { return c.call("token.list", q); },
                        [&](const boost::json::value& v) {
                          return print_list(g, v, "tokens", {"ID", "USER", "LABEL", "PREFIX", "STATE", "EXPIRES", "LAST USED"},
                                            [](const object& o) {
                                              return std::vector<std::string>{
                                                  show(o.at("id")), show(o.at("user")), show(o.at("label")),
                                                  show(o.at("prefix")), show(o.at("state")), show(o.at("expires_at")),
                                                  show(o.at("last_used_at"))};
                                            });
                        });
      };
    });
  }
  {
    auto* cmd = token->add_subcommand("revoke", summary("token.revoke"));
    auto id = std::make_shared<std::int64_t>(0);
    cmd->add_option("ID", *id, "The token's id (see tourbus token list)")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("token.revoke", {{"id", *id}}); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [](const object& o) {
                            std::cout << "token " << show(o.at("id")) << " of " << show(o.at("user")) << " revoked\n";
                          });
                        });
      };
    });
  }
}

}  // namespace tourbus::cli
