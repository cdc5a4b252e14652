#include "safety/ladder.hpp"

#include <map>
#include <set>
#include <variant>

#include <boost/json/parse.hpp>

#include "core/json.hpp"
#include "core/time.hpp"
#include "safety/incident.hpp"
#include "safety/rollcall.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::safety {
namespace {

std::string join(const std::vector<std::string>& v) {
  std::string out;
  for (const auto& s : v) out += (out.empty() ? "" : ", ") + s;
  return out;
}

// The channels of the jobs planned for each user, as JSON lists.
std::map<std::int64_t, std::set<std::string>> channels_of(const notify::Planned& p) {
  std::map<std::int64_t, std::set<std::string>> out;
  for (const auto& j : p.jobs) out[j.user_id].insert(j.channel);
  return out;
}

std::string json_list(const std::set<std::string>& s) {
  boost::json::array a;
  for (const auto& c : s) a.emplace_back(c);
  return json::dump(a);
}

// Plans a notification; on failure nothing is planned and the reason is returned instead.
std::variant<notify::Planned, std::string> send(store::Db& db, notify::SendRequest req, const notify::PlanContext& pc) {
  auto planned = notify::plan(db, req, pc);
  if (!planned) return planned.error().message;
  return std::move(*planned);
}

std::int64_t escalate_ms(const notify::PlanContext& pc) { return pc.config.alert_escalate_after_seconds * 1000; }

std::string headline(const AlertRecord& a, std::string_view fallback) {
  if (a.cap.infos.empty()) return a.identifier;
  const auto& info = cap::pick(a.cap, fallback, fallback);
  return info.headline.empty() ? info.event : info.headline;
}

}  // namespace

boost::json::object alert_view(const AlertRecord& a, std::string_view language, std::string_view fallback) {
  boost::json::object o{{"id", a.id},
                        {"identifier", a.identifier},
                        {"msg_type", a.msg_type},
                        {"status", a.status},
                        {"sent", a.cap.sent},
                        {"updates", a.updates ? boost::json::value(*a.updates) : nullptr},
                        {"answer_to", a.updates.value_or(a.id)},
                        {"answers", boost::json::array{"safe", "need_help"}},
                        // emergency for alerts; a tracked notification's category, whose "safe" means "got it"
                        {"notification_category", a.category}};
  if (a.cap.infos.empty()) return o;
  const auto& info = cap::pick(a.cap, language, fallback);
  boost::json::array areas;
  for (const auto& area : info.areas) areas.emplace_back(area.desc);
  boost::json::array categories;
  for (const auto& c : info.categories) categories.emplace_back(c);
  o["language"] = info.language;
  o["category"] = std::move(categories);
  o["event"] = info.event;
  o["urgency"] = info.urgency;
  o["severity"] = info.severity;
  o["certainty"] = info.certainty;
  o["headline"] = info.headline;
  o["description"] = info.description;
  o["instruction"] = info.instruction;
  o["areas"] = std::move(areas);
  auto [safe, help] = rollcall::keywords(info.language);
  o["keywords"] = boost::json::object{{"safe", safe}, {"need_help", help}};
  return o;
}

notify::Rendered alert_message(const AlertRecord& a, std::string_view language, std::string_view fallback,
                               const std::pair<std::string, std::string>& links) {
  notify::Rendered r;
  if (a.cap.infos.empty()) {  // CAP allows an alert (a cancellation) without any <info>
    r.language = std::string(fallback);
    r.subject = (a.msg_type == "Cancel" ? "CANCELLED: alert " : "Alert ") + a.identifier;
    r.text = r.subject + (a.cap.note.empty() ? "" : "\n" + a.cap.note);
    if (a.msg_type != "Cancel") r.text += "\n\n" + rollcall::prompt(fallback, links.first, links.second);
    return r;
  }
  const auto& info = cap::pick(a.cap, language, fallback);
  r.language = info.language;
  std::string head = info.headline.empty() ? info.event : info.headline;
  std::string tag = a.msg_type == "Cancel" ? "CANCELLED: " : a.msg_type == "Update" ? "UPDATE: " : "";
  if (a.status != "Actual") tag = "[" + a.status + "] " + tag;
  r.subject = tag + head;
  if (a.category != "emergency") {  // a tracked notification: its text, and a request to confirm
    r.text = info.description.empty() ? head : info.description;
    r.text += "\n\n" + rollcall::ack_prompt(info.language, links.first);
    return r;
  }
  r.text = r.subject;
  if (!info.description.empty()) r.text += "\n" + info.description;
  if (!info.instruction.empty()) r.text += "\n" + info.instruction;
  if (a.msg_type != "Cancel") r.text += "\n\n" + rollcall::prompt(info.language, links.first, links.second);
  return r;
}

Batch fan_out(store::Db& db, std::int64_t alert, std::int64_t now, const notify::PlanContext& pc,
              const AnswerLinks& links, std::int64_t limit) {
  Batch b;
  auto a = alerts::find(db, alert);
  if (!a) {
    b.done = true;
    return b;
  }
  b.alert = *a;
  auto rows = alerts::unsent(db, alert, limit);
  if (!rows.empty()) {
    auto original = a->updates.value_or(a->id);
    const std::string fallback = pc.config.notify_default_language;
    notify::SendRequest req;
    req.category = a->category;
    req.created_by = "alert:" + std::to_string(a->id);
    for (const auto& r : rows) req.users.push_back(r.handle);
    notify::PlanContext p = pc;
    p.now = now;
    const auto& rec = *a;
    p.content = [&](const store::User& u) {
      std::pair<std::string, std::string> l;
      if (links && rec.msg_type != "Cancel") l = links(u.id, original);
      return alert_message(rec, u.language, fallback, l);
    };
    auto planned = send(db, req, p);
    std::map<std::int64_t, std::set<std::string>> used;
    if (auto* ok = std::get_if<notify::Planned>(&planned)) {
      used = channels_of(*ok);
      b.jobs = static_cast<std::int64_t>(ok->jobs.size());
    } else {
      alerts::add_rung(db, alert, std::nullopt, "alert", "sending failed: " + std::get<std::string>(planned), now);
    }
    // Only the original's roll-call escalates; an update or a cancellation is just told.
    std::optional<std::int64_t> next;
    if (a->msg_type == "Alert") next = now + escalate_ms(pc);
    for (const auto& r : rows) {
      alerts::mark_sent(db, alert, r.user_id, now, json_list(used[r.user_id]), next);
      b.users.emplace_back(r.user_id, r.language);
      if (r.reason == "group") b.to_push.emplace_back(r.user_id, r.language);
    }
  }
  if (static_cast<std::int64_t>(rows.size()) < limit && a->state == "sending") {
    alerts::set_state(db, alert, "sent", now);
    b.done = true;
  }
  return b;
}

std::vector<Step> escalate(store::Db& db, std::int64_t now, const notify::PlanContext& base, const AnswerLinks& links,
                           std::int64_t limit) {
  std::vector<Step> steps;
  std::map<std::int64_t, std::optional<AlertRecord>> seen;
  // Rungs 3 and 4 tell people about many recipients at once: one message per guide, one to the operators.
  std::map<std::pair<std::int64_t, std::string>, std::vector<std::string>> for_guides;  // (alert, guide) -> names
  std::map<std::int64_t, std::vector<std::string>> for_operators;                      // alert -> names
  const std::string fallback = base.config.notify_default_language;
  notify::PlanContext pc = base;
  pc.now = now;
  const bool nobody_on_duty = duty::ids(db).empty();
  // Rung 2's channel: the one kept for emergencies (SMS), known by its descriptor.
  std::string text_channel;
  for (const auto* d : pc.channels.all())
    if (d->auto_emergencies_only) text_channel = d->name;
  for (const auto& r : alerts::due(db, now, limit)) {
    auto it = seen.find(r.alert_id);
    if (it == seen.end()) it = seen.emplace(r.alert_id, alerts::find(db, r.alert_id)).first;
    const auto& a = it->second;
    if (!a || a->state == "cancelled" || a->state == "closed") {
      alerts::set_rung(db, r.alert_id, r.user_id, r.rung, std::nullopt);
      continue;
    }
    Step s{r.alert_id, r.user_id, r.handle, std::string(kRungs[std::min(r.rung + 1, kTopRung)]), "", 0};
    auto rung = std::min(r.rung + 1, kTopRung);
    std::set<std::string> had;
    auto channels = boost::json::parse(r.channels);  // kept: the loop walks inside it
    for (const auto& c : channels.as_array()) had.insert(std::string(c.as_string()));
    if (rung == 1 || rung == 2) {
      notify::SendRequest req;
      req.category = a->category;
      req.created_by = "alert:" + std::to_string(r.alert_id) + ":" + s.rung;
      req.users = {r.handle};
      if (rung == 2) req.channels = {text_channel};
      notify::PlanContext p = pc;
      const auto& rec = *a;
      p.content = [&](const store::User& u) {
        return alert_message(rec, u.language, fallback, links ? links(u.id, rec.id) : std::pair<std::string, std::string>{});
      };
      if (rung == 2 && text_channel.empty()) {
        s.detail = "skipped: no channel is kept for emergencies";
      } else if (rung == 2 && had.contains(text_channel)) {
        s.detail = "skipped: the alert went out by SMS already";
      } else if (rung == 2 && !pc.configured.contains(text_channel)) {
        s.detail = "skipped: SMS is not configured";
      } else {
        auto planned = send(db, req, p);
        if (auto* ok = std::get_if<notify::Planned>(&planned)) {
          s.jobs = static_cast<std::int64_t>(ok->jobs.size());
          std::set<std::string> used;
          for (const auto& j : ok->jobs) used.insert(j.channel);
          std::vector<std::string> names(used.begin(), used.end());
          s.detail = s.jobs == 0 ? (rung == 2 ? "skipped: no phone number" : "skipped: no channel reaches them")
                                 : "sent again on " + join(names);
          if (rung == 2 && s.jobs) s.detail = "SMS to their phone";
        } else {
          s.detail = "failed: " + std::get<std::string>(planned);
        }
      }
    } else if (rung == 3) {
      if (r.guide_handle.empty()) {
        s.detail = "skipped: not on a tour with a guide";
      } else {
        for_guides[{r.alert_id, r.guide_handle}].push_back(r.display_name + " (" + r.handle + ")");
        s.detail = "their guide " + r.guide_handle + " was told";
      }
    } else {
      for_operators[r.alert_id].push_back(r.display_name + " (" + r.handle + ")");
      s.detail = nobody_on_duty ? "nobody on duty: every operator was told" : "the operators on duty were told";
    }
    std::optional<std::int64_t> next;
    if (rung < kTopRung) next = now + escalate_ms(pc);
    alerts::set_rung(db, r.alert_id, r.user_id, rung, next);
    alerts::add_rung(db, r.alert_id, r.user_id, s.rung, s.detail, now);
    steps.push_back(std::move(s));
  }
  auto tell = [&](std::vector<std::string> users, std::optional<std::string> role, std::int64_t alert,
                  const std::vector<std::string>& names) {
    notify::SendRequest req;
    req.category = "emergency";
    req.created_by = "alert:" + std::to_string(alert) + ":escalation";
    req.users = std::move(users);
    req.role = std::move(role);
    const auto& a = seen[alert];
    req.subject = "Not answered: " + (a ? headline(*a, fallback) : std::to_string(alert));
    req.text = std::to_string(names.size()) + (names.size() == 1 ? " person has" : " people have") +
               " not answered the roll-call of alert " + std::to_string(alert) + ": " + join(names) +
               ".\nSee: tourbus alert status " + std::to_string(alert);
    return send(db, req, pc);
  };
  for (const auto& [key, names] : for_guides) (void)tell({key.second}, std::nullopt, key.first, names);
  for (const auto& [alert, names] : for_operators) {
    std::vector<std::string> handles;
    for (const auto& d : duty::list(db)) handles.push_back(d.handle);
    auto sent = handles.empty() ? tell({}, "operator", alert, names) : tell(handles, std::nullopt, alert, names);
    if (auto* err = std::get_if<std::string>(&sent))
      alerts::add_rung(db, alert, std::nullopt, "operators", "failed: " + *err, now);
  }
  return steps;
}

std::vector<Step> group_rules(store::Db& db, std::int64_t now, std::int64_t window_before_ms, std::int64_t window_after_ms) {
  std::vector<Step> steps;
  for (auto [id, due] : alerts::group_rules_pending(db)) {
    if (due > now) break;
    auto a = alerts::find(db, id);
    if (!a) continue;
    std::int64_t total = 0, answered = 0;
    for (const auto& r : alerts::recipients(db, id)) {
      ++total;
      answered += r.answer.has_value();
    }
    auto percent = total ? answered * 100 / total : 100;
    Step s{id, 0, "", "group", "", 0};
    if (total > 0 && answered * 100 < *a->group_percent * total) {
      Targets t;
      t.roles = a->group_roles;
      t.window_before_ms = window_before_ms;
      t.window_after_ms = window_after_ms;
      auto added = alerts::add_recipients(db, id, t, now, "group");
      auto n = added.contains("group") ? added["group"] : 0;
      s.detail = std::to_string(percent) + "% answered after " + std::to_string(*a->group_minutes) + " min (below " +
                 std::to_string(*a->group_percent) + "%): " + std::to_string(n) + " more people (" + join(a->group_roles) +
                 ") alerted";
      if (n > 0) alerts::set_state(db, id, "sending", now);
    } else {
      s.detail = std::to_string(percent) + "% answered after " + std::to_string(*a->group_minutes) + " min: not needed";
    }
    alerts::set_group_done(db, id, now);
    alerts::add_rung(db, id, std::nullopt, "group", s.detail, now);
    steps.push_back(std::move(s));
  }
  return steps;
}

std::vector<std::int64_t> Responders::all() const {
  std::vector<std::int64_t> out = operators;
  if (guide && std::find(out.begin(), out.end(), *guide) == out.end()) out.push_back(*guide);
  return out;
}

Responders responders(store::Db& db, std::optional<std::int64_t> tour, std::int64_t person) {
  Responders r;
  if (tour)
    if (auto t = store::tours::find(db, *tour); t && t->guide_id && *t->guide_id != person) r.guide = t->guide_id;
  r.operators = duty::ids(db);
  if (r.operators.empty()) {
    r.nobody_on_duty = true;
    store::UserFilter f;
    f.role = "operator";
    f.disabled = false;
    for (const auto& u : store::users::list(db, f)) r.operators.push_back(u.id);
  }
  std::erase(r.operators, person);
  return r;
}

std::int64_t tell(store::Db& db, const std::vector<std::int64_t>& users, const std::string& subject, const std::string& text,
                  const std::string& created_by, std::int64_t now, const notify::PlanContext& base) {
  notify::SendRequest req;
  req.category = "emergency";
  req.created_by = created_by;
  req.subject = subject;
  req.text = text;
  for (auto id : users)
    if (auto u = store::users::find_id(db, id)) req.users.push_back(u->handle);
  if (req.users.empty()) return 0;
  notify::PlanContext pc = base;
  pc.now = now;
  pc.content = nullptr;
  auto planned = send(db, req, pc);
  if (auto* ok = std::get_if<notify::Planned>(&planned)) return static_cast<std::int64_t>(ok->jobs.size());
  return 0;
}

std::int64_t notify_sos(store::Db& db, const Sos& s, const Responders& r, std::int64_t now, const notify::PlanContext& pc) {
  std::optional<Position> where;
  if (s.lat && s.lon) where = Position{s.user_id, s.tour_id.value_or(0), *s.lat, *s.lon, s.accuracy, {}, {}, {}, s.located_at.value_or(s.raised_at)};
  auto subject = "SOS: " + s.display_name + (s.rings > 1 ? " (call " + std::to_string(s.rings) + ")" : "");
  auto text = s.display_name + " (" + s.handle + ") raised an SOS" +
              (s.tour_id ? " on tour " + std::to_string(*s.tour_id) : std::string()) + ". Position: " + describe(where, now) +
              "." + (s.note ? " They said: \"" + *s.note + "\"." : std::string()) +
              "\nAcknowledge it: tourbus sos ack " + std::to_string(s.id);
  return tell(db, r.all(), subject, text, "sos:" + std::to_string(s.id), now, pc);
}

std::vector<Sos> ring(store::Db& db, std::int64_t now, std::int64_t ring_ms, const notify::PlanContext& pc) {
  auto due = sos::ringing(db, now);
  for (auto& s : due) {
    sos::rang(db, s.id, now + ring_ms);
    ++s.rings;
    notify_sos(db, s, responders(db, s.tour_id, s.user_id), now, pc);
  }
  return due;
}

std::optional<std::int64_t> next_due(store::Db& db) {
  std::optional<std::int64_t> out;
  auto take = [&](std::optional<std::int64_t> t) {
    if (t && (!out || *t < *out)) out = t;
  };
  if (!alerts::sending(db).empty()) take(0);
  take(alerts::next_due(db));
  auto rules = alerts::group_rules_pending(db);
  if (!rules.empty()) take(rules.front().second);
  take(sos::next_ring(db));
  return out;
}

}  // namespace tourbus::safety
