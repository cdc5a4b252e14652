// tourbus alert send|list|show|cancel|answer|status: emergency alerts (CAP 1.2) and their
// roll-call, with `status --watch` following the answers as they come in.
#include <unistd.h>

#include <chrono>
#include <fstream>
#include <iostream>
#include <sstream>
#include <thread>

#include "commands.hpp"
#include "core/json.hpp"
#include "output.hpp"

namespace tourbus::cli {
namespace {

using boost::json::object;
using boost::json::value;

// "300 in the area, 40 on tours" from by_reason, leaving out zeros.
std::string reasons_text(const object& by) {
  static const std::pair<const char*, const char*> kReasons[] = {
      {"area", "in the area"}, {"tour", "on tours"}, {"role", "by role"}, {"user", "named"}};
  std::string out;
  for (const auto& [key, words] : kReasons) {
    const auto* n = by.if_contains(key);
    if (!n || !n->is_int64() || n->as_int64() == 0) continue;
    out += (out.empty() ? "" : ", ") + show(*n) + " " + words;
  }
  return out;
}

void print_sent(const object& o) {
  auto reasons = reasons_text(o.at("by_reason").as_object());
  std::string kind = o.at("msg_type") == "Update" ? ", an update" : "";
  std::string status = o.at("status") == "Actual" ? "" : " [" + show(o.at("status")) + "]";
  if (o.at("dry_run").as_bool())
    std::cout << "dry run: the alert would reach " << show(o.at("recipients")) << " people" << (reasons.empty() ? "" : ": " + reasons)
              << status << "; nothing sent\n";
  else
    std::cout << "alert " << show(o.at("id")) << " (" << show(o.at("identifier")) << kind << ") sent to " << show(o.at("recipients"))
              << " people" << (reasons.empty() ? "" : ": " + reasons) << status << "\n";
}

// Staff get the alert with its targets and its CAP document as JSON; a recipient gets the alert
// in their language (the info block's fields at the top level) with their own answer.
void print_alert(const object& o) {
  object flat = o;
  std::vector<std::string> keys;
  for (const char* key : {"id", "identifier", "msg_type", "status", "state", "updates", "created_at", "created_by", "recipients",
                          "sent", "language", "category", "event", "urgency", "severity", "certainty", "headline", "description",
                          "instruction", "areas", "my_answer", "answered_at"})
    if (o.contains(key)) keys.push_back(key);
  const auto* cap = o.if_contains("cap");
  if (cap && cap->is_object())
    for (const char* key : {"sender", "sent", "scope"})
      if (const auto* v = cap->as_object().if_contains(key)) {
        flat[key] = *v;
        keys.push_back(key);
      }
  if (const auto* t = o.if_contains("targets"); t && t->is_object()) {
    std::string text;
    for (const auto& [k, v] : t->as_object()) text += (text.empty() ? "" : "; ") + std::string(k) + " " + show(v);
    flat["targets"] = text;
    keys.push_back("targets");
  }
  print_fields(flat, keys);
  if (!cap || !cap->is_object()) return;
  const auto* infos = cap->as_object().if_contains("info");
  if (!infos || !infos->is_array()) return;
  for (const auto& i : infos->as_array()) {
    const auto& io = i.as_object();
    auto get = [&](const char* key) { return io.contains(key) ? show(io.at(key)) : std::string("-"); };
    std::cout << "\n[" << get("language") << "] " << get("event") << ": " << get("severity") << ", " << get("urgency") << ", "
              << get("certainty") << " (" << get("category") << ")\n";
    print_fields(io, {"headline", "description", "instruction"});
    if (const auto* areas = io.if_contains("area"); areas && areas->is_array())
      for (const auto& a : areas->as_array()) {
        std::cout << "area:        " << (a.as_object().contains("areaDesc") ? show(a.at("areaDesc")) : std::string("-"));
        for (const char* shape : {"circle", "polygon"})
          if (const auto* s = a.as_object().if_contains(shape); s && s->is_array())
            for (const auto& each : s->as_array()) std::cout << "; " << shape << " " << show(each);
        std::cout << "\n";
      }
  }
}

std::vector<std::string> count_row(const object& o) {
  return {show(o.at("recipients")), show(o.at("safe")), show(o.at("need_help")), show(o.at("no_answer"))};
}

// Handles in lines of at most 100 columns, indented.
void print_names(const std::vector<std::string>& names) {
  std::string line = " ";
  for (const auto& n : names) {
    if (line.size() > 1 && line.size() + n.size() + 2 > 100) {
      std::cout << line << "\n";
      line = " ";
    }
    line += " " + n + ",";
  }
  if (line.size() > 1) std::cout << line.substr(0, line.size() - 1) << "\n";
}

void print_roll_call(const object& o) {
  std::cout << "alert " << show(o.at("id")) << " (" << show(o.at("identifier")) << "): " << show(o.at("headline")) << "\n"
            << show(o.at("status")) << " " << show(o.at("msg_type")) << ", state " << show(o.at("state")) << ", created "
            << show(o.at("created_at")) << "\n"
            << show(o.at("recipients")) << " people: " << show(o.at("safe")) << " safe, " << show(o.at("need_help"))
            << " need help, " << show(o.at("no_answer")) << " not answered (" << show(o.at("answered_percent"))
            << "% answered)\n";
  std::vector<std::vector<std::string>> tours, guides;
  for (const auto& t : o.at("tours").as_array()) {
    const auto& to = t.as_object();
    std::vector<std::string> row{show(to.at("tour")), show(to.at("title")), show(to.at("guide"))};
    for (auto& c : count_row(to)) row.push_back(std::move(c));
    tours.push_back(std::move(row));
  }
  for (const auto& gd : o.at("guides").as_array()) {
    std::vector<std::string> row{show(gd.at("guide"))};
    for (auto& c : count_row(gd.as_object())) row.push_back(std::move(c));
    guides.push_back(std::move(row));
  }
  if (!tours.empty()) {
    std::cout << "\n";
    print_table({"TOUR", "TITLE", "GUIDE", "PEOPLE", "SAFE", "NEED HELP", "NOT ANSWERED"}, tours);
  }
  if (!guides.empty()) {
    std::cout << "\n";
    print_table({"GUIDE", "PEOPLE", "SAFE", "NEED HELP", "NOT ANSWERED"}, guides);
  }
  std::vector<std::vector<std::string>> need_help, no_answer;
  std::vector<std::string> safe;
  for (const auto& p : o.at("people").as_array()) {
    const auto& po = p.as_object();
    const auto& answer = po.at("answer");
    if (answer == "need_help")
      need_help.push_back({show(po.at("user")), show(po.at("display_name")), show(po.at("tour")), show(po.at("guide")),
                           show(po.at("answered_at")), show(po.at("via")), show(po.at("by"))});
    else if (answer.is_null())
      no_answer.push_back({show(po.at("user")), show(po.at("display_name")), show(po.at("tour")), show(po.at("guide")),
                           show(po.at("rung")), show(po.at("next_rung_at")), show(po.at("channels"))});
    else
      safe.push_back(show(po.at("user")));
  }
  if (!need_help.empty()) {
    std::cout << "\nneed help (" << need_help.size() << "):\n";
    print_table({"USER", "NAME", "TOUR", "GUIDE", "ANSWERED", "VIA", "BY"}, need_help);
  }
  if (!no_answer.empty()) {
    std::cout << "\nnot answered (" << no_answer.size() << "):\n";
    print_table({"USER", "NAME", "TOUR", "GUIDE", "RUNG", "NEXT RUNG", "REACHED BY"}, no_answer);
  }
  if (!safe.empty()) {
    std::cout << "\nsafe (" << safe.size() << "):\n";
    print_names(safe);
  }
  std::vector<std::vector<std::string>> rungs;
  for (const auto& r : o.at("rungs").as_array())
    rungs.push_back({show(r.at("at")), r.at("user").is_null() ? "(group rule)" : show(r.at("user")), show(r.at("rung")),
                     show(r.at("detail"))});
  if (!rungs.empty()) {
    std::cout << "\nescalation:\n";
    print_table({"TIME", "USER", "RUNG", "DETAIL"}, rungs);
  }
  if (const auto& rule = o.at("group_rule"); rule.is_object())
    std::cout << "\ngroup rule: fewer than " << show(rule.at("percent")) << "% answered after " << show(rule.at("minutes"))
              << " min: notify " << show(rule.at("roles"))
              << (rule.at("done_at").is_null() ? std::string(" (not triggered)") : " (triggered " + show(rule.at("done_at")) + ")")
              << "\n";
}

// Why following a roll-call stops, or empty while it goes on.
std::string roll_call_over(const object& o) {
  auto state = o.at("state");
  if (state == "cancelled" || state == "closed") return "the alert is " + show(state);
  const auto& people = o.at("recipients");
  if (people.is_int64() && people.as_int64() == 0) return "the alert reached nobody";
  const auto& left = o.at("no_answer");
  if (left.is_int64() && left.as_int64() == 0) return "everyone answered";
  return {};
}

// Follows a roll-call until the alert is cancelled or closed or everyone answered, polling once
// a second (as `campaign stats --watch`): redrawn in place on a terminal, a JSON line per change
// with --json, and otherwise a new full status each time something changed.
int watch_roll_call(const Globals& g, std::int64_t id) {
  Client client(find_socket(g), g.as);
  bool tty = ::isatty(1) && !g.json;
  std::string last;
  for (;;) {
    auto r = client.call("alert.status", {{"id", id}});
    if (!r) return fail(g, r.error());
    const auto& o = r->as_object();
    object compared = o;  // what counts as a change: not the clock
    compared.erase("age_seconds");
    auto dumped = json::dump(compared);
    auto over = roll_call_over(o);
    if (g.json) {
      if (dumped != last) std::cout << json::dump(*r) << std::endl;
    } else if (tty) {
      std::ostringstream frame;
      auto* old = std::cout.rdbuf(frame.rdbuf());  // print_table writes to std::cout: draw the frame whole
      print_roll_call(o);
      std::cout.rdbuf(old);
      std::cout << "\033[H\033[2J" << frame.str() << "\n"
                << (over.empty() ? "watching; Ctrl-C stops" : "stopped: " + over) << std::endl;
    } else if (dumped != last) {
      if (!last.empty()) std::cout << "\n----\n";
      print_roll_call(o);
      if (!over.empty()) std::cout << "\nstopped: " << over << "\n";
      std::cout << std::flush;
    }
    last = std::move(dumped);
    if (!over.empty()) return exit_code::ok;
    std::this_thread::sleep_for(std::chrono::seconds(1));
  }
}

// The text of --cap FILE ("-": standard input).
Result<std::string> read_cap(const std::string& file) {
  std::ostringstream text;
  if (file == "-") {
    text << std::cin.rdbuf();
  } else {
    std::ifstream f(file, std::ios::binary);
    if (!f) return Error(Code::not_found, "cannot read " + file);
    text << f.rdbuf();
  }
  return text.str();
}

struct SendOptions {
  std::string cap, headline, description, instruction, event, category, urgency, severity, certainty, language, status, area;
  std::vector<std::string> circles, polygons, roles, users, group_roles;
  std::vector<std::int64_t> tours;
  std::optional<std::int64_t> max_age, update, group_percent, group_minutes;
  bool dry_run = false;
};

void add_send_options(CLI::App* cmd, SendOptions& s) {
  auto* cap = cmd->add_option("--cap", s.cap, "A CAP 1.2 XML file to send ('-': standard input), instead of the fields");
  auto field = [&](const char* flag, std::string& into, const char* help) { cap->excludes(cmd->add_option(flag, into, help)); };
  field("--headline", s.headline, "A short headline (required without --cap)");
  field("--description", s.description, "What is happening");
  field("--instruction", s.instruction, "What to do");
  field("--event", s.event, "The kind of event, e.g. Flood (default: the headline)");
  field("--language", s.language, "The language of the text, a BCP 47 tag (default notify.default_language)");
  field("--area", s.area, "A description of the area (default: the first circle or polygon)");
  auto choice = [&](const char* flag, std::string& into, const char* help, std::vector<std::string> values) {
    cap->excludes(cmd->add_option(flag, into, help)->check(CLI::IsMember(std::move(values))));
  };
  choice("--category", s.category, "CAP category (default Safety)",
         {"Geo", "Met", "Safety", "Security", "Rescue", "Fire", "Health", "Env", "Transport", "Infra", "CBRNE", "Other"});
  choice("--urgency", s.urgency, "Immediate (default), Expected, Future, Past or Unknown", {"Immediate", "Expected", "Future", "Past", "Unknown"});
  choice("--severity", s.severity, "Extreme, Severe (default), Moderate, Minor or Unknown", {"Extreme", "Severe", "Moderate", "Minor", "Unknown"});
  choice("--certainty", s.certainty, "Observed (default), Likely, Possible, Unlikely or Unknown",
         {"Observed", "Likely", "Possible", "Unlikely", "Unknown"});
  choice("--status", s.status, "Actual (default), Exercise or Test", {"Actual", "Exercise", "Test"});
  // A CAP document carries its own areas.
  cap->excludes(cmd->add_option("--circle", s.circles, "Target everyone last seen in a circle: \"LAT,LON KM\" (repeatable)"));
  cap->excludes(cmd->add_option("--polygon", s.polygons,
                                "Target everyone last seen in a polygon: \"LAT,LON LAT,LON ...\", first point repeated last (repeatable)"));
  cmd->add_option("--tour", s.tours, "Target a whole tour group, wherever it is (repeatable)");
  cmd->add_option("--role", s.roles, "Target everyone with this role (repeatable)")->delimiter(',')
      ->check(CLI::IsMember({"tourist", "guide", "operator"}));
  cmd->add_option("--user", s.users, "Target this user (repeatable)")->delimiter(',');
  cmd->add_option("--max-age", s.max_age, "Area targets: only positions fresher than this many minutes (default alert.max_location_age_minutes)");
  cmd->add_option("--update", s.update, "This alert updates alert ID: its recipients get it too");
  cmd->add_option("--group-percent", s.group_percent, "Escalation: if fewer than this percent answered ...");
  cmd->add_option("--group-minutes", s.group_minutes, "... after this many minutes ...");
  cmd->add_option("--group-role", s.group_roles, "... notify everyone with this role (repeatable)")->delimiter(',');
  cmd->add_flag("--dry-run", s.dry_run, "Count the recipients, send nothing");
}

Result<object> send_body(const SendOptions& s) {
  object body;
  if (!s.cap.empty()) {
    auto text = read_cap(s.cap);
    if (!text) return text.error();
    body["cap"] = std::move(*text);
  } else if (s.headline.empty()) {
    return Error(Code::invalid_argument, "give --headline (and the other fields), or --cap FILE");
  }
  auto put = [&](const char* key, const std::string& v) {
    if (!v.empty()) body[key] = v;
  };
  put("headline", s.headline);
  put("description", s.description);
  put("instruction", s.instruction);
  put("event", s.event);
  put("category", s.category);
  put("urgency", s.urgency);
  put("severity", s.severity);
  put("certainty", s.certainty);
  put("language", s.language);
  put("status", s.status);
  put("area", s.area);
  if (!s.circles.empty()) body["circle"] = strings(s.circles);
  if (!s.polygons.empty()) body["polygon"] = strings(s.polygons);
  if (!s.tours.empty()) {
    std::vector<std::string> ids;
    for (auto t : s.tours) ids.push_back(std::to_string(t));
    body["tours"] = strings(ids);
  }
  if (!s.roles.empty()) body["roles"] = strings(s.roles);
  if (!s.users.empty()) body["users"] = strings(s.users);
  if (s.max_age) body["max_age_minutes"] = *s.max_age;
  if (s.update) body["update"] = *s.update;
  if (s.group_percent) body["group_percent"] = *s.group_percent;
  if (s.group_minutes) body["group_minutes"] = *s.group_minutes;
  if (!s.group_roles.empty()) body["group_roles"] = strings(s.group_roles);
  if (s.dry_run) body["dry_run"] = true;
  return body;
}

}  // namespace

void add_alerts(CLI::App& app, Globals& g, Action& action) {
  auto* alert = app.add_subcommand("alert", "Emergency alerts (CAP 1.2) to an area, tours, roles or users, and their roll-call");
  alert->require_subcommand(1);
  {
    auto s = std::make_shared<SendOptions>();
    auto* cmd = alert->add_subcommand("send", summary("alert.send"));
    add_send_options(cmd, *s);
    cmd->callback([&g, &action, s] {
      action = [&g, s] {
        auto body = send_body(*s);
        if (!body && body.error().code == Code::invalid_argument) {
          std::cerr << "tourbus: " << body.error().message << "\n";
          return exit_code::usage;
        }
        if (!body) return fail(g, body.error());
        return run_call(g, [&](Client& c) { return c.call("alert.send", *body); },
                        [&](const value& v) { return print_object(g, v, print_sent); });
      };
    });
  }
  {
    auto state = std::make_shared<std::string>();
    auto limit = std::make_shared<std::int64_t>(0);
    auto* cmd = alert->add_subcommand("list", summary("alert.list"));
    cmd->add_option("--state", *state, "sending, sent, cancelled or closed")->check(CLI::IsMember({"sending", "sent", "cancelled", "closed"}));
    cmd->add_option("--limit", *limit, "At most this many, newest first (default 100)");
    cmd->callback([&g, &action, state, limit] {
      action = [&g, state, limit] {
        object body;
        if (!state->empty()) body["state"] = *state;
        if (*limit) body["limit"] = *limit;
        return run_call(g, [&](Client& c) { return c.call("alert.list", body); }, [&](const value& v) {
          bool mine = false;  // tourists: their own answer instead of the counts
          for (const auto& a : v.at("alerts").as_array()) mine = mine || a.as_object().contains("my_answer");
          std::vector<std::string> headers{"ID", "TYPE", "STATUS", "STATE", "CREATED", "BY", "HEADLINE"};
          for (const char* h : mine ? std::vector<const char*>{"MY ANSWER"} : std::vector<const char*>{"PEOPLE", "ANSWERED"}) headers.push_back(h);
          return print_list(g, v, "alerts", headers, [mine](const object& o) {
            std::vector<std::string> row{show(o.at("id")),         show(o.at("msg_type")),   show(o.at("status")), show(o.at("state")),
                                         show(o.at("created_at")), show(o.at("created_by")), show(o.at("headline"))};
            if (mine) row.push_back(o.contains("my_answer") ? show(o.at("my_answer")) : "-");
            else row.insert(row.end(), {show(o.at("recipients")), show(o.at("answered"))});
            return row;
          });
        });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto cap = std::make_shared<bool>(false);
    auto* cmd = alert->add_subcommand("show", summary("alert.show"));
    cmd->add_option("ID", *id, "The alert")->required();
    cmd->add_flag("--cap", *cap, summary("alert.cap") + ", printed as the daemon sends it");
    cmd->callback([&g, &action, id, cap] {
      action = [&g, id, cap] {
        if (*cap) {
          Client client(find_socket(g), g.as);
          auto r = client.download("alert.cap", {{"id", *id}}, "-");
          return r ? exit_code::ok : fail(g, r.error());
        }
        return run_call(g, [&](Client& c) { return c.call("alert.show", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_alert); });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto note = std::make_shared<std::string>();
    auto* cmd = alert->add_subcommand("cancel", summary("alert.cancel"));
    cmd->add_option("ID", *id, "The alert")->required();
    cmd->add_option("--note", *note, "Why, told to the recipients");
    cmd->callback([&g, &action, id, note] {
      action = [&g, id, note] {
        object body{{"id", *id}};
        if (!note->empty()) body["note"] = *note;
        return run_call(g, [&](Client& c) { return c.call("alert.cancel", body); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << "alert " << show(o.at("cancels")) << " cancelled: cancel message " << show(o.at("id")) << " sent to "
                      << show(o.at("recipients")) << " people\n";
          });
        });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto* cmd = alert->add_subcommand("close", summary("alert.close"));
    cmd->add_option("ID", *id, "The alert")->required();
    cmd->callback([&g, &action, id] {
      action = [&g, id] {
        return run_call(g, [&](Client& c) { return c.call("alert.close", object{{"id", *id}}); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << "alert " << show(o.at("id")) << " closed: " << show(o.at("safe")) << " safe, " << show(o.at("need_help"))
                      << " need help, " << show(o.at("unanswered")) << " not answered of " << show(o.at("recipients")) << "\n";
          });
        });
      };
    });
  }
  {
    struct Answer {
      std::int64_t id = 0;
      std::string answer, user, note;
    };
    auto a = std::make_shared<Answer>();
    auto* cmd = alert->add_subcommand("answer", summary("alert.answer"));
    cmd->add_option("ID", a->id, "The alert")->required();
    cmd->add_option("ANSWER", a->answer, "safe or need-help")->required()->check(CLI::IsMember({"safe", "need-help", "need_help"}));
    cmd->add_option("--user", a->user, "Guides and operators: the person answered for (default: the caller, --as)");
    cmd->add_option("--note", a->note, "A word about it (need-help: shown in the incident conversation)");
    cmd->callback([&g, &action, a] {
      action = [&g, a] {
        object body{{"id", a->id}, {"answer", a->answer == "safe" ? "safe" : "need_help"}};
        if (!a->user.empty()) body["user"] = a->user;
        if (!a->note.empty()) body["note"] = a->note;
        return run_call(g, [&](Client& c) { return c.call("alert.answer", body); }, [&](const value& v) {
          return print_object(g, v, [](const object& o) {
            std::cout << show(o.at("user")) << ": " << show(o.at("answer")) << " (alert " << show(o.at("alert")) << ", via "
                      << show(o.at("via")) << ")";
            if (const auto* kept = o.if_contains("kept"); kept && kept->is_bool() && kept->as_bool())
              std::cout << "; the person's own answer stands";
            if (!o.at("incident").is_null()) std::cout << "; incident conversation " << show(o.at("incident"));
            std::cout << "\n";
          });
        });
      };
    });
  }
  {
    auto id = std::make_shared<std::int64_t>(0);
    auto watch = std::make_shared<bool>(false);
    auto* cmd = alert->add_subcommand("status", summary("alert.status"));
    cmd->add_option("ID", *id, "The alert")->required();
    cmd->add_flag("-w,--watch", *watch,
                  "Follow it until it is cancelled or closed or everyone answered: redrawn every second on a terminal, "
                  "a JSON line per change with --json");
    cmd->callback([&g, &action, id, watch] {
      action = [&g, id, watch] {
        if (*watch) return watch_roll_call(g, *id);
        return run_call(g, [&](Client& c) { return c.call("alert.status", {{"id", *id}}); },
                        [&](const value& v) { return print_object(g, v, print_roll_call); });
      };
    });
  }
}

}  // namespace tourbus::cli
