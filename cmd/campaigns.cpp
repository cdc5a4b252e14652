// tourbus campaign create|preview|schedule|start|pause|resume|cancel|stats|list: marketing
// campaigns, with a progress bar (or JSON lines of progress) while one runs.
#include <unistd.h>

#include <chrono>
#include <cmath>
#include <iomanip>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "core/json.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;

std::int64_t num(const object& o, const char* key) {
  const auto* v = o.if_contains(key);
  return v && v->is_int64() ? v->as_int64() : 0;
}

void print_stats(const object& o) {
  print_fields(o, {"name", "state", "pause_reason", "started_at", "finished_at", "targeted", "pending", "recipients_queued",
                   "skipped", "queued", "sent", "delivered", "failed", "cancelled", "unsubscribed"});
  const auto& reasons = o.at("skipped_by_reason").as_object();
  if (!reasons.empty()) {
    std::cout << "skipped by reason:";
    for (const auto& [k, v] : reasons) std::cout << " " << std::string(k) << "=" << show(v);
    std::cout << "\n";
  }
  const auto& chans = o.at("jobs_by_channel").as_object();
  if (!chans.empty()) {
    std::cout << "messages by channel:";
    for (const auto& [k, v] : chans) std::cout << " " << std::string(k) << "=" << show(v);
    std::cout << "\n";
  }
  if (o.at("tracking").as_bool())
    print_fields(o, {"opened", "clicked"});
  else
    std::cout << "opened, clicked: not tracked (campaign.tracking = \"off\")\n";
}

std::string duration(double seconds) {
  auto s = static_cast<std::int64_t>(seconds);
  std::ostringstream out;
  if (s >= 3600) out << s / 3600 << "h" << std::setw(2) << std::setfill('0') << s % 3600 / 60 << "m";
  else if (s >= 60) out << s / 60 << "m" << std::setw(2) << std::setfill('0') << s % 60 << "s";
  else out << s << "s";
  return out.str();
}

// Follows a campaign until it is no longer running or scheduled: a bar on a terminal (processed of
// targeted, rate, time left), JSON lines with --json, a line every ten seconds otherwise.
int follow(const Globals& g, const std::string& name) {
  Client client(find_socket(g), g.as);
  bool tty = ::isatty(1) && !g.json;
  auto began = std::chrono::steady_clock::now();
  std::int64_t first_done = -1;
  auto last_line = began - std::chrono::seconds(60);
  for (;;) {
    auto r = client.call("campaign.stats", {{"name", name}});
    if (!r) return fail(g, r.error());
    const auto& o = r->as_object();
    auto state = std::string(o.at("state").as_string());
    auto targeted = num(o, "targeted"), pending = num(o, "pending");
    auto done = targeted - pending;
    auto now = std::chrono::steady_clock::now();
    double elapsed = std::chrono::duration<double>(now - began).count();
    if (first_done < 0) first_done = done;
    double rate = elapsed > 0.5 ? static_cast<double>(done - first_done) / elapsed : 0;
    double left = rate > 0 ? static_cast<double>(pending) / rate : -1;
    bool over = state != "running" && state != "scheduled";
    if (g.json) {
      object line{{"name", name},       {"state", state},        {"targeted", targeted}, {"processed", done},
                  {"queued", num(o, "recipients_queued")}, {"skipped", num(o, "skipped")},
                  {"sent", num(o, "sent")}, {"delivered", num(o, "delivered")},
                  {"rate_per_second", std::round(rate * 10) / 10}};
      line["eta_seconds"] = left >= 0 ? boost::json::value(static_cast<std::int64_t>(left)) : boost::json::value(nullptr);
      std::cout << json::dump(line) << std::endl;
    } else if (tty) {
      constexpr int kWidth = 30;
      int filled = targeted > 0 ? static_cast<int>(kWidth * done / targeted) : (over ? kWidth : 0);
      std::cout << "\r" << name << " [" << std::string(filled, '#') << std::string(kWidth - filled, '.') << "] " << done << "/"
                << targeted << "  " << std::fixed << std::setprecision(1) << rate << "/s  "
                << (left >= 0 ? duration(left) + " left" : std::string("--")) << "  " << state << "   " << std::flush;
    } else if (over || now - last_line >= std::chrono::seconds(10)) {
      std::cout << name << ": " << done << "/" << targeted << " processed, " << state << std::endl;
      last_line = now;
    }
    if (over) {
      if (tty) std::cout << "\n";
      if (!g.json && !g.quiet) print_stats(o);
      return exit_code::ok;
    }
    std::this_thread::sleep_for(std::chrono::milliseconds(tty || g.json ? 500 : 1000));
  }
}

const std::vector<std::string> kHeaders = {"NAME", "STATE", "TEMPLATE", "TARGETED", "PENDING", "QUEUED", "SKIPPED", "START", "SEGMENT"};
std::vector<std::string> row(const object& o) {
  return {show(o.at("name")),     show(o.at("state")),  show(o.at("template")), show(o.at("targeted")), show(o.at("pending")),
          show(o.at("queued")),   show(o.at("skipped")), show(o.at("start_at").is_null() ? o.at("started_at") : o.at("start_at")),
          show(o.at("segment"))};
}

void print_campaign(const object& o) {
  print_fields(o, {"name", "state", "template", "segment", "channels", "rate_per_second", "start_at", "pause_reason", "targeted",
                   "pending", "queued", "skipped", "created_by", "created_at", "started_at", "finished_at"});
}

}  // namespace

void add_campaigns(CLI::App& app, Globals& g, Action& action) {
  auto* campaign = app.add_subcommand("campaign", "Marketing campaigns to a segment: preview, schedule, follow, stop");
  campaign->require_subcommand(1);
  {
    struct Create {
      std::string name, template_name, segment;
      std::vector<std::string> channels, vars;
      std::int64_t rate = 0;
    };
    auto c = std::make_shared<Create>();
    auto* cmd = campaign->add_subcommand("create", summary("campaign.create"));
    cmd->add_option("NAME", c->name, "A name to manage it by (a-z 0-9 . _ -)")->required();
    cmd->add_option("-t,--template", c->template_name, "A marketing template, sent in each recipient's language")->required();
    cmd->add_option("--segment", c->segment, "Who: e.g. 'language = es and consent and tours >= 1' (see tourbus(1))")->required();
    cmd->add_option("--channel", c->channels, "Channel (repeatable): auto (default), inapp, webpush, fcm, apns, email, sms")->delimiter(',');
    cmd->add_option("--var", c->vars, "Template variable NAME=VALUE (repeatable)");
    cmd->add_option("--rate", c->rate, "Messages a second on each channel (default: campaign.rate_per_second)");
    cmd->callback([&g, &action, c] {
      action = [&g, c] {
        object body{{"name", c->name}, {"template", c->template_name}, {"segment", c->segment}};
        if (!c->channels.empty()) body["channels"] = strings(c->channels);
        object vars;
        if (!parse_vars(c->vars, vars)) return exit_code::usage;
        if (!vars.empty()) body["vars"] = std::move(vars);
        if (c->rate) body["rate_per_second"] = c->rate;
        return run_call(g, [&](Client& cl) { return cl.call("campaign.create", body); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_campaign); });
      };
    });
  }
  {
    auto* cmd = campaign->add_subcommand("list", summary("campaign.list"));
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [&](Client& c) { return c.call("campaign.list"); },
                        [&](const boost::json::value& v) { return print_list(g, v, "campaigns", kHeaders, row); });
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = campaign->add_subcommand("preview", summary("campaign.preview"));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->callback([&g, &action, name] {
      action = [&g, name] {
        return run_call(g, [&](Client& c) { return c.call("campaign.preview", {{"name", *name}}); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << show(o.at("name")) << ": " << show(o.at("matched")) << " people match " << show(o.at("segment")) << "\n";
            for (const char* key : {"by_language", "by_channel", "skipped"}) {
              const auto& m = o.at(key).as_object();
              std::cout << (std::string_view(key) == "by_language" ? "languages:" : std::string_view(key) == "by_channel" ? "messages by channel:" : "left out:");
              if (m.empty()) std::cout << " none";
              for (const auto& [k, n] : m) std::cout << " " << std::string(k) << "=" << show(n);
              std::cout << "\n";
            }
            for (const auto& [lang, s] : o.at("samples").as_object()) {
              const auto& so = s.as_object();
              std::cout << "\n--- " << std::string(lang) << " (as sent to " << show(so.at("user")) << ")\nSubject: " << show(so.at("subject"))
                        << "\n\n" << show(so.at("text")) << "\n";
            }
          });
        });
      };
    });
  }
  {
    auto name = std::make_shared<std::string>(), at = std::make_shared<std::string>(), tz = std::make_shared<std::string>();
    auto* cmd = campaign->add_subcommand("schedule", summary("campaign.schedule"));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->add_option("--at", *at, "When it starts: RFC 3339, or local YYYY-MM-DDTHH:MM in --tz")->required();
    cmd->add_option("--tz", *tz, "IANA zone a local --at is read in (default UTC)");
    cmd->callback([&g, &action, name, at, tz] {
      action = [&g, name, at, tz] {
        object body{{"name", *name}, {"at", *at}};
        if (!tz->empty()) body["time_zone"] = *tz;
        return run_call(g, [&](Client& c) { return c.call("campaign.schedule", body); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_campaign); });
      };
    });
  }
  for (const char* verb : {"start", "resume"}) {
    auto name = std::make_shared<std::string>();
    auto wait = std::make_shared<bool>(false);
    std::string op = std::string("campaign.") + verb;
    auto* cmd = campaign->add_subcommand(verb, summary(op));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->add_flag("-w,--wait", *wait, "Follow it until it is done: a progress bar, or JSON lines with --json");
    cmd->callback([&g, &action, name, wait, op] {
      action = [&g, name, wait, op] {
        int rc = run_call(g, [&](Client& c) { return c.call(op, {{"name", *name}}); }, [&](const boost::json::value& v) {
          if (*wait) return 0;
          return print_object(g, v, print_campaign);
        });
        return rc != 0 || !*wait ? rc : follow(g, *name);
      };
    });
  }
  {
    auto name = std::make_shared<std::string>(), reason = std::make_shared<std::string>();
    auto* cmd = campaign->add_subcommand("pause", summary("campaign.pause"));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->add_option("-r,--reason", *reason, "Why, shown in its listing");
    cmd->callback([&g, &action, name, reason] {
      action = [&g, name, reason] {
        object body{{"name", *name}};
        if (!reason->empty()) body["reason"] = *reason;
        return run_call(g, [&](Client& c) { return c.call("campaign.pause", body); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_campaign); });
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto* cmd = campaign->add_subcommand("cancel", summary("campaign.cancel"));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->callback([&g, &action, name] {
      action = [&g, name] {
        return run_call(g, [&](Client& c) { return c.call("campaign.cancel", {{"name", *name}}); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_campaign); });
      };
    });
  }
  {
    auto name = std::make_shared<std::string>();
    auto watch = std::make_shared<bool>(false);
    auto* cmd = campaign->add_subcommand("stats", summary("campaign.stats"));
    cmd->add_option("NAME", *name, "The campaign")->required();
    cmd->add_flag("-w,--watch", *watch, "Follow it while it runs: a progress bar, or JSON lines with --json");
    cmd->callback([&g, &action, name, watch] {
      action = [&g, name, watch] {
        if (*watch) return follow(g, *name);
        return run_call(g, [&](Client& c) { return c.call("campaign.stats", {{"name", *name}}); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_stats); });
      };
    });
  }
}

}  // namespace tourbus::cli
