#include "notify/planner.hpp"

#include <algorithm>
#include <unordered_set>

#include "core/json.hpp"

#include "core/time.hpp"
#include "notify/feed.hpp"
#include "store/tours.hpp"
#include "store/users.hpp"

namespace tourbus::notify {

namespace {

Error bad(std::string field, std::string message) { return Error(Code::invalid_argument, field + ": " + message, field); }

Result<std::vector<store::User>> recipients(store::Db& db, const SendRequest& req) {
  int targets = !req.users.empty() + req.tour.has_value() + req.role.has_value();
  if (targets != 1) return bad("users", "give exactly one of users, tour or role");
  std::vector<store::User> out;
  if (!req.users.empty()) {
    std::unordered_set<std::int64_t> seen;  // a handle named twice is one recipient
    for (const auto& h : req.users) {
      auto u = store::users::find(db, h);
      if (!u) return Error(Code::not_found, "users: no user with handle '" + h + "'", "users");
      if (seen.insert(u->id).second) out.push_back(std::move(*u));
    }
  } else if (req.tour) {
    if (!store::tours::find(db, *req.tour)) return Error(Code::not_found, "tour: no tour " + std::to_string(*req.tour), "tour");
    for (auto id : store::tours::participant_ids(db, *req.tour))
      if (auto u = store::users::find_id(db, id)) out.push_back(std::move(*u));
  } else {
    if (*req.role != "tourist" && *req.role != "guide" && *req.role != "operator")
      return bad("role", "'" + *req.role + "' is not tourist, guide or operator");
    store::UserFilter f;
    f.role = *req.role;
    for (;;) {
      auto page = store::users::list(db, f);
      if (page.empty()) break;
      f.after_id = page.back().id;
      for (auto& u : page) out.push_back(std::move(u));
    }
  }
  return out;
}

}  // namespace

Result<Planned> plan(store::Db& db, const SendRequest& req, const PlanContext& ctx) {
  if (req.idempotency_key) {
    if (auto n = outbox::find_by_key(db, *req.idempotency_key)) {
      Planned p{*n, true, {}, {}};
      p.jobs = outbox::jobs(db, JobFilter{.notification_id = n->id, .limit = 100000});
      std::ranges::reverse(p.jobs);
      return p;
    }
  }
  // What is sent.
  std::optional<Template> fixed;  // a template's category and whether it exists, checked up front
  std::string category = req.category.value_or("");
  if (req.template_name) {
    auto t = ctx.templates.find(*req.template_name, "");
    if (!t) return t.error();
    if (category.empty()) category = t->category;
    fixed = *t;
  } else if (req.text.empty() && !ctx.content) {
    return bad("text", "give a template or a text");
  }
  if (category.empty()) return bad("category", "required with a literal text");
  if (!is_category(category))
    return bad("category", "'" + category + "' is not transactional, reminder, review, marketing or emergency");
  bool emergency = category == "emergency";

  // Which channels.
  bool automatic = req.channels.empty() || (req.channels.size() == 1 && req.channels[0] == "auto");
  if (!automatic) {
    for (const auto& ch : req.channels) {
      if (!ctx.channels.find(ch)) return bad("channels", "'" + ch + "' is not auto, " + ctx.channels.names());
      if (!ctx.configured.contains(ch)) return bad("channels", ch + " is not configured on this daemon (see tourbus.toml(5))");
    }
  }

  auto people = recipients(db, req);
  if (!people) return people.error();

  Planned out;
  auto& n = out.notification;
  n.idempotency_key = req.idempotency_key;
  n.category = category;
  n.template_name = req.template_name;
  boost::json::object vars;
  for (const auto& [k, v] : req.vars) vars[k] = v;
  n.vars = json::dump(vars);
  boost::json::object target;
  if (!req.users.empty()) {
    boost::json::array a;
    for (const auto& u : req.users) a.emplace_back(u);
    target["users"] = std::move(a);
  } else if (req.tour) {
    target["tour"] = *req.tour;
  } else {
    target["role"] = *req.role;
  }
  n.target = json::dump(target);
  boost::json::array chans;
  if (automatic) chans.emplace_back("auto");
  for (const auto& ch : req.channels)
    if (ch != "auto") chans.emplace_back(ch);
  n.channels = json::dump(chans);
  n.created_by = req.created_by;
  n.created_at = ctx.now;

  for (const auto& u : *people) {
    if (u.disabled) {
      out.skipped.push_back({u.handle, "", "disabled"});
      continue;
    }
    if (category == "marketing" && !u.marketing_consent) {
      out.skipped.push_back({u.handle, "", "no_consent"});
      continue;
    }
    // Content in the recipient's language.
    Rendered content;
    Vars own = ctx.personalize ? ctx.personalize(u) : Vars{};
    if (ctx.content) {
      content = ctx.content(u);
    } else if (fixed) {
      auto t = ctx.templates.find(*req.template_name, u.language);
      if (!t) return t.error();
      Vars v = req.vars;
      for (const auto& [k, val] : own) v[k] = val;
      v.try_emplace("name", u.display_name);
      v.try_emplace("handle", u.handle);
      auto r = render(*t, v);
      if (!r) return r.error();
      content = std::move(*r);
    } else {
      content.subject = req.subject;
      content.text = req.text;
    }
    auto quiet = u.quiet_start && u.quiet_end
                     ? timeutil::quiet_until(ctx.now, u.time_zone, static_cast<int>(*u.quiet_start), static_cast<int>(*u.quiet_end))
                     : std::nullopt;
    std::vector<std::string> wanted;
    if (automatic) {
      for (const auto* d : ctx.channels.all()) {
        if (d->auto_rank == 0 || !ctx.configured.contains(std::string(d->name))) continue;
        if (d->auto_emergencies_only && !emergency) continue;
        wanted.emplace_back(d->name);
      }
    } else {
      wanted = req.channels;
    }
    for (const auto& ch : wanted) {
      if (!emergency && preferences::get(db, u.id, category, ch).value_or(true) == false) {
        out.skipped.push_back({u.handle, ch, "opted_out"});
        continue;
      }
      const auto* channel = ctx.channels.find(ch);
      auto where = channel->addresses ? channel->addresses(db, u, ctx.config) : std::vector<std::string>{};
      if (where.empty()) {
        if (!automatic) out.skipped.push_back({u.handle, ch, "no_address"});
        continue;
      }
      for (const auto& a : where) {
        Job j;
        j.user_id = u.id;
        j.handle = u.handle;
        j.display_name = u.display_name;
        j.category = category;
        j.channel = ch;
        j.address = a;
        j.lane = lane_of(category);
        j.next_at = ctx.now;
        if (!emergency && quiet && channel->interrupts) {
          j.next_at = *quiet;
          j.deferred = "quiet_hours";
        }
        j.subject = content.subject;
        j.body = content.text;
        if (!content.html.empty()) j.html = content.html;
        j.created_at = j.updated_at = ctx.now;
        if (category == "marketing")
          if (auto it = own.find("unsubscribe_url"); it != own.end()) j.unsubscribe_url = it->second;
        out.jobs.push_back(std::move(j));
      }
    }
  }
  if (req.dry_run) return out;
  n.id = outbox::insert(db, n);
  for (auto& j : out.jobs) {
    j.notification_id = n.id;
    j.id = outbox::insert_job(db, j);
  }
  return out;
}

}  // namespace tourbus::notify
