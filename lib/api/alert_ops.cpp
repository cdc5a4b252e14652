// Emergency alerts: alert.send (a CAP 1.2 document or its fields; targets by area, tour, role,
// user), alert.cancel, alert.list, alert.show, alert.cap, alert.status (the roll-call) and
// alert.answer (the SMS reply webhook, sms.inbound, is in sms_ops.cpp). Sending itself
// is the safety runner's (safety/ladder.hpp): this file stores the alert and its recipients,
// durably, before answering.
#include <algorithm>
#include <map>

#include <charconv>

#include <set>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/this_coro.hpp>
#include <boost/asio/use_awaitable.hpp>
#include <boost/json/parse.hpp>

#include "api/fanout.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/crypto.hpp"
#include "core/json.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/model.hpp"
#include "safety/alerts.hpp"
#include "safety/incident.hpp"
#include "safety/ladder.hpp"
#include "safety/rollcall.hpp"
#include "safety/runner.hpp"
#include "store/tours.hpp"
#include "translate/language.hpp"
#include "translate/runner.hpp"
#include "translate/translations.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::array;
using boost::json::object;
using safety::AlertRecord;

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

// CAP's dateTime: no "Z", an explicit offset.
std::string cap_time(std::int64_t t) { return timeutil::format_utc(t).substr(0, 19) + "+00:00"; }

std::string headline_of(const AlertRecord& a, std::string_view language) {
  if (a.cap.infos.empty()) return a.identifier;
  const auto& i = safety::cap::pick(a.cap, language, language);
  return i.headline.empty() ? i.event : i.headline;
}

// The alert a document or an operation refers to by CAP's references ("sender,identifier,sent ...").
std::optional<AlertRecord> referenced(store::Db& db, const std::string& references) {
  std::optional<AlertRecord> found;
  std::size_t at = 0;
  while (at < references.size()) {
    auto end = references.find(' ', at);
    auto ref = references.substr(at, end == std::string::npos ? std::string::npos : end - at);
    at = end == std::string::npos ? references.size() : end + 1;
    auto c1 = ref.find(',');
    auto c2 = ref.find(',', c1 == std::string::npos ? 0 : c1 + 1);
    if (c1 == std::string::npos || c2 == std::string::npos) continue;
    if (auto a = safety::alerts::find_identifier(db, ref.substr(c1 + 1, c2 - c1 - 1))) found = a;
  }
  // Always the original: an update of an update answers to the first alert.
  if (found && found->updates) found = safety::alerts::find(db, *found->updates);
  return found;
}

std::string reference_of(const AlertRecord& a) { return a.cap.sender + "," + a.identifier + "," + a.cap.sent; }

struct Sent {
  std::int64_t id = 0;
  AlertRecord alert;
  std::vector<std::pair<std::int64_t, std::string>> people;  // (user, language), to tell those online
  std::map<std::string, std::int64_t> by_reason;
  std::int64_t recipients = 0;
  bool duplicate = false;
  std::optional<std::int64_t> cancels;
};

// Everyone online hears of a stored alert at once, in their language (one event per language);
// the notifications on every channel follow in batches.
void tell_online(Context& ctx, const Sent& s) {
  auto fallback = ctx.config.get()->notify_default_language;
  std::map<std::string, std::vector<std::int64_t>> by_language;
  for (const auto& [user, language] : s.people) by_language[language].push_back(user);
  for (const auto& [language, users] : by_language)
    ctx.events.publish(users, events::push("alert", safety::alert_view(s.alert, language, fallback)), false);
}

// Machine translations of an alert into its recipients' languages that it has no <info> block in
// (a template or CAP text in their language always wins): one block per language, copied from the
// default-language block, each text the original followed by the marked translation, never instead
// of it. Waits at most translate.emergency_wait_ms; languages not back by then get the original
// alone. Stored with the alert before anyone is told; returns the languages added.
boost::asio::awaitable<std::vector<std::string>> add_machine_translations(Context& ctx, Sent& s) {
  auto cfg = ctx.config.get();
  std::vector<std::string> added;
  if (!ctx.translation || cfg->translate_emergency_wait_ms <= 0 || s.alert.cap.infos.empty()) co_return added;
  const auto& fallback = cfg->notify_default_language;
  auto source = safety::cap::pick(s.alert.cap, fallback, fallback);
  auto from = translate::primary(source.language);
  std::set<std::string> missing;
  for (const auto& [user, language] : s.people) {
    auto lang = translate::primary(language);
    if (lang.empty() || lang == from) continue;
    if (translate::primary(safety::cap::pick(s.alert.cap, language, fallback).language) != lang) missing.insert(lang);
  }
  if (from.empty() || missing.empty()) co_return added;
  // Every (language, field) at once on the translation workers; whatever is back by the deadline.
  using Info = safety::cap::Info;
  struct Job {
    std::string lang;
    std::string Info::*field;
    std::optional<std::string> text;
  };
  struct Waiting {
    Waiting(boost::asio::any_io_executor ex, std::size_t n) : timer(ex), remaining(n) {}
    boost::asio::steady_timer timer;
    std::size_t remaining;
    std::vector<Job> jobs;
  };
  auto terms = ctx.reads.with([](store::Db& db) { return translate::glossary::terms(db); });
  auto ex = co_await boost::asio::this_coro::executor;
  auto w = std::make_shared<Waiting>(ex, 0);
  for (const auto& lang : missing)
    for (auto field : {&Info::headline, &Info::description, &Info::instruction})
      if (!(source.*field).empty()) w->jobs.push_back(Job{lang, field, std::nullopt});
  w->remaining = w->jobs.size();
  w->timer.expires_after(std::chrono::milliseconds(cfg->translate_emergency_wait_ms));
  for (std::size_t i = 0; i < w->jobs.size(); ++i) {
    boost::asio::co_spawn(
        ex,
        [&ctx, w, i, text = source.*(w->jobs[i].field), from, terms]() -> boost::asio::awaitable<void> {
          auto pending = ctx.translation->run(text, from, w->jobs[i].lang, terms);
          auto out = co_await std::move(pending);
          if (out.kind == translate::Outcome::Kind::translated) w->jobs[i].text = std::move(out.text);
          if (--w->remaining == 0) w->timer.cancel();
        },
        boost::asio::detached);
  }
  boost::system::error_code ec;
  co_await w->timer.async_wait(boost::asio::redirect_error(boost::asio::use_awaitable, ec));
  auto doc = s.alert.cap;
  for (const auto& lang : missing) {
    Info info = source;
    info.language = lang;
    bool any = false;
    for (const auto& job : w->jobs) {
      if (job.lang != lang || !job.text) continue;
      auto& text = info.*(job.field);
      auto label = std::string(translate::machine_label(lang));
      text += job.field == &Info::headline ? " / " + *job.text + " (" + label + ")" : "\n\n[" + label + "] " + *job.text;
      any = true;
    }
    if (!any) continue;
    doc.infos.push_back(std::move(info));
    added.push_back(lang);
  }
  if (added.empty()) co_return added;
  auto pending = ctx.writer.run<bool>([id = s.id, doc](store::Db& db) -> Result<bool> {
    safety::alerts::set_cap(db, id, doc);
    return true;
  });
  if (auto stored = co_await std::move(pending); stored) s.alert.cap = std::move(doc);
  else added.clear();
  co_return added;
}

object sent_json(const Sent& s, bool dry_run) {
  object reasons;
  for (auto r : {"area", "tour", "role", "user"}) reasons[r] = s.by_reason.contains(r) ? s.by_reason.at(r) : 0;
  object o{{"id", dry_run ? boost::json::value(nullptr) : boost::json::value(s.id)},
           {"identifier", s.alert.identifier},
           {"msg_type", s.alert.msg_type},
           {"status", s.alert.status},
           {"state", dry_run ? "dry_run" : s.alert.state},
           {"recipients", s.recipients},
           {"by_reason", std::move(reasons)},
           {"dry_run", dry_run}};
  if (s.duplicate) o["duplicate"] = true;
  if (s.cancels) o["cancels"] = *s.cancels;
  return o;
}

// Stores the alert and its recipients. For an Update or a Cancel (of `original`), the recipients
// are the original's (plus any new targets, who join the original's roll-call); a Cancel stops
// the original's escalation.
Result<Sent> store_alert(store::Db& db, AlertRecord a, const safety::Targets& targets, std::optional<AlertRecord> original,
                         std::int64_t now, std::int64_t escalate_ms) {
  if (auto same = safety::alerts::find_identifier(db, a.identifier)) {
    Sent s;
    s.id = same->id;
    s.alert = *same;
    s.recipients = safety::alerts::tally(db, same->id).recipients;
    s.duplicate = true;
    return s;
  }
  if (original) a.updates = original->id;
  auto id = safety::alerts::insert(db, a);
  if (!id) return id.error();
  Sent s;
  s.id = *id;
  s.alert = a;
  s.alert.id = *id;
  if (original) {
    safety::alerts::copy_recipients(db, original->id, *id);
    s.by_reason = safety::alerts::add_recipients(db, *id, targets, now);
    if (a.msg_type == "Cancel") {
      safety::alerts::set_state(db, original->id, "cancelled", now);
      safety::alerts::stop_escalation(db, original->id);
      s.cancels = original->id;
    } else {
      safety::alerts::adopt(db, original->id, *id, now, now + escalate_ms);
    }
  } else {
    s.by_reason = safety::alerts::add_recipients(db, *id, targets, now);
  }
  s.recipients = safety::alerts::tally(db, *id).recipients;
  s.people = safety::alerts::languages(db, *id);
  return s;
}

// The CAP document of an alert.send built from its fields.
Result<safety::cap::Alert> from_fields(const object& p, const config::Config& cfg, std::int64_t now) {
  safety::cap::Alert a;
  a.identifier = "tourbus-" + std::to_string(now) + "-" + crypto::random_token(6);
  a.sender = "tourbus@" + (cfg.public_url.empty() ? std::string("localhost") : cfg.public_url.substr(cfg.public_url.find("//") == std::string::npos ? 0 : cfg.public_url.find("//") + 2));
  while (!a.sender.empty() && (a.sender.back() == '/')) a.sender.pop_back();
  std::replace(a.sender.begin(), a.sender.end(), '/', '.');
  std::replace(a.sender.begin(), a.sender.end(), ':', '.');
  a.sent = cap_time(now);
  a.status = get_string(p, "status").value_or("Actual");
  if (a.status != "Actual" && a.status != "Exercise" && a.status != "Test")
    return bad("status", "'" + a.status + "' is not Actual, Exercise or Test");
  a.msg_type = "Alert";
  a.scope = "Public";
  safety::cap::Info info;
  info.language = get_string(p, "language").value_or(cfg.notify_default_language);
  info.headline = get_string(p, "headline").value_or("");
  if (info.headline.empty()) return bad("headline", "required without cap");
  if (info.headline.size() > 160) return bad("headline", "at most 160 characters");
  info.description = get_string(p, "description").value_or("");
  info.instruction = get_string(p, "instruction").value_or("");
  info.event = get_string(p, "event").value_or(info.headline);
  info.categories = {get_string(p, "category").value_or("Safety")};
  info.urgency = get_string(p, "urgency").value_or("Immediate");
  info.severity = get_string(p, "severity").value_or("Severe");
  info.certainty = get_string(p, "certainty").value_or("Observed");
  safety::geo::Area area;
  for (const auto& c : get_strings(p, "circle")) {
    auto circle = safety::geo::parse_circle(c);
    if (!circle) return field_error("circle", circle.error());
    area.circles.push_back(*circle);
  }
  for (const auto& text : get_strings(p, "polygon")) {
    auto polygon = safety::geo::parse_polygon(text);
    if (!polygon) return field_error("polygon", polygon.error());
    area.polygons.push_back(*polygon);
  }
  if (!area.circles.empty() || !area.polygons.empty()) {
    area.desc = get_string(p, "area").value_or("");
    if (area.desc.empty())
      area.desc = !area.circles.empty() ? "circle " + safety::geo::format_circle(area.circles[0]) : "polygon";
    if (auto st = safety::geo::check(area); !st) return st.error();
    info.areas.push_back(std::move(area));
  }
  a.infos.push_back(std::move(info));
  if (auto st = safety::cap::validate(a); !st) return st.error();
  return a;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> alert_send(Context& ctx, const Caller& caller, const object& p) {
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  AlertRecord a;
  if (auto xml = get_string(p, "cap")) {
    for (auto f : {"headline", "description", "instruction", "event", "category", "urgency", "severity", "certainty",
                   "language", "status", "area", "circle", "polygon"})
      if (has(p, f)) co_return bad(f, "give it in the CAP document, not beside it");
    auto doc = safety::cap::parse(*xml);
    if (!doc) co_return Error(Code::invalid_argument, "cap: " + doc.error().message, "cap");
    a.cap = std::move(*doc);
  } else {
    auto doc = from_fields(p, *cfg, now);
    if (!doc) co_return doc.error();
    a.cap = std::move(*doc);
  }
  if (a.cap.msg_type != "Alert" && a.cap.msg_type != "Update" && a.cap.msg_type != "Cancel")
    co_return bad("cap", "msgType " + a.cap.msg_type + " is not sent to people (Alert, Update or Cancel)");
  if (a.cap.infos.empty() && a.cap.msg_type != "Cancel") co_return bad("cap", "an alert needs at least one <info> block");
  safety::Targets t;
  for (const auto& info : a.cap.infos)
    for (const auto& area : info.areas)
      if (!area.polygons.empty() || !area.circles.empty()) t.areas.push_back(area);
  for (const auto& s : get_strings(p, "tours")) {
    std::int64_t id = 0;
    auto [ptr, ec] = std::from_chars(s.data(), s.data() + s.size(), id);
    if (ec != std::errc() || ptr != s.data() + s.size() || id <= 0) co_return bad("tours", "'" + s + "' is not a tour id");
    t.tours.push_back(id);
  }
  t.roles = get_strings(p, "roles");
  for (const auto& r : t.roles)
    if (r != "tourist" && r != "guide" && r != "operator") co_return bad("roles", "'" + r + "' is not tourist, guide or operator");
  t.users = get_strings(p, "users");
  t.max_age_ms = get_int(p, "max_age_minutes").value_or(cfg->alert_max_location_age_minutes) * 60'000;
  if (t.max_age_ms <= 0 || t.max_age_ms > 10'080LL * 60'000) co_return bad("max_age_minutes", "1-10080");
  t.window_before_ms = cfg->location_window_before_minutes * 60'000;
  t.window_after_ms = cfg->location_window_after_minutes * 60'000;
  auto update = get_int(p, "update");
  a.group_percent = get_int(p, "group_percent");
  a.group_minutes = get_int(p, "group_minutes");
  a.group_roles = get_strings(p, "group_roles");
  if (a.group_percent || a.group_minutes || !a.group_roles.empty()) {
    if (!a.group_percent || !a.group_minutes || a.group_roles.empty())
      co_return bad("group_percent", "the group rule needs group_percent, group_minutes and group_roles together");
    if (*a.group_percent < 1 || *a.group_percent > 100) co_return bad("group_percent", "1-100");
    if (*a.group_minutes < 1 || *a.group_minutes > 1440) co_return bad("group_minutes", "1-1440");
    for (const auto& r : a.group_roles)
      if (r != "tourist" && r != "guide" && r != "operator") co_return bad("group_roles", "'" + r + "' is not tourist, guide or operator");
  }
  // Guides alert their own groups, nothing wider.
  if (!caller.is_operator() && (!t.areas.empty() || !t.roles.empty() || !t.users.empty() || a.group_percent))
    co_return Error(Code::permission_denied, "guides alert the tours they guide (tours); areas, roles and users are for operators", "tours");
  a.identifier = a.cap.identifier;
  a.msg_type = a.cap.msg_type;
  a.status = a.cap.status;
  a.targets = json::dump(safety::targets_json(t));
  a.created_by = caller.handle.empty() ? "operator" : caller.handle;
  a.created_at = a.updated_at = now;
  bool dry_run = get_bool(p, "dry_run").value_or(false);
  auto escalate_ms = cfg->alert_escalate_after_seconds * 1000;
  auto counted = std::make_shared<std::optional<Sent>>();
  auto user = caller.user_id;
  bool is_operator = caller.is_operator();
  auto pending = ctx.writer.run<Sent>([=](store::Db& db) mutable -> Result<Sent> {
    std::optional<AlertRecord> original;
    if (update) {
      original = safety::alerts::find(db, *update);
      if (original && original->updates) original = safety::alerts::find(db, *original->updates);
      if (!original) return Error(Code::not_found, "update: no alert " + std::to_string(*update), "update");
      if (a.msg_type == "Alert") a.msg_type = a.cap.msg_type = "Update";
      a.cap.references = reference_of(*original);
    } else if (a.msg_type != "Alert") {
      original = referenced(db, a.cap.references);
      if (!original) return bad("cap", a.msg_type + " references no alert sent here (references: '" + a.cap.references + "')");
    }
    if (original && (original->state == "cancelled" || original->state == "closed"))
      return Error(Code::conflict, "alert " + std::to_string(original->id) + " was " + original->state, "update");
    if (!is_operator)
      for (auto id : t.tours) {
        auto tour = store::tours::find(db, id);
        if (!tour || !tour->guide_id || *tour->guide_id != user)
          return Error(Code::permission_denied, "tours: you do not guide tour " + std::to_string(id), "tours");
      }
    for (auto id : t.tours)
      if (!store::tours::find(db, id)) return Error(Code::not_found, "tours: no tour " + std::to_string(id), "tours");
    for (const auto& h : t.users)
      if (!store::users::find(db, h)) return Error(Code::not_found, "users: no user with handle '" + h + "'", "users");
    if (!original && t.areas.empty() && t.tours.empty() && t.roles.empty() && t.users.empty())
      return bad("tours", "whom? give an area (circle, polygon or the CAP document's), tours, roles or users");
    auto s = store_alert(db, a, t, original, now, escalate_ms);
    if (!s) return s.error();
    if (dry_run) {
      *counted = *s;
      return Error(Code::internal, "dry run");  // rolls the write back
    }
    return s;
  });
  auto r = co_await std::move(pending);
  if (dry_run && counted->has_value()) co_return Reply::ok(sent_json(**counted, true));
  if (!r) co_return r.error();
  auto log = logging::get("safety");
  if (r->duplicate) {
    log->info("safety.alert_duplicate alert={} identifier={}", r->id, r->alert.identifier);
    co_return Reply::ok(sent_json(*r, false));
  }
  log->warn("safety.alert_created alert={} identifier={} type={} status={} recipients={} by={}", r->id, r->alert.identifier,
            r->alert.msg_type, r->alert.status, r->recipients, a.created_by);
  auto translating = add_machine_translations(ctx, *r);
  auto machine = co_await std::move(translating);
  if (!machine.empty()) {
    std::string langs;
    for (const auto& l : machine) langs += (langs.empty() ? "" : ",") + l;
    log->info("safety.alert_translated alert={} languages={}", r->id, langs);
  }
  tell_online(ctx, *r);
  if (ctx.safety) ctx.safety->wake();
  co_return Reply{202, sent_json(*r, false)};
}

boost::asio::awaitable<Result<Reply>> send_tracked(Context& ctx, const Caller& caller, notify::SendRequest req) {
  auto cfg = ctx.config.get();
  auto now = timeutil::now_ms();
  auto category = req.category.value_or("");
  if (!notify::is_category(category) || category == "marketing")
    co_return bad("category", "a tracked notification is transactional, reminder, review or emergency");
  if (req.text.empty()) co_return bad("text", "required");
  int targets = !req.users.empty() + req.tour.has_value() + req.role.has_value();
  if (targets != 1) co_return bad("users", "give exactly one of users, tour or role");
  AlertRecord a;
  a.cap.identifier = req.idempotency_key ? "tourbus-notify-" + *req.idempotency_key
                                         : "tourbus-notify-" + std::to_string(now) + "-" + crypto::random_token(6);
  for (auto& c : a.cap.identifier)
    if (c == ' ' || c == ',' || c == '<' || c == '&') c = '_';
  a.cap.sender = "tourbus";
  a.cap.sent = cap_time(now);
  a.cap.status = "Actual";
  a.cap.msg_type = "Alert";
  a.cap.scope = "Public";
  safety::cap::Info info;
  info.language = cfg->notify_default_language;
  info.categories = {"Other"};
  info.event = category;
  info.urgency = category == "emergency" ? "Immediate" : "Expected";
  info.severity = category == "emergency" ? "Severe" : "Minor";
  info.certainty = "Observed";
  info.headline = req.subject.empty() ? req.text.substr(0, 160) : req.subject.substr(0, 160);
  info.description = req.text;
  a.cap.infos.push_back(std::move(info));
  a.identifier = a.cap.identifier;
  a.msg_type = "Alert";
  a.status = "Actual";
  a.category = category;
  safety::Targets t;
  t.users = req.users;
  if (req.tour) t.tours = {*req.tour};
  if (req.role) t.roles = {*req.role};
  t.window_before_ms = cfg->location_window_before_minutes * 60'000;
  t.window_after_ms = cfg->location_window_after_minutes * 60'000;
  a.targets = json::dump(safety::targets_json(t));
  a.created_by = caller.handle.empty() ? "operator" : caller.handle;
  a.created_at = a.updated_at = now;
  auto escalate_ms = cfg->alert_escalate_after_seconds * 1000;
  auto pending = ctx.writer.run<Sent>([=](store::Db& db) -> Result<Sent> {
    if (req.tour && !store::tours::find(db, *req.tour)) return Error(Code::not_found, "tour: no tour " + std::to_string(*req.tour), "tour");
    for (const auto& h : t.users)
      if (!store::users::find(db, h)) return Error(Code::not_found, "users: no user with handle '" + h + "'", "users");
    return store_alert(db, a, t, std::nullopt, now, escalate_ms);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->info("safety.tracked_notification alert={} category={} recipients={} duplicate={} by={}", r->id, category,
                               r->recipients, r->duplicate, a.created_by);
  if (!r->duplicate) tell_online(ctx, *r);
  if (!r->duplicate && ctx.safety) ctx.safety->wake();
  co_return Reply{r->duplicate ? 200 : 202, object{{"alert", r->id}, {"identifier", r->alert.identifier}, {"category", category},
                                                   {"recipients", r->recipients}, {"duplicate", r->duplicate}, {"tracked", true}}};
}

namespace {

// The alert to cancel or close (`verb`): the original of an Update, the caller's to end (a guide's
// own), and not ended already.
Result<AlertRecord> to_end(store::Db& db, const Caller& caller, std::int64_t id, const std::string& verb) {
  auto original = safety::alerts::find(db, id);
  if (original && original->updates) original = safety::alerts::find(db, *original->updates);
  if (!original) return Error(Code::not_found, "id: no alert " + std::to_string(id), "id");
  if (!caller.is_operator() && original->created_by != caller.handle)
    return Error(Code::permission_denied, "id: guides " + verb + " only the alerts they sent", "id");
  if (original->state == "cancelled" || original->state == "closed")
    return Error(Code::conflict, "id: alert " + std::to_string(original->id) + " is " + original->state + " already", "id");
  return std::move(*original);
}

}  // namespace

boost::asio::awaitable<Result<Reply>> alert_cancel(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto note = get_string(p, "note");
  auto now = timeutil::now_ms();
  auto cfg = ctx.config.get();
  auto pending = ctx.writer.run<Sent>([=](store::Db& db) -> Result<Sent> {
    auto original = to_end(db, caller, id, "cancel");
    if (!original) return original.error();
    AlertRecord c;
    c.cap = original->cap;
    c.cap.identifier = original->identifier + "-cancel-" + std::to_string(now);
    c.cap.sent = cap_time(now);
    c.cap.msg_type = "Cancel";
    c.cap.references = reference_of(*original);
    c.cap.note = note.value_or("");
    for (auto& info : c.cap.infos)
      if (note && !note->empty()) info.description = *note;
    c.identifier = c.cap.identifier;
    c.msg_type = "Cancel";
    c.status = original->status;
    c.targets = original->targets;
    c.created_by = caller.handle.empty() ? "operator" : caller.handle;
    c.created_at = c.updated_at = now;
    return store_alert(db, c, safety::Targets{}, std::move(*original), now, 0);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->warn("safety.alert_cancelled alert={} cancel={} recipients={}", r->cancels.value_or(0), r->id, r->recipients);
  tell_online(ctx, *r);
  if (ctx.safety) ctx.safety->wake();
  co_return Reply{202, object{{"id", r->id}, {"cancels", r->cancels.value_or(0)}, {"recipients", r->recipients}}};
}

boost::asio::awaitable<Result<Reply>> alert_close(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto now = timeutil::now_ms();
  struct Closed {
    std::int64_t id = 0;
    safety::alerts::Tally tally;
  };
  auto pending = ctx.writer.run<Closed>([=](store::Db& db) -> Result<Closed> {
    auto original = to_end(db, caller, id, "close");
    if (!original) return original.error();
    safety::alerts::set_state(db, original->id, "closed", now);
    safety::alerts::stop_escalation(db, original->id);
    return Closed{original->id, safety::alerts::tally(db, original->id)};
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("safety")->warn("safety.alert_closed alert={} by={} recipients={} safe={} need_help={}", r->id,
                               caller.handle.empty() ? "operator" : caller.handle, r->tally.recipients, r->tally.safe,
                               r->tally.need_help);
  co_return Reply::ok(object{{"id", r->id},
                             {"state", "closed"},
                             {"recipients", r->tally.recipients},
                             {"safe", r->tally.safe},
                             {"need_help", r->tally.need_help},
                             {"unanswered", r->tally.recipients - r->tally.safe - r->tally.need_help}});
}

boost::asio::awaitable<Result<Reply>> alert_list(Context& ctx, const Caller& caller, const object& p) {
  auto state = get_string(p, "state");
  if (state && *state != "sending" && *state != "sent" && *state != "cancelled" && *state != "closed")
    co_return bad("state", "sending, sent, cancelled or closed");
  auto limit = get_int(p, "limit").value_or(100);
  if (limit < 1 || limit > 1000) co_return bad("limit", "1-1000");
  auto language = ctx.config.get()->notify_default_language;
  auto r = ctx.reads.with([&](store::Db& db) {
    std::optional<std::int64_t> mine;
    if (!caller.is_operator()) mine = caller.user_id;
    array out;
    std::optional<std::string> author;  // guides also see the alerts they sent
    if (mine && !caller.handle.empty()) author = caller.handle;
    for (const auto& a : safety::alerts::list(db, state, mine, author, limit)) {
      auto original = a.updates.value_or(a.id);
      auto t = safety::alerts::tally(db, original);
      object o{{"id", a.id},
               {"identifier", a.identifier},
               {"msg_type", a.msg_type},
               {"status", a.status},
               {"state", a.state},
               {"headline", headline_of(a, language)},
               {"created_at", timeutil::format_utc(a.created_at)},
               {"created_by", a.created_by},
               {"recipients", t.recipients},
               {"answered", t.safe + t.need_help}};
      if (mine) {
        auto me = safety::alerts::recipient(db, original, *mine);
        o["my_answer"] = me && me->answer ? boost::json::value(*me->answer) : nullptr;
      }
      out.push_back(std::move(o));
    }
    return object{{"alerts", std::move(out)}};
  });
  co_return Reply::ok(std::move(r));
}

boost::asio::awaitable<Result<Reply>> alert_show(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto fallback = ctx.config.get()->notify_default_language;
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto a = safety::alerts::find(db, id);
    auto none = Error(Code::not_found, "id: no alert " + std::to_string(id), "id");
    if (!a) return none;
    if (caller.is_operator() || a->created_by == caller.handle) {
      auto t = safety::alerts::tally(db, a->updates.value_or(a->id));
      return object{{"id", a->id},
                    {"identifier", a->identifier},
                    {"msg_type", a->msg_type},
                    {"status", a->status},
                    {"state", a->state},
                    {"updates", a->updates ? boost::json::value(*a->updates) : nullptr},
                    {"created_at", timeutil::format_utc(a->created_at)},
                    {"created_by", a->created_by},
                    {"recipients", t.recipients},
                    {"targets", boost::json::parse(a->targets)},
                    {"cap", safety::cap::to_json(a->cap)}};
    }
    // A recipient sees the alert in their language, with their own answer.
    auto me = safety::alerts::recipient(db, a->updates.value_or(a->id), caller.user_id);
    if (!me) return none;
    auto u = store::users::find_id(db, caller.user_id);
    auto o = safety::alert_view(*a, u ? u->language : fallback, fallback);
    o["my_answer"] = me->answer ? boost::json::value(*me->answer) : nullptr;
    o["answered_at"] = time_or_null(me->answered_at);
    o["incident"] = me->incident ? boost::json::value(*me->incident) : nullptr;  // the conversation of a call for help
    return o;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Reply>> alert_cap(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto a = ctx.reads.with([&](store::Db& db) { return safety::alerts::find(db, id); });
  if (!a || (!caller.is_operator() && a->created_by != caller.handle))
    co_return Error(Code::not_found, "id: no alert " + std::to_string(id), "id");
  Reply r;
  r.content_type = "application/cap+xml; charset=utf-8";
  r.text = safety::cap::to_xml(a->cap);
  co_return r;
}

boost::asio::awaitable<Result<Reply>> alert_status(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto fallback = ctx.config.get()->notify_default_language;
  auto now = timeutil::now_ms();
  auto r = ctx.reads.with([&](store::Db& db) -> Result<object> {
    auto a = safety::alerts::find(db, id);
    if (a && a->updates) a = safety::alerts::find(db, *a->updates);
    auto none = Error(Code::not_found, "id: no alert " + std::to_string(id), "id");
    if (!a) return none;
    auto all = safety::alerts::recipients(db, a->id);
    // Guides see the people of the tours they guide; operators (and whoever sent it) everyone.
    bool everyone = caller.is_operator() || a->created_by == caller.handle;
    std::vector<safety::Recipient> people;
    for (auto& r : all)
      if (everyone || (r.guide_id && *r.guide_id == caller.user_id) || r.user_id == caller.user_id) people.push_back(std::move(r));
    if (!everyone && people.empty()) return none;
    struct Count {
      std::int64_t recipients = 0, safe = 0, need_help = 0;
      std::string title, guide;
    };
    auto count = [](Count& c, const safety::Recipient& r) {
      ++c.recipients;
      c.safe += r.answer == "safe";
      c.need_help += r.answer == "need_help";
    };
    auto count_json = [](const Count& c) {
      return object{{"recipients", c.recipients}, {"safe", c.safe}, {"need_help", c.need_help},
                    {"no_answer", c.recipients - c.safe - c.need_help}};
    };
    Count total;
    std::map<std::int64_t, Count> tours;
    std::map<std::string, Count> guides;
    array list;
    // Need help first, then not answered, then safe; by name within each.
    std::stable_sort(people.begin(), people.end(), [](const auto& x, const auto& y) {
      auto rank = [](const auto& r) { return r.answer == "need_help" ? 0 : !r.answer ? 1 : 2; };
      return rank(x) < rank(y);
    });
    for (const auto& r : people) {
      count(total, r);
      if (r.tour_id) {
        auto& c = tours[*r.tour_id];
        if (c.title.empty())
          if (auto t = store::tours::find(db, *r.tour_id)) {
            c.title = t->title;
            c.guide = t->guide_handle.value_or("");
          }
        count(c, r);
      }
      count(guides[r.guide_handle], r);
      boost::json::array channels;
      auto used = boost::json::parse(r.channels);  // kept: the loop walks inside it
      for (const auto& ch : used.as_array()) channels.push_back(ch);
      list.push_back(object{{"user", r.handle},
                            {"display_name", r.display_name},
                            {"tour", r.tour_id ? boost::json::value(*r.tour_id) : nullptr},
                            {"guide", r.guide_handle.empty() ? boost::json::value(nullptr) : boost::json::value(r.guide_handle)},
                            {"reason", r.reason},
                            {"answer", r.answer ? boost::json::value(*r.answer) : nullptr},
                            {"answered_at", time_or_null(r.answered_at)},
                            {"via", r.answered_via ? boost::json::value(*r.answered_via) : nullptr},
                            {"by", r.answered_by ? boost::json::value(*r.answered_by) : nullptr},
                            {"notified_at", time_or_null(r.notified_at)},
                            {"rung", safety::kRungs[std::clamp<std::int64_t>(r.rung, 0, safety::kTopRung)]},
                            {"next_rung_at", time_or_null(r.next_at)},
                            {"channels", std::move(channels)},
                            {"incident", r.incident ? boost::json::value(*r.incident) : nullptr}});
    }
    array tour_list, guide_list, rung_list;
    for (const auto& [tid, c] : tours) {
      auto o = count_json(c);
      o["tour"] = tid;
      o["title"] = c.title;
      o["guide"] = c.guide.empty() ? boost::json::value(nullptr) : boost::json::value(c.guide);
      tour_list.push_back(std::move(o));
    }
    for (const auto& [g, c] : guides) {
      auto o = count_json(c);
      o["guide"] = g.empty() ? boost::json::value(nullptr) : boost::json::value(g);
      guide_list.push_back(std::move(o));
    }
    std::set<std::int64_t> visible;
    for (const auto& r : people) visible.insert(r.user_id);
    for (const auto& s : safety::alerts::rungs(db, a->id)) {
      if (s.user_id && !visible.contains(*s.user_id)) continue;
      if (!s.user_id && !everyone) continue;
      rung_list.push_back(object{{"at", timeutil::format_utc(s.at)},
                                 {"user", s.user_id ? boost::json::value(s.handle) : nullptr},
                                 {"rung", s.rung},
                                 {"detail", s.detail}});
    }
    auto o = count_json(total);
    auto answered = total.safe + total.need_help;
    o["id"] = a->id;
    o["identifier"] = a->identifier;
    o["headline"] = headline_of(*a, fallback);
    o["msg_type"] = a->msg_type;
    o["status"] = a->status;
    o["state"] = a->state;
    o["created_at"] = timeutil::format_utc(a->created_at);
    o["age_seconds"] = (now - a->created_at) / 1000;
    o["answered_percent"] = total.recipients ? answered * 100 / total.recipients : 0;
    o["tours"] = std::move(tour_list);
    o["guides"] = std::move(guide_list);
    o["people"] = std::move(list);
    o["rungs"] = std::move(rung_list);
    if (a->group_percent) {
      boost::json::array roles;
      for (const auto& r : a->group_roles) roles.emplace_back(r);
      o["group_rule"] = object{{"percent", *a->group_percent}, {"minutes", *a->group_minutes}, {"roles", std::move(roles)},
                               {"done_at", time_or_null(a->group_done_at)}};
    } else {
      o["group_rule"] = nullptr;
    }
    return o;
  });
  if (!r) co_return r.error();
  co_return Reply::ok(std::move(*r));
}

boost::asio::awaitable<Result<Answered>> record_answer(Context& ctx, std::int64_t alert, std::int64_t user, std::string answer,
                                                       std::string via, std::string by, std::optional<std::string> note) {
  auto now = timeutil::now_ms();
  auto cfg = ctx.config.get();
  auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
  auto pc = plan_context(ctx, *templates, *cfg);
  struct Done {
    Answered answered;
    std::vector<std::int64_t> told;  // who hears of the answer: the guide
    std::optional<safety::Incident> incident;
    std::int64_t jobs = 0;
  };
  auto pending = ctx.writer.run<Done>([=](store::Db& db) -> Result<Done> {
    auto a = safety::alerts::find(db, alert);
    if (a && a->updates) a = safety::alerts::find(db, *a->updates);
    if (!a) return Error(Code::not_found, "id: no alert " + std::to_string(alert), "id");
    auto before = safety::alerts::recipient(db, a->id, user);
    if (!before) return Error(Code::not_found, "id: alert " + std::to_string(a->id) + " was not sent to this person", "id");
    if (a->state == "cancelled" || a->state == "closed")
      return Error(Code::conflict, "id: alert " + std::to_string(a->id) + " was " + a->state + " (answers are no longer taken)", "id");
    safety::alerts::answer(db, a->id, user, answer, via, by, now);
    auto r = *safety::alerts::recipient(db, a->id, user);
    Done d;
    d.answered = Answered{a->id, r.handle, r.answer.value_or(answer), r.answered_at.value_or(now), r.answered_via.value_or(via),
                          r.incident, r.answer != answer};
    if (r.guide_id) d.told.push_back(*r.guide_id);
    if (answer == "need_help" && !r.incident) {
      auto who = safety::responders(db, r.tour_id, user);
      auto where = safety::locations::last(db, user);
      auto about = "alert " + std::to_string(a->id) + ": " + headline_of(*a, cfg->notify_default_language);
      auto incident = safety::open_incident(db, user, who.guide, who.operators, about, note, where, now);
      safety::alerts::set_incident(db, a->id, user, incident.conversation);
      d.answered.incident = incident.conversation;
      d.jobs = safety::tell(db, who.all(), "Needs help: " + r.display_name,
                            r.display_name + " (" + r.handle + ") answered the roll-call of " + about +
                                ": they need help. Last position: " + safety::describe(where, now) +
                                ". The incident conversation is " + std::to_string(incident.conversation) + ".",
                            "alert:" + std::to_string(a->id) + ":help", now, pc);
      d.incident = std::move(incident);
    }
    return d;
  });
  auto d = co_await std::move(pending);
  if (!d) co_return d.error();
  auto log = logging::get("safety");
  log->info("safety.answered alert={} user={} answer={} via={} by={}", d->answered.alert, d->answered.user, d->answered.answer,
            d->answered.via, by);
  if (d->incident) {
    log->warn("safety.incident alert={} user={} conversation={}", d->answered.alert, d->answered.user, d->incident->conversation);
    announce(ctx, d->incident->notice);
  }
  if (d->jobs && ctx.notify) ctx.notify->wake();
  ctx.events.publish(d->told, events::push("alert.answer", object{{"alert", d->answered.alert},
                                                                 {"user", d->answered.user},
                                                                 {"answer", d->answered.answer},
                                                                 {"via", d->answered.via},
                                                                 {"by", by},
                                                                 {"at", timeutil::format_utc(d->answered.at)}}),
                     true);
  co_return d->answered;
}

boost::asio::awaitable<Result<Reply>> alert_answer(Context& ctx, const Caller& caller, const object& p) {
  auto id = *get_int(p, "id");
  auto given = *get_string(p, "answer");
  auto answer = safety::rollcall::parse_name(given);
  if (!answer) co_return bad("answer", "'" + given + "' is not safe or need_help");
  auto note = get_string(p, "note");
  if (note && note->size() > 1000) co_return bad("note", "at most 1000 characters");
  auto handle = get_string(p, "user");
  std::int64_t user = caller.user_id;
  std::string via = caller.transport == Transport::websocket ? "websocket" : "app";
  std::string by = caller.handle.empty() ? "operator" : caller.handle;
  if (handle && *handle != caller.handle) {
    if (caller.role == Role::tourist) co_return Error(Code::permission_denied, "user: tourists answer for themselves", "user");
    auto who = ctx.reads.with([&](store::Db& db) -> Result<std::int64_t> {
      auto u = store::users::find(db, *handle);
      if (!u) return Error(Code::not_found, "user: no user with handle '" + *handle + "'", "user");
      if (caller.is_operator()) return u->id;
      // A guide answers for the people of the tours they guide.
      auto a = safety::alerts::find(db, id);
      auto r = a ? safety::alerts::recipient(db, a->updates.value_or(a->id), u->id) : std::nullopt;
      if (!r || !r->guide_id || *r->guide_id != caller.user_id)
        return Error(Code::permission_denied, "user: " + *handle + " is not on a tour you guide", "user");
      return u->id;
    });
    if (!who) co_return who.error();
    user = *who;
    via = caller.is_operator() ? "operator" : "guide";
  } else if (user == 0) {
    co_return bad("user", "required on the control socket (whom are you answering for?)");
  }
  auto pending = record_answer(ctx, id, user, std::string(safety::rollcall::name(*answer)), via, by, note);
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  co_return Reply::ok(object{{"alert", r->alert},
                             {"user", r->user},
                             {"answer", r->answer},
                             {"answered_at", timeutil::format_utc(r->at)},
                             {"via", r->via},
                             {"kept", r->kept},
                             {"incident", r->incident ? boost::json::value(*r->incident) : nullptr}});
}

namespace {
const Binding kBindings[] = {
    {"alert.send", alert_send},     {"alert.cancel", alert_cancel}, {"alert.close", alert_close}, {"alert.list", alert_list},
    {"alert.show", alert_show},     {"alert.cap", alert_cap},       {"alert.status", alert_status},
    {"alert.answer", alert_answer},
};
}  // namespace

std::span<const Binding> alert_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
