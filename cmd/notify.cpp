// tourbus notify send|list|show and queue status|dead list|retry|purge.
#include <iostream>


#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::array;
using boost::json::object;

std::vector<std::string> job_row(const object& o) {
  return {show(o.at("id")),      show(o.at("user")),    show(o.at("channel")), show(o.at("category")),
          show(o.at("state")),   show(o.at("attempts")), show(o.at("next_at")), show(o.at("last_error"))};
}
const std::vector<std::string> kJobHeaders = {"JOB", "USER", "CHANNEL", "CATEGORY", "STATE", "TRIES", "NEXT", "LAST ERROR"};

void add_job_filter(CLI::App* cmd, std::shared_ptr<object> f, bool with_state) {
  if (with_state)
    cmd->add_option_function<std::string>("--state", [f](const std::string& v) { (*f)["state"] = v; }, "queued, delivered, dead or cancelled")
        ->check(CLI::IsMember({"queued", "delivered", "dead", "cancelled"}));
  cmd->add_option_function<std::string>("--channel", [f](const std::string& v) { (*f)["channel"] = v; }, "Only this channel");
  cmd->add_option_function<std::string>("-u,--user", [f](const std::string& v) { (*f)["user"] = v; }, "Only jobs for this user");
  cmd->add_option_function<std::int64_t>("--notification", [f](std::int64_t v) { (*f)["notification"] = v; },
                                         "Only the jobs of this notification");
  cmd->add_option_function<std::int64_t>("--limit", [f](std::int64_t v) { (*f)["limit"] = v; },
                                         "At most this many, newest first (default 100)");
}

}  // namespace

array strings(const std::vector<std::string>& v) {
  array a;
  for (const auto& s : v) a.emplace_back(s);
  return a;
}

bool parse_vars(const std::vector<std::string>& pairs, object& out) {
  for (const auto& p : pairs) {
    auto eq = p.find('=');
    if (eq == std::string::npos || eq == 0) {
      std::cerr << "tourbus: --var " << p << ": expected NAME=VALUE\n";
      return false;
    }
    out[p.substr(0, eq)] = p.substr(eq + 1);
  }
  return true;
}

void add_notify(CLI::App& app, Globals& g, Action& action) {
  auto* notify = app.add_subcommand("notify", "Send notifications and look at their delivery");
  notify->require_subcommand(1);
  {
    struct Send {
      std::vector<std::string> users, channels, vars;
      std::optional<std::int64_t> tour;
      std::string role, category, template_name, subject, text, key;
      bool dry_run = false, escalate = false;
    };
    auto s = std::make_shared<Send>();
    auto* cmd = notify->add_subcommand("send", summary("notify.send"));
    auto* to = cmd->add_option("--to", s->users, "Recipient handles (repeatable, or comma-separated)")->delimiter(',');
    auto* tour = cmd->add_option("--tour", s->tour, "Recipients: the participants of this tour");
    auto* role = cmd->add_option("--role", s->role, "Recipients: every enabled user with this role")
                     ->check(CLI::IsMember({"tourist", "guide", "operator"}));
    to->excludes(tour)->excludes(role);
    tour->excludes(role);
    cmd->add_option("-c,--category", s->category, "transactional, reminder, review, marketing or emergency (default: the template's)")
        ->check(CLI::IsMember({"transactional", "reminder", "review", "marketing", "emergency"}));
    auto* tmpl = cmd->add_option("-t,--template", s->template_name, "Template name (see tourbus template list)");
    auto* subject = cmd->add_option("-s,--subject", s->subject, "Literal subject");
    auto* text = cmd->add_option("--text", s->text, "Literal text ('-' reads standard input)");
    tmpl->excludes(text)->excludes(subject);
    cmd->add_option("--var", s->vars, "Template variable NAME=VALUE (repeatable)");
    cmd->add_option("--channel", s->channels, "Channel (repeatable): auto (default), inapp, webpush, fcm, apns, email, sms, webhook")
        ->delimiter(',');
    cmd->add_option("-k,--idempotency-key", s->key, "The same key twice enqueues once");
    cmd->add_flag("-n,--dry-run", s->dry_run, "Show who would get what on which channel; store nothing");
    cmd->add_flag("--escalate", s->escalate,
                  "Track it: recipients confirm it (reply OK, a link, the app) or climb the escalation ladder; "
                  "follow with tourbus alert status ID");
    cmd->callback([&g, &action, s] {
      action = [&g, s] {
        object body;
        if (!s->users.empty()) body["users"] = strings(s->users);
        if (s->tour) body["tour"] = *s->tour;
        if (!s->role.empty()) body["role"] = s->role;
        if (!s->category.empty()) body["category"] = s->category;
        if (!s->template_name.empty()) body["template"] = s->template_name;
        if (!s->subject.empty()) body["subject"] = s->subject;
        if (s->text == "-") {
          std::string all, line;
          while (std::getline(std::cin, line)) all += (all.empty() ? "" : "\n") + line;
          s->text = all;
        }
        if (!s->text.empty()) body["text"] = s->text;
        object vars;
        if (!parse_vars(s->vars, vars)) return exit_code::usage;
        if (!vars.empty()) body["vars"] = std::move(vars);
        if (!s->channels.empty()) body["channels"] = strings(s->channels);
        if (!s->key.empty()) body["idempotency_key"] = s->key;
        if (s->dry_run) body["dry_run"] = true;
        if (s->escalate) body["escalate"] = true;
        return run_call(g, [&](Client& c) { return c.call("notify.send", body); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [&](const object& o) {
                            if (o.contains("tracked")) {
                              std::cout << "tracked as alert " << show(o.at("alert")) << " to " << show(o.at("recipients"))
                                        << " people" << (o.at("duplicate").as_bool() ? " (sent before: same idempotency key)" : "")
                                        << "; follow it with: tourbus alert status " << show(o.at("alert")) << "\n";
                              return;
                            }
                            const auto& jobs = o.at("jobs").as_array();
                            if (o.at("dry_run").as_bool()) std::cout << "dry run: nothing was stored\n";
                            else if (o.at("duplicate").as_bool())
                              std::cout << "already sent as notification " << show(o.at("notification")) << " (same idempotency key)\n";
                            else
                              std::cout << "notification " << show(o.at("notification")) << ": " << jobs.size() << " job(s) queued\n";
                            std::vector<std::vector<std::string>> rows;
                            for (const auto& j : jobs) {
                              const auto& jo = j.as_object();
                              rows.push_back({jo.contains("id") ? show(jo.at("id")) : "-", show(jo.at("user")),
                                              show(jo.at("channel")), show(jo.at("address")), show(jo.at("next_at")),
                                              show(jo.at("deferred")), show(jo.at("subject"))});
                            }
                            if (!rows.empty()) print_table({"JOB", "USER", "CHANNEL", "ADDRESS", "NOT BEFORE", "DEFERRED", "SUBJECT"}, rows);
                            for (const auto& k : o.at("skipped").as_array()) {
                              const auto& ko = k.as_object();
                              std::cout << "skipped " << show(ko.at("user")) << (ko.at("channel").is_null() ? "" : " on " + show(ko.at("channel")))
                                        << ": " << show(ko.at("reason")) << "\n";
                            }
                          });
                        });
      };
    });
  }
  {
    auto f = std::make_shared<object>();
    auto* cmd = notify->add_subcommand("list", summary("notify.list"));
    add_job_filter(cmd, f, true);
    cmd->callback([&g, &action, f] {
      action = [&g, f] {
        return run_call(g, [&](Client& c) { return c.call("notify.list", *f); },
                        [&](const boost::json::value& v) { return print_list(g, v, "jobs", kJobHeaders, job_row); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>();
    auto* cmd = notify->add_subcommand("show", summary("notify.show"));
    cmd->add_option("JOB", *id, "The job")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("notify.show", {{"id", *id}}); },
                        [&](const boost::json::value& v) {
                          return print_object(g, v, [](const object& o) {
                            print_fields(o, {"id", "notification", "user", "channel", "address", "category", "lane", "state",
                                             "attempts", "next_at", "deferred", "created_at", "delivered_at", "claimed_by",
                                             "last_error", "subject", "text"});
                            std::vector<std::vector<std::string>> rows;
                            for (const auto& a : o.at("attempts_made").as_array()) {
                              const auto& ao = a.as_object();
                              rows.push_back({show(ao.at("at")), show(ao.at("outcome")), show(ao.at("status")),
                                              show(ao.at("duration_ms")), show(ao.at("response")).substr(0, 80)});
                            }
                            if (!rows.empty()) {
                              std::cout << "\n";
                              print_table({"ATTEMPT AT", "OUTCOME", "STATUS", "MS", "RESPONSE"}, rows);
                            }
                          });
                        });
      };
    });
  }
}

void add_queue(CLI::App& app, Globals& g, Action& action) {
  auto* queue = app.add_subcommand("queue", "Watch the notification queue, cancel queued jobs and handle dead letters");
  queue->require_subcommand(1);
  {
    auto* cmd = queue->add_subcommand("status", summary("queue.status"));
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [&](Client& c) { return c.call("queue.status"); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            std::vector<std::vector<std::string>> rows;
            for (const auto& c : o.at("channels").as_array()) {
              const auto& co = c.as_object();
              // The channel's own figures (sending, dead, delivered, rate) on its first lane row only.
              bool first = true;
              for (const auto& l : co.at("lanes").as_array()) {
                const auto& lo = l.as_object();
                auto channel_wide = [&](const char* key) { return first ? show(co.at(key)) : std::string(); };
                rows.push_back({first ? show(co.at("channel")) : "", first ? (co.at("configured").as_bool() ? "yes" : "no") : "",
                                show(lo.at("lane")), show(lo.at("queued")), show(lo.at("due")), show(lo.at("oldest_due_at")),
                                channel_wide("in_flight"), channel_wide("dead"), channel_wide("delivered"),
                                channel_wide("rate_per_second")});
                first = false;
              }
            }
            print_table({"CHANNEL", "ON", "LANE", "QUEUED", "DUE", "OLDEST DUE", "SENDING", "DEAD", "DELIVERED", "RATE/S"}, rows);
          });
        });
      };
    });
  }
  {
    auto f = std::make_shared<object>();
    auto* cmd = queue->add_subcommand("cancel", summary("queue.cancel"));
    cmd->add_option_function<std::int64_t>("--notification", [f](std::int64_t v) { (*f)["notification"] = v; },
                                           "The queued jobs of this notification");
    cmd->add_option_function<std::int64_t>("--job", [f](std::int64_t v) { (*f)["job"] = v; }, "This queued job");
    cmd->add_option_function<std::string>("-u,--user", [f](const std::string& v) { (*f)["user"] = v; }, "The queued jobs for this user");
    cmd->add_option_function<std::string>("--channel", [f](const std::string& v) { (*f)["channel"] = v; }, "Only jobs of this channel");
    cmd->add_option_function<std::string>("--category", [f](const std::string& v) { (*f)["category"] = v; },
                                          "Only jobs of this category")
        ->check(CLI::IsMember({"transactional", "reminder", "review", "marketing", "emergency"}));
    cmd->callback([&g, &action, f] {
      action = [&g, f] {
        if (f->empty()) {
          std::cerr << "tourbus: queue cancel: give --notification, --job, --user, --channel or --category\n";
          return exit_code::usage;
        }
        return run_call(g, [&](Client& c) { return c.call("queue.cancel", *f); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) { std::cout << "cancelled " << show(o.at("cancelled")) << " queued job(s)\n"; });
        });
      };
    });
  }
  {
    auto* dead = queue->add_subcommand("dead", "Dead letters: jobs that will not be tried again by themselves");
    dead->require_subcommand(1);
    {
      auto f = std::make_shared<object>();
      auto* cmd = dead->add_subcommand("list", "List dead jobs, newest first");
      add_job_filter(cmd, f, false);
      cmd->callback([&g, &action, f] {
        action = [&g, f] {
          auto q = *f;
          q["state"] = "dead";
          return run_call(g, [&](Client& c) { return c.call("notify.list", q); },
                          [&](const boost::json::value& v) { return print_list(g, v, "jobs", kJobHeaders, job_row); });
        };
      });
    }
    for (auto verb : {"retry", "purge"}) {
      auto channel = std::make_shared<std::string>();
      auto job = std::make_shared<std::int64_t>(0);
      auto all = std::make_shared<bool>(false);
      std::string op = std::string("queue.") + verb;
      auto* cmd = dead->add_subcommand(verb, summary(op));
      cmd->add_option("--channel", *channel, "Only dead jobs of this channel");
      cmd->add_option("--job", *job, "Only this dead job");
      cmd->add_flag("--all", *all, "Every dead job (needed when neither --channel nor --job is given)");
      cmd->callback([&g, &action, channel, job, all, verb = std::string(verb)] {
        action = [&g, channel, job, all, verb] {
          if (channel->empty() && *job == 0 && !*all) {
            std::cerr << "tourbus: queue dead " << verb << ": give --channel, --job or --all\n";
            return exit_code::usage;
          }
          object body;
          if (!channel->empty()) body["channel"] = *channel;
          if (*job) body["job"] = *job;
          return run_call(g, [&](Client& c) { return c.call("queue." + verb, body); },
                          [&](const boost::json::value& v) {
                            return print_object(g, v, [&](const object& o) {
                              std::cout << (verb == "retry" ? "retried " + show(o.at("retried")) : "purged " + show(o.at("purged")))
                                        << " dead job(s)\n";
                            });
                          });
        };
      });
    }
  }
}

}  // namespace tourbus::cli
