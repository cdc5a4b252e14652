// tourbus location show|share|group, sos raise|list|show|ack|resolve, duty on|off|list: where a
// tour's group is, SOS calls and the operators on duty who answer them. Alerts: alerts.cpp.
#include <iostream>
#include <optional>

#include <fmt/format.h>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;
using boost::json::value;

// "41.89021,12.49061", or "-" without a position.
std::string position_text(const object& o) {
  auto lat = number_of(o, "lat"), lon = number_of(o, "lon");
  return lat && lon ? fmt::format("{:.5f},{:.5f}", *lat, *lon) : std::string("-");
}

// 42s, 12min, 3h05.
std::string age_text(const object& o, const char* key = "age_seconds") {
  auto s = number_of(o, key);
  if (!s) return "-";
  auto n = static_cast<std::int64_t>(*s);
  if (n < 60) return fmt::format("{}s", n);
  if (n < 3600) return fmt::format("{}min", n / 60);
  return fmt::format("{}h{:02}", n / 3600, n % 3600 / 60);
}

// 850 m, 1.2 km.
std::string meters_text(std::optional<double> m) {
  if (!m) return "-";
  return *m < 1000 ? fmt::format("{:.0f} m", *m) : fmt::format("{:.1f} km", *m / 1000);
}

// "41.89021,12.49061 ±15 m, 2min old", or "unknown".
std::string sos_location(const value& v) {
  if (!v.is_object()) return "unknown";
  const auto& l = v.as_object();
  auto acc = number_of(l, "accuracy");
  return position_text(l) + (acc ? " ±" + meters_text(acc) : "") + ", " + age_text(l) + " old";
}

void print_locations(const object& o) {
  const auto& w = o.at("window").as_object();
  std::cout << "tour " << show(o.at("tour")) << " (" << show(o.at("title")) << "): window " << show(w.at("from")) << " to "
            << show(w.at("to")) << (o.at("open").as_bool() ? ", open now" : ", closed now") << "; tourists "
            << (o.at("group_visible").as_bool() ? "see each other" : "see only the guide") << "\n";
  if (const auto* m = o.if_contains("meeting_point"); m && m->is_object())
    std::cout << "meeting point: " << show(m->at("label")) << " (" << position_text(m->as_object()) << ")\n";
  std::vector<std::vector<std::string>> rows;
  for (const auto& p : o.at("people").as_array()) {
    const auto& po = p.as_object();
    std::vector<std::string> notes;
    if (!po.at("sharing").as_bool()) notes.push_back("not sharing");
    if (const auto* s = po.if_contains("straggler"); s && s->is_bool() && s->as_bool()) notes.push_back("straggler");
    if (const auto* m = po.if_contains("at_meeting_point"); m && m->is_bool() && m->as_bool()) notes.push_back("at meeting point");
    std::string note;
    for (const auto& n : notes) note += (note.empty() ? "" : ", ") + n;
    auto acc = number_of(po, "accuracy");
    rows.push_back({show(po.at("user")), show(po.at("role")), position_text(po), acc ? meters_text(acc) : "-",
                    meters_text(number_of(po, "distance_m")), age_text(po), note.empty() ? "-" : note});
  }
  print_table({"USER", "ROLE", "POSITION", "ACCURACY", "DISTANCE", "AGE", "NOTE"}, rows);
  for (const auto& p : o.at("people").as_array()) {
    const auto* trail = p.as_object().if_contains("trail");
    if (!trail || !trail->is_array() || trail->as_array().empty()) continue;
    std::cout << "\ntrail of " << show(p.at("user")) << ":\n";
    std::vector<std::vector<std::string>> points;
    for (const auto& t : trail->as_array()) points.push_back({show(t.at("at")), position_text(t.as_object())});
    print_table({"AT", "POSITION"}, points);
  }
}

const std::vector<std::string> kSosHeaders = {"ID", "USER", "TOUR", "STATE", "AGE", "RINGS", "LOCATION", "ACKED-BY"};
std::vector<std::string> sos_row(const object& o) {
  const auto& at = o.at("location");
  return {show(o.at("id")),  show(o.at("user")),  show(o.at("tour")),
          show(o.at("state")), age_text(o),     show(o.at("rings")),
          at.is_object() ? position_text(at.as_object()) : "-", show(o.at("acked_by"))};
}

void print_sos(const object& o) {
  print_fields(o, {"id", "user", "display_name", "tour", "state", "raised_at", "rings", "note", "acked_by", "acked_at",
                   "resolved_by", "resolved_at", "resolution", "conversation"});
  std::cout << "location:     " << sos_location(o.at("location")) << "\n";
  if (o.contains("notified")) std::cout << "notified:     " << show(o.at("notified")) << "\n";
}

// A subcommand that takes TOUR and on|off and sends it as the boolean `flag` of `op`.
void add_switch(CLI::App* parent, Globals& g, Action& action, const char* name, std::string op, const char* flag,
                std::function<void(const object&)> human) {
  auto id = std::make_shared<std::int64_t>(0);
  auto state = std::make_shared<std::string>();
  auto* cmd = parent->add_subcommand(name, summary(op));
  cmd->add_option("TOUR", *id, "The tour")->required();
  cmd->add_option("STATE", *state, "on or off")->required()->check(CLI::IsMember({"on", "off"}));
  cmd->callback([&g, &action, id, state, op, flag, human] {
    action = [&g, id, state, op, flag, human] {
      return run_call(g, [&](Client& c) { return c.call(op, {{"id", *id}, {flag, *state == "on"}}); },
                      [&](const value& v) { return print_object(g, v, human); });
    };
  });
}

}  // namespace

void add_location(CLI::App& app, Globals& g, Action& action) {
  auto* location = app.add_subcommand("location", "Where a tour's group is; sharing one's position (with --as)");
  location->require_subcommand(1);
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto trail = std::make_shared<bool>(false);
    auto* cmd = location->add_subcommand("show", summary("location.show"));
    cmd->add_option("TOUR", *id, "The tour")->required();
    cmd->add_flag("--trail", *trail, "Each person's trail too (guides and operators)");
    cmd->callback([&g, &action, id, trail] {
      action = [&g, id, trail] {
        object body{{"id", *id}};
        if (*trail) body["trail"] = true;
        return run_call(g, [&](Client& c) { return c.call("location.show", body); },
                        [&](const value& v) { return print_object(g, v, print_locations); });
      };
    });
  }
  add_switch(location, g, action, "share", "location.share", "share", [](const object& o) {
    if (o.at("sharing").as_bool()) std::cout << "sharing the position with tour " << show(o.at("tour")) << "\n";
    else std::cout << "not sharing the position with tour " << show(o.at("tour")) << "; its stored positions are deleted\n";
  });
  add_switch(location, g, action, "group", "location.group", "visible", [](const object& o) {
    std::cout << "tour " << show(o.at("tour")) << ": tourists "
              << (o.at("group_visible").as_bool() ? "see each other's positions" : "see only the guide's position") << "\n";
  });
}

void add_sos(CLI::App& app, Globals& g, Action& action) {
  auto* sos = app.add_subcommand("sos", "SOS calls: raise (with --as), list, acknowledge, resolve");
  sos->require_subcommand(1);
  {
    struct Raise {
      std::optional<double> lat, lon, accuracy;
      std::string note, client_id;
    };
    auto r = std::make_shared<Raise>();
    auto* cmd = sos->add_subcommand("raise", summary("sos"));
    auto* lat = cmd->add_option("--lat", r->lat, "Where the caller is (default: their last shared position)")->check(CLI::Range(-90.0, 90.0));
    auto* lon = cmd->add_option("--lon", r->lon, "Longitude, with --lat")->check(CLI::Range(-180.0, 180.0));
    lat->needs(lon);
    lon->needs(lat);
    cmd->add_option("--accuracy", r->accuracy, "Metres")->needs(lat);
    cmd->add_option("--note", r->note, "What is wrong, in a few words");
    cmd->add_option("--client-id", r->client_id, "An id of your own: raising again with it returns the first SOS");
    cmd->callback([&g, &action, r] {
      action = [&g, r] {
        object body;
        if (r->lat) body["lat"] = *r->lat;
        if (r->lon) body["lon"] = *r->lon;
        if (r->accuracy) body["accuracy"] = *r->accuracy;
        if (!r->note.empty()) body["note"] = r->note;
        if (!r->client_id.empty()) body["client_id"] = r->client_id;
        return run_call(g, [&](Client& c) { return c.call("sos", body); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            if (o.at("duplicate").as_bool())
              std::cout << "sos " << show(o.at("id")) << " was raised already (" << show(o.at("state")) << ")\n";
            else
              std::cout << "sos " << show(o.at("id")) << " raised; notified: " << show(o.at("notified")) << "\n";
            std::cout << "location: " << sos_location(o.at("location")) << "\nconversation: " << show(o.at("conversation")) << "\n";
          });
        });
      };
    });
  }
  {
    auto state = std::make_shared<std::string>();
    auto limit = std::make_shared<std::int64_t>(0);
    auto* cmd = sos->add_subcommand("list", summary("sos.list"));
    cmd->add_option("--state", *state, "open, acknowledged, resolved or all (default: open and acknowledged)")
        ->check(CLI::IsMember({"open", "acknowledged", "resolved", "all"}));
    cmd->add_option("--limit", *limit, "At most this many, newest first (default 100)");
    cmd->callback([&g, &action, state, limit] {
      action = [&g, state, limit] {
        object body;
        if (!state->empty()) body["state"] = *state;
        if (*limit) body["limit"] = *limit;
        return run_call(g, [&](Client& c) { return c.call("sos.list", body); },
                        [&](const value& v) { return print_list(g, v, "sos", kSosHeaders, sos_row); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = sos->add_subcommand("show", summary("sos.show"));
    cmd->add_option("ID", *id, "The SOS")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("sos.show", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_sos); });
      };
    });
  }
  for (const char* verb : {"ack", "resolve"}) {
    auto id = std::make_shared<std::int64_t>(0);
    auto note = std::make_shared<std::string>();
    std::string op = std::string("sos.") + verb;
    auto* cmd = sos->add_subcommand(verb, summary(op));
    cmd->add_option("ID", *id, "The SOS")->required();
    cmd->add_option("--note", *note, "A word about it, posted in the incident conversation");
    cmd->callback([&g, &action, id, note, op] {
      action = [&g, id, note, op] {
        object body{{"id", *id}};
        if (!note->empty()) body["note"] = *note;
        return run_call(g, [&](Client& c) { return c.call(op, body); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << "sos " << show(o.at("id")) << " (" << show(o.at("user")) << "): " << show(o.at("state"));
            if (o.at("state") == "resolved") std::cout << " by " << show(o.at("resolved_by"));
            else std::cout << " by " << show(o.at("acked_by"));
            std::cout << "\n";
          });
        });
      };
    });
  }
}

void add_duty(CLI::App& app, Globals& g, Action& action) {
  auto* duty = app.add_subcommand("duty", "Operators on duty: SOS calls and alert escalations reach them");
  duty->require_subcommand(1);
  for (const char* verb : {"on", "off"}) {
    auto user = std::make_shared<std::string>();
    std::string op = std::string("duty.") + verb;
    auto* cmd = duty->add_subcommand(verb, summary(op));
    cmd->add_option("USER", *user, "An operator's handle")->required();
    cmd->callback([&g, &action, user, op] {
      action = [&g, user, op] {
        return run_call(g, [&](Client& c) { return c.call(op, {{"user", *user}}); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            if (o.at("on_duty").as_bool()) std::cout << show(o.at("user")) << " is on duty since " << show(o.at("since")) << "\n";
            else std::cout << show(o.at("user")) << " is off duty\n";
          });
        });
      };
    });
  }
  auto* cmd = duty->add_subcommand("list", summary("duty.list"));
  cmd->callback([&g, &action] {
    action = [&g] {
      return run_call(g, [](Client& c) { return c.call("duty.list"); }, [&](const value& v) {
        return print_list(g, v, "duty", {"USER", "NAME", "SINCE", "BY"}, [](const object& o) {
          return std::vector<std::string>{show(o.at("user")), show(o.at("display_name")), show(o.at("since")), show(o.at("by"))};
        });
      });
    };
  });
}

}  // namespace tourbus::cli
