// tourbus feed and pref show|set: a user's in-app feed and notification preferences.
#include <iostream>


#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {

using boost::json::object;

void add_feed(CLI::App& app, Globals& g, Action& action) {
  {
    auto* cmd = app.add_subcommand("feed", summary("feed.list"));
    auto user = std::make_shared<std::string>();
    auto unread = std::make_shared<bool>(false);
    auto mark = std::make_shared<bool>(false);
    cmd->add_option("-u,--user", *user, "This user's feed (default: --as's)");
    cmd->add_flag("--unread", *unread, "Only unread items");
    cmd->add_flag("--mark-read", *mark, "Mark every item read");
    cmd->callback([&g, &action, user, unread, mark] {
      action = [&g, user, unread, mark] {
        if (*mark) {
          object body;
          if (!user->empty()) body["user"] = *user;
          return run_call(g, [&](Client& c) { return c.call("feed.read", body); },
                          [&](const boost::json::value& v) {
                            return print_object(g, v, [](const object& o) { std::cout << "marked " << show(o.at("marked")) << " read\n"; });
                          });
        }
        object q;
        if (!user->empty()) q["user"] = *user;
        if (*unread) q["unread"] = true;
        return run_call(g, [&](Client& c) { return c.call("feed.list", q); }, [&](const boost::json::value& v) {
          return print_list(g, v, "items", {"ID", "AT", "CATEGORY", "READ", "TITLE"}, [](const object& o) {
            return std::vector<std::string>{show(o.at("id")), show(o.at("created_at")), show(o.at("category")),
                                            o.at("read_at").is_null() ? "no" : "yes", show(o.at("title"))};
          });
        });
      };
    });
  }
}

void add_preferences(CLI::App& app, Globals& g, Action& action) {
  auto* pref = app.add_subcommand("pref", "Notification preferences of a user");
  pref->require_subcommand(1);
  {
    auto* cmd = pref->add_subcommand("show", summary("preference.list"));
    auto user = std::make_shared<std::string>();
    cmd->add_option("-u,--user", *user, "The user (default: --as's)");
    cmd->callback([&g, &action, user] {
      action = [&g, user] {
        object q;
        if (!user->empty()) q["user"] = *user;
        return run_call(g, [&](Client& c) { return c.call("preference.list", q); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            print_fields(o, {"user", "marketing_consent", "quiet_hours", "time_zone"});
            std::vector<std::vector<std::string>> rows;
            for (const auto& p : o.at("preferences").as_array()) {
              const auto& po = p.as_object();
              rows.push_back({show(po.at("category")), show(po.at("channel")), po.at("enabled").as_bool() ? "on" : "off"});
            }
            if (!rows.empty()) print_table({"CATEGORY", "CHANNEL", "SETTING"}, rows);
            else std::cout << "(every category on every channel: nothing turned off)\n";
          });
        });
      };
    });
  }
  {
    auto* cmd = pref->add_subcommand("set", summary("preference.set"));
    auto user = std::make_shared<std::string>();
    auto category = std::make_shared<std::string>();
    auto channel = std::make_shared<std::string>();
    auto state = std::make_shared<std::string>();
    cmd->add_option("-u,--user", *user, "The user (default: --as's)");
    cmd->add_option("CATEGORY", *category, "transactional, reminder, review or marketing")->required();
    cmd->add_option("CHANNEL", *channel, "inapp, webpush, fcm, apns, email, sms or webhook")->required();
    cmd->add_option("STATE", *state, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
    cmd->callback([&g, &action, user, category, channel, state] {
      action = [&g, user, category, channel, state] {
        object body{{"category", *category}, {"channel", *channel}, {"enabled", *state == "on"}};
        if (!user->empty()) body["user"] = *user;
        return run_call(g, [&](Client& c) { return c.call("preference.set", body); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [](const object& o) {
                            std::cout << show(o.at("category")) << " on " << show(o.at("channel")) << ": "
                                      << (o.at("enabled").as_bool() ? "on" : "off") << "\n";
                          });
                        });
      };
    });
  }
}

}  // namespace tourbus::cli
