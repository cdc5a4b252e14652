// tourbus reminder add|list|show|pause|resume|remove|next, rule add|list|remove, event post and
// review status: what the scheduler fires, and the platform events that feed it.
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::array;
using boost::json::object;

const std::vector<std::string> kScheduleHeaders = {"NAME", "TRIGGER", "AUDIENCE", "TEMPLATE", "CATCH-UP", "STATE", "NEXT", "LAST FIRED"};
std::vector<std::string> schedule_row(const object& o) {
  return {show(o.at("name")),     show(o.at("trigger")), show(o.at("audience")), show(o.at("template")),
          show(o.at("catch_up")), show(o.at("state")),   show(o.at("next_due")), show(o.at("last_fired_at"))};
}

void print_firings(const array& firings, bool with_state) {
  std::vector<std::vector<std::string>> rows;
  for (const auto& f : firings) {
    const auto& fo = f.as_object();
    auto get = [&](const char* k) { return fo.contains(k) ? show(fo.at(k)) : std::string("-"); };
    std::vector<std::string> row{get("due_local"), get("due_at"), get("user"), get("tour")};
    if (with_state) {
      row.push_back(get("state"));
      row.push_back(fo.contains("notification") ? "notification " + get("notification") : get("note"));
    }
    rows.push_back(std::move(row));
  }
  std::vector<std::string> headers{"LOCAL", "UTC", "USER", "TOUR"};
  if (with_state) {
    headers.push_back("STATE");
    headers.push_back("RESULT");
  }
  if (!rows.empty()) print_table(headers, rows);
}

void print_schedule(const object& o) {
  print_fields(o, {"name", "kind", "state", "trigger", "audience", "template", "category", "channels", "catch_up", "next_due",
                   "last_fired_at", "created_by", "created_at"});
  if (o.contains("event")) print_fields(o, {"event"});
  const auto& c = o.at("firings").as_object();
  std::cout << "firings: " << show(c.at("pending")) << " pending, " << show(c.at("fired")) << " fired, "
            << show(c.at("skipped")) << " skipped, " << show(c.at("cancelled")) << " cancelled\n";
  if (o.contains("pending") && !o.at("pending").as_array().empty()) {
    std::cout << "\npending:\n";
    print_firings(o.at("pending").as_array(), false);
  }
  if (o.contains("recent") && !o.at("recent").as_array().empty()) {
    std::cout << "\nrecent:\n";
    print_firings(o.at("recent").as_array(), true);
  }
}

// Commands that name one schedule and print it back: show, pause, resume, remove.
void add_named(CLI::App* parent, Globals& g, Action& action, const std::string& kind, const std::string& verb) {
  auto name = std::make_shared<std::string>();
  auto op = kind + "." + verb;
  auto* cmd = parent->add_subcommand(verb, summary(op));
  cmd->add_option("NAME", *name, "The " + kind)->required();
  cmd->callback([&g, &action, name, op, verb] {
    action = [&g, name, op, verb] {
      return run_call(g, [&](Client& c) { return c.call(op, {{"name", *name}}); }, [&](const boost::json::value& v) {
        return print_object(g, v, [&](const object& o) {
          if (verb == "show") print_schedule(o);
          else std::cout << show(o.at("name")) << ": " << show(o.at("state")) << "\n";
        });
      });
    };
  });
}

// Options every schedule has: template, category, channels, variables.
struct Common {
  std::string name, template_name, category;
  std::vector<std::string> channels, vars;
};
void add_common(CLI::App* cmd, Common& c) {
  cmd->add_option("NAME", c.name, "A name to manage it by (a-z 0-9 . _ -)")->required();
  cmd->add_option("-t,--template", c.template_name, "The template sent, in each recipient's language")->required();
  cmd->add_option("--category", c.category, "transactional, reminder, review, marketing or emergency (default: the template's)")
      ->check(CLI::IsMember({"transactional", "reminder", "review", "marketing", "emergency"}));
  cmd->add_option("--channel", c.channels, "Channel (repeatable): auto (default), inapp, webpush, fcm, apns, email, sms, webhook")
      ->delimiter(',');
  cmd->add_option("--var", c.vars, "Template variable NAME=VALUE (repeatable)");
}
bool common_body(const Common& c, object& body) {
  body["name"] = c.name;
  body["template"] = c.template_name;
  if (!c.category.empty()) body["category"] = c.category;
  if (!c.channels.empty()) body["channels"] = strings(c.channels);
  object vars;
  if (!parse_vars(c.vars, vars)) return false;
  if (!vars.empty()) body["vars"] = std::move(vars);
  return true;
}

}  // namespace

void add_reminders(CLI::App& app, Globals& g, Action& action) {
  auto* reminder = app.add_subcommand("reminder", "Schedule templates by cron, at a time, or relative to every tour");
  reminder->require_subcommand(1);
  {
    struct Add : Common {
      std::string user, role, segment, cron, at, offset, zone, catch_up;
      std::optional<std::int64_t> tour;
      bool all_tours = false;
    };
    auto a = std::make_shared<Add>();
    auto* cmd = reminder->add_subcommand("add", summary("reminder.add"));
    add_common(cmd, *a);
    auto* to = cmd->add_option("--to", a->user, "Audience: one user");
    auto* tour = cmd->add_option("--tour", a->tour, "Audience: this tour's participants");
    auto* all = cmd->add_flag("--all-tours", a->all_tours, "Audience: every tour's participants (with --offset)");
    auto* role = cmd->add_option("--role", a->role, "Audience: everyone with this role")->check(CLI::IsMember({"tourist", "guide", "operator"}));
    auto* segment = cmd->add_option("--segment", a->segment, "Audience: everyone a segment selects when it fires, e.g. 'role = guide and language = it'");
    to->excludes(tour)->excludes(all)->excludes(role)->excludes(segment);
    tour->excludes(all)->excludes(role)->excludes(segment);
    all->excludes(role)->excludes(segment);
    role->excludes(segment);
    auto* cron = cmd->add_option("--cron", a->cron, "Trigger: a cron expression, e.g. '0 9 * * mon-fri' or @daily");
    auto* at = cmd->add_option("--at", a->at, "Trigger: once, at this time (RFC 3339, or local YYYY-MM-DDTHH:MM in --tz)");
    auto* offset = cmd->add_option("--offset", a->offset, "Trigger: per participant, relative to each tour: start-24h, start-2h, end+2h");
    cron->excludes(at)->excludes(offset);
    at->excludes(offset);
    cmd->add_option("--tz", a->zone, "IANA zone the cron expression or a local --at is read in (default UTC)");
    cmd->add_option("--catch-up", a->catch_up, "After downtime: once (fire once, late; default) or skip")
        ->check(CLI::IsMember({"once", "skip"}));
    cmd->callback([&g, &action, a] {
      action = [&g, a] {
        object body;
        if (!common_body(*a, body)) return exit_code::usage;
        if (!a->user.empty()) body["user"] = a->user;
        if (a->tour) body["tour"] = *a->tour;
        if (a->all_tours) body["all_tours"] = true;
        if (!a->role.empty()) body["role"] = a->role;
        if (!a->segment.empty()) body["segment"] = a->segment;
        if (!a->cron.empty()) body["cron"] = a->cron;
        if (!a->at.empty()) body["at"] = a->at;
        if (!a->offset.empty()) body["offset"] = a->offset;
        if (!a->zone.empty()) body["time_zone"] = a->zone;
        if (!a->catch_up.empty()) body["catch_up"] = a->catch_up;
        return run_call(g, [&](Client& c) { return c.call("reminder.add", body); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_schedule); });
      };
    });
  }
  {
    auto removed = std::make_shared<bool>(false);
    auto* cmd = reminder->add_subcommand("list", summary("reminder.list"));
    cmd->add_flag("--removed", *removed, "Include removed reminders");
    cmd->callback([&g, &action, removed] {
      action = [&g, removed] {
        object body;
        if (*removed) body["removed"] = true;
        return run_call(g, [&](Client& c) { return c.call("reminder.list", body); },
                        [&](const boost::json::value& v) { return print_list(g, v, "reminders", kScheduleHeaders, schedule_row); });
      };
    });
  }
  for (const char* verb : {"show", "pause", "resume", "remove"}) add_named(reminder, g, action, "reminder", verb);
  {
    auto name = std::make_shared<std::string>();
    auto count = std::make_shared<std::int64_t>(5);
    auto* cmd = reminder->add_subcommand("next", summary("reminder.next"));
    cmd->add_option("NAME", *name, "The reminder")->required();
    cmd->add_option("-n,--count", *count, "How many (1-100, default 5)");
    cmd->callback([&g, &action, name, count] {
      action = [&g, name, count] {
        object body{{"name", *name}, {"count", *count}};
        return run_call(g, [&](Client& c) { return c.call("reminder.next", body); }, [&](const boost::json::value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << show(o.at("name")) << ": " << show(o.at("trigger")) << " (" << show(o.at("state")) << ")\n";
            const auto& next = o.at("next").as_array();
            if (next.empty()) std::cout << "nothing planned\n";
            else print_firings(next, false);
          });
        });
      };
    });
  }
}

void add_rules(CLI::App& app, Globals& g, Action& action) {
  auto* rule = app.add_subcommand("rule", "Answer the booking platform's events with templates");
  rule->require_subcommand(1);
  {
    struct Add : Common {
      std::string event, audience, delay;
    };
    auto a = std::make_shared<Add>();
    auto* cmd = rule->add_subcommand("add", summary("rule.add"));
    add_common(cmd, *a);
    cmd->add_option("-e,--event", a->event, "The event type it answers: booking.confirmed, booking.cancelled, ...")->required();
    cmd->add_option("--audience", a->audience, "user (the event's user; default), tour (its tour's participants) or guide")
        ->check(CLI::IsMember({"user", "tour", "guide"}));
    cmd->add_option("--delay", a->delay, "Wait this long after the event: 10m, 2h, 1d (default: at once)");
    cmd->callback([&g, &action, a] {
      action = [&g, a] {
        object body;
        if (!common_body(*a, body)) return exit_code::usage;
        body["event"] = a->event;
        if (!a->audience.empty()) body["audience"] = a->audience;
        if (!a->delay.empty()) body["delay"] = a->delay;
        return run_call(g, [&](Client& c) { return c.call("rule.add", body); },
                        [&](const boost::json::value& v) { return print_object(g, v, print_schedule); });
      };
    });
  }
  {
    auto* cmd = rule->add_subcommand("list", summary("rule.list"));
    cmd->callback([&g, &action] {
      action = [&g] {
        return run_call(g, [&](Client& c) { return c.call("rule.list"); }, [&](const boost::json::value& v) {
          return print_list(g, v, "rules", {"NAME", "EVENT", "TRIGGER", "AUDIENCE", "TEMPLATE", "STATE", "FIRED"},
                            [](const object& o) {
                              return std::vector<std::string>{show(o.at("name")),     show(o.at("event")), show(o.at("trigger")),
                                                              show(o.at("audience")), show(o.at("template")), show(o.at("state")),
                                                              show(o.at("firings").as_object().at("fired"))};
                            });
        });
      };
    });
  }
  add_named(rule, g, action, "rule", "remove");
}

void add_events(CLI::App& app, Globals& g, Action& action) {
  auto* event = app.add_subcommand("event", "Post the booking platform's events (what the rules answer)");
  event->require_subcommand(1);
  struct Post {
    std::string type, user, key;
    std::optional<std::int64_t> tour;
    std::vector<std::string> vars;
  };
  auto p = std::make_shared<Post>();
  auto* cmd = event->add_subcommand("post", summary("event.post"));
  cmd->add_option("TYPE", p->type, "What happened: booking.confirmed, booking.cancelled, review.submitted, ...")->required();
  cmd->add_option("-u,--user", p->user, "The user it concerns")->required();
  cmd->add_option("--tour", p->tour, "The tour it concerns");
  cmd->add_option("--var", p->vars, "A value for the templates NAME=VALUE (repeatable)");
  cmd->add_option("-k,--idempotency-key", p->key, "The same key twice is one event");
  cmd->callback([&g, &action, p] {
    action = [&g, p] {
      object body{{"type", p->type}, {"user", p->user}};
      if (p->tour) body["tour"] = *p->tour;
      object vars;
      if (!parse_vars(p->vars, vars)) return exit_code::usage;
      if (!vars.empty()) body["vars"] = std::move(vars);
      if (!p->key.empty()) body["idempotency_key"] = p->key;
      return run_call(g, [&](Client& c) { return c.call("event.post", body); }, [&](const boost::json::value& v) {
        return print_object(g, v, [](const object& o) {
          if (o.at("duplicate").as_bool())
            std::cout << "event " << show(o.at("event")) << " was posted already (same idempotency key); nothing new\n";
          else
            std::cout << "event " << show(o.at("event")) << " (" << show(o.at("type")) << "): " << show(o.at("firings"))
                      << " rule firing(s)" << (o.contains("review_recorded") ? ", review recorded" : "") << "\n";
        });
      });
    };
  });
}

void add_reviews(CLI::App& app, Globals& g, Action& action) {
  auto* review = app.add_subcommand("review", "Review requests after tours");
  review->require_subcommand(1);
  auto id = std::make_shared<std::int64_t>(0);
  auto* cmd = review->add_subcommand("status", summary("review.status"));
  cmd->add_option("TOUR", *id, "The tour")->required();
  cmd->callback([&g, &action, id] {
    action = [&g, id] {
      return run_call(g, [&](Client& c) { return c.call("review.status", {{"id", *id}}); }, [&](const boost::json::value& v) {
        return print_object(g, v, [](const object& o) {
          std::cout << "tour " << show(o.at("tour")) << " (" << show(o.at("status")) << "): " << show(o.at("asked")) << " of "
                    << show(o.at("participants")) << " asked, " << show(o.at("reviewed")) << " reviewed"
                    << (o.at("enabled").as_bool() ? "" : "; review requests are off (review.template)") << "\n";
          std::vector<std::vector<std::string>> rows;
          for (const auto& p : o.at("people").as_array()) {
            const auto& po = p.as_object();
            rows.push_back({show(po.at("user")), show(po.at("asked_at")), show(po.at("nudges")), show(po.at("last_sent_at")),
                            show(po.at("reviewed_at")), po.at("no_show").as_bool() ? "yes" : "no", show(po.at("next_at"))});
          }
          if (!rows.empty()) print_table({"USER", "ASKED", "NUDGES", "LAST SENT", "REVIEWED", "NO-SHOW", "NEXT"}, rows);
        });
      });
    };
  });
}

}  // namespace tourbus::cli
