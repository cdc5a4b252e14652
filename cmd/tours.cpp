// tourbus tour add|list|show|set|join|leave|cancel|no-show
#include <iostream>

#include "commands.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;

int print_tour(const Globals& g, const boost::json::value& v) {
  return print_object(g, v, [](const object& o) {
    object flat = o;
    if (o.at("meeting_point").is_object()) {
      const auto& m = o.at("meeting_point").as_object();
      flat["meeting_point"] = show(m.at("label")) + (m.at("lat").is_null() ? "" : " (" + show(m.at("lat")) + ", " + show(m.at("lon")) + ")");
    }
    print_fields(flat, {"id", "title", "status", "starts_local", "ends_local", "time_zone", "starts_at", "ends_at",
                        "meeting_point", "guide", "participants", "cancel_reason"});
  });
}

// Options shared by `tour add` and `tour set`.
struct TourOptions {
  std::optional<std::string> title, start, end, tz, guide, meeting;
  std::optional<double> lat, lon;

  void add_to(CLI::App* cmd, bool adding) {
    auto* t = cmd->add_option("-t,--title", title, "What the tour is called");
    auto* s = cmd->add_option("--start", start, "Start: 2026-12-01T09:00 in --tz, or RFC 3339 with an offset");
    auto* e = cmd->add_option("--end", end, "End, after the start; same forms");
    auto* z = cmd->add_option("--tz", tz, "IANA time zone where the tour takes place, like Europe/Rome");
    if (adding) {
      t->required();
      s->required();
      e->required();
      z->required();
    }
    cmd->add_option("-g,--guide", guide, adding ? "Handle of the guide" : "Handle of the new guide ('' removes the guide)");
    cmd->add_option("-m,--meeting", meeting, "Meeting point label");
    auto* la = cmd->add_option("--lat", lat, "Meeting point latitude")->check(CLI::Range(-90.0, 90.0));
    auto* lo = cmd->add_option("--lon", lon, "Meeting point longitude")->check(CLI::Range(-180.0, 180.0));
    la->needs(lo);
    lo->needs(la);
  }

  object body(bool clearing) const {
    object b;
    auto put = [&](const char* key, const std::optional<std::string>& v) {
      if (!v) return;
      if (clearing && v->empty()) b[key] = nullptr;
      else b[key] = *v;
    };
    put("title", title);
    put("starts_at", start);
    put("ends_at", end);
    put("time_zone", tz);
    put("guide", guide);
    put("meeting_label", meeting);
    if (lat) b["meeting_lat"] = *lat;
    if (lon) b["meeting_lon"] = *lon;
    return b;
  }
};

}  // namespace

void add_tours(CLI::App& app, Globals& g, Action& action) {
  auto* tour = app.add_subcommand("tour", "Manage tours, their guides and participants");
  tour->require_subcommand(1);
  {
    auto* cmd = tour->add_subcommand("add", summary("tour.create"));
    auto opts = std::make_shared<TourOptions>();
    auto people = std::make_shared<std::vector<std::string>>();
    opts->add_to(cmd, true);
    cmd->add_option("-p,--participant", *people, "Handle of a tourist taking part (repeatable)");
    cmd->callback([&g, &action, opts, people] {
      action = [&g, opts, people] {
        auto body = opts->body(false);
        if (!people->empty()) {
          boost::json::array a;
          for (const auto& p : *people) a.emplace_back(p);
          body["participants"] = std::move(a);
        }
        return run_call(g, [&](Client& c) { return c.call("tour.create", body); },
                        [&](const boost::json::value& v) { return print_tour(g, v); });
      };
    });
  }
  {
    auto* cmd = tour->add_subcommand("list", summary("tour.list"));
    auto status = std::make_shared<std::string>();
    auto guide = std::make_shared<std::string>();
    auto participant = std::make_shared<std::string>();
    auto from = std::make_shared<std::string>();
    auto to = std::make_shared<std::string>();
    cmd->add_option("--status", *status, "Only this status")->check(CLI::IsMember({"scheduled", "running", "finished", "cancelled"}));
    cmd->add_option("-g,--guide", *guide, "Only tours led by this guide");
    cmd->add_option("-p,--participant", *participant, "Only tours this user takes part in");
    cmd->add_option("--from", *from, "Only tours ending after this time (RFC 3339, or UTC 2026-12-01T00:00)");
    cmd->add_option("--to", *to, "Only tours starting before this time");
    cmd->callback([&g, &action, status, guide, participant, from, to] {
      action = [&g, status, guide, participant, from, to] {
        object q;
        if (!status->empty()) q["status"] = *status;
        if (!guide->empty()) q["guide"] = *guide;
        if (!participant->empty()) q["participant"] = *participant;
        if (!from->empty()) q["from"] = *from;
        if (!to->empty()) q["to"] = *to;
        return run_call(g, [&](Client& c) { return c.call("tour.list", q); },
                        [&](const boost::json::value& v) {
                          if (v.as_object().at("tours").as_array().size() >= 1000)
                            std::cerr << "tourbus: showing the first 1000 tours; narrow the list with --from and --to\n";
                          return print_list(g, v, "tours", {"ID", "TITLE", "STARTS (LOCAL)", "ENDS (LOCAL)", "STATUS", "GUIDE", "PEOPLE"},
                                            [](const object& o) {
                                              return std::vector<std::string>{
                                                  show(o.at("id")), show(o.at("title")), show(o.at("starts_local")),
                                                  show(o.at("ends_local")), show(o.at("status")), show(o.at("guide")),
                                                  std::to_string(o.at("participants").as_array().size())};
                                            });
                        });
      };
    });
  }
  {
    auto* cmd = tour->add_subcommand("show", summary("tour.show"));
    auto id = std::make_shared<std::int64_t>(0);
    cmd->add_option("ID", *id, "The tour")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("tour.show", {{"id", *id}}); },
                        [&](const boost::json::value& v) { return print_tour(g, v); });
      };
    });
  }
  {
    auto* cmd = tour->add_subcommand("set", summary("tour.update"));
    auto id = std::make_shared<std::int64_t>(0);
    auto opts = std::make_shared<TourOptions>();
    auto status = std::make_shared<std::optional<std::string>>();
    cmd->add_option("ID", *id, "The tour")->required();
    opts->add_to(cmd, false);
    cmd->add_option("--status", *status, "scheduled, running or finished (use 'tour cancel' to cancel)")
        ->check(CLI::IsMember({"scheduled", "running", "finished"}));
    cmd->callback([&g, &action, id, opts, status] {
      action = [&g, id, opts, status] {
        auto body = opts->body(true);
        if (*status) body["status"] = **status;
        if (body.empty()) return fail(g, Error(Code::invalid_argument, "nothing to change: give at least one option (see --help)"));
        body["id"] = *id;
        return run_call(g, [&](Client& c) { return c.call("tour.update", body); },
                        [&](const boost::json::value& v) { return print_tour(g, v); });
      };
    });
  }
  for (auto [name, op] : {std::pair{"join", "tour.join"}, std::pair{"leave", "tour.leave"}}) {
    auto* cmd = tour->add_subcommand(name, summary(op));
    auto id = std::make_shared<std::int64_t>(0);
    auto people = std::make_shared<std::vector<std::string>>();
    cmd->add_option("ID", *id, "The tour")->required();
    cmd->add_option("HANDLE", *people, "Tourists to add or remove")->required();
    std::string operation = op;
    cmd->callback([&g, &action, id, people, operation] {
      action = [&g, id, people, operation] {
        boost::json::array a;
        for (const auto& p : *people) a.emplace_back(p);
        object body{{"id", *id}, {"users", std::move(a)}};
        return run_call(g, [&](Client& c) { return c.call(operation, body); },
                        [&](const boost::json::value& v) { return print_tour(g, v); });
      };
    });
  }
  {
    auto* cmd = tour->add_subcommand("cancel", summary("tour.cancel"));
    auto id = std::make_shared<std::int64_t>(0);
    auto reason = std::make_shared<std::string>();
    cmd->add_option("ID", *id, "The tour")->required();
    cmd->add_option("-r,--reason", *reason, "Why, shown to participants");
    cmd->callback([&g, &action, id, reason] {
      action = [&g, id, reason] {
        object body{{"id", *id}};
        if (!reason->empty()) body["reason"] = *reason;
        return run_call(g, [&](Client& c) { return c.call("tour.cancel", body); },
                        [&](const boost::json::value& v) { return print_tour(g, v); });
      };
    });
  }
  {
    auto* cmd = tour->add_subcommand("no-show", summary("tour.no_show"));
    auto id = std::make_shared<std::int64_t>(0);
    auto people = std::make_shared<std::vector<std::string>>();
    auto clear = std::make_shared<bool>(false);
    cmd->add_option("ID", *id, "The tour")->required();
    cmd->add_option("HANDLE", *people, "Participants who did not show up")->required();
    cmd->add_flag("--clear", *clear, "Take the mark away again");
    cmd->callback([&g, &action, id, people, clear] {
      action = [&g, id, people, clear] {
        boost::json::array a;
        for (const auto& p : *people) a.emplace_back(p);
        object body{{"id", *id}, {"users", std::move(a)}, {"no_show", !*clear}};
        return run_call(g, [&](Client& c) { return c.call("tour.no_show", body); }, [&](const boost::json::value& v) {
          return print_object(g, v, [&](const object& o) {
            std::cout << (*clear ? "cleared the no-show mark of " : "marked ") << show(o.at("marked")) << " participant(s)"
                      << (*clear ? "" : " as no-show") << " on tour " << show(o.at("tour")) << "\n";
          });
        });
      };
    });
  }
}

}  // namespace tourbus::cli
