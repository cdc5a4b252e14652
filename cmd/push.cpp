// tourbus push: Web Push set-up, and the browsers and phones a user gets push notifications on
// (an operator helping a user registers, lists and removes them with --user).
#include <iostream>
#include <memory>

#include "commands.hpp"
#include "output.hpp"
#include "core/jwt.hpp"

namespace tourbus::cli {

using boost::json::object;

void add_push(CLI::App& app, Globals& g, Action& action) {
  auto* push = app.add_subcommand("push", "Web Push set-up; a user's browser subscriptions and phones");
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
  // Every command below acts for --user (operators), else for the caller.
  auto user_option = [](CLI::App* cmd) {
    auto user = std::make_shared<std::string>();
    cmd->add_option("-u,--user", *user, "For this user (operators; default: the caller)");
    return user;
  };
  auto for_user = [](object params, const std::string& user) {
    if (!user.empty()) params["user"] = user;
    return params;
  };
  {
    auto* cmd = push->add_subcommand("list", summary("push.list"));
    auto user = user_option(cmd);
    cmd->callback([&g, &action, user, for_user] {
      action = [&g, user, for_user] {
        return run_call(g, [&](Client& c) { return c.call("push.list", for_user({}, *user)); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            std::vector<std::vector<std::string>> rows;
            for (const auto& s : o.at("subscriptions").as_array())
              rows.push_back({"browser", show(s.at("id")), "webpush", show(s.at("endpoint")), show(s.at("created_at"))});
            for (const auto& d : o.at("devices").as_array())
              rows.push_back({"phone", show(d.at("id")), show(d.at("platform")), show(d.at("token")), show(d.at("created_at"))});
            print_table({"KIND", "ID", "CHANNEL", "ADDRESS", "CREATED"}, rows);
          });
        });
      };
    });
  }
  {
    auto* cmd = push->add_subcommand("subscribe", summary("push.subscribe"));
    auto endpoint = std::make_shared<std::string>(), p256dh = std::make_shared<std::string>(), auth = std::make_shared<std::string>();
    cmd->add_option("--endpoint", *endpoint, "PushSubscription.endpoint: the push service's https:// URL")->required();
    cmd->add_option("--p256dh", *p256dh, "PushSubscription key p256dh (base64url)")->required();
    cmd->add_option("--auth", *auth, "PushSubscription key auth (base64url)")->required();
    auto user = user_option(cmd);
    cmd->callback([&g, &action, endpoint, p256dh, auth, user, for_user] {
      action = [&g, endpoint, p256dh, auth, user, for_user] {
        auto body = for_user(object{{"endpoint", *endpoint}, {"p256dh", *p256dh}, {"auth", *auth}}, *user);
        return run_call(g, [&](Client& c) { return c.call("push.subscribe", body); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) { print_fields(o, {"id", "endpoint", "created_at"}); });
        });
      };
    });
  }
  // push unsubscribe ID, push device register|unregister: the same shape.
  auto remove = [&g, &action, user_option, for_user](CLI::App* parent, const char* name, const char* op, const char* what) {
    auto* cmd = parent->add_subcommand(name, summary(op));
    auto id = std::make_shared<std::int64_t>(0);
    cmd->add_option("id", *id, what)->required();
    auto user = user_option(cmd);
    cmd->callback([&g, &action, id, user, op, for_user] {
      action = [&g, id, user, op, for_user] {
        return run_call(g, [&](Client& c) { return c.call(op, for_user(object{{"id", *id}}, *user)); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [&](const object&) { std::cout << "removed " << *id << "\n"; });
                        });
      };
    });
  };
  remove(push, "unsubscribe", "push.unsubscribe", "The subscription's id (push list)");
  auto* device = push->add_subcommand("device", "A phone's FCM or APNs push token");
  device->require_subcommand(1);
  {
    auto* cmd = device->add_subcommand("register", summary("device.register"));
    auto platform = std::make_shared<std::string>(), token = std::make_shared<std::string>();
    cmd->add_option("--platform", *platform, "fcm (Android) or apns (iOS)")->required();
    cmd->add_option("--token", *token, "The device's push token, as the platform gave it")->required();
    auto user = user_option(cmd);
    cmd->callback([&g, &action, platform, token, user, for_user] {
      action = [&g, platform, token, user, for_user] {
        auto body = for_user(object{{"platform", *platform}, {"token", *token}}, *user);
        return run_call(g, [&](Client& c) { return c.call("device.register", body); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) { print_fields(o, {"id", "platform", "created_at"}); });
        });
      };
    });
  }
  remove(device, "unregister", "device.unregister", "The device's id (push list)");
}

}  // namespace tourbus::cli
