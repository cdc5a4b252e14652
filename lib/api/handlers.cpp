#include "api/handlers.hpp"

#include <array>
#include <unordered_map>

#include "api/schema.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "store/users.hpp"

namespace tourbus::api {

namespace handlers {
std::span<const std::span<const Binding>> families() {
  static const std::array<std::span<const Binding>, 23> all = {
      system_handlers(),  user_handlers(),   token_handlers(), tour_handlers(),     conversation_handlers(),
      message_handlers(), live_handlers(),   file_handlers(),  notify_handlers(),   feed_handlers(),
      push_handlers(),    template_handlers(), schedule_handlers(), event_handlers(),
      campaign_handlers(), link_handlers(), location_handlers(), alert_handlers(), sos_handlers(), sms_handlers(),
      translate_handlers(), call_handlers(), preview_handlers()};
  return all;
}

std::string link_url(Context& ctx, const links::Link& link) {
  auto base = ctx.config.get()->public_url;
  if (base.empty()) base = "http://" + ctx.stats.get_listen_address();
  return links::url(base, ctx.link_key, link);
}

notify::Vars unsubscribe_vars(Context& ctx, const store::User& u, std::int64_t campaign) {
  return {{"unsubscribe_url", link_url(ctx, links::Link{links::Kind::unsubscribe, u.id, campaign, 0})}};
}

std::pair<std::string, std::string> answer_links(Context& ctx, std::int64_t user, std::int64_t alert) {
  auto expires = timeutil::now_ms() + ctx.config.get()->alert_link_hours * 3'600'000;
  return {link_url(ctx, links::Link{links::Kind::safe, user, alert, expires}),
          link_url(ctx, links::Link{links::Kind::help, user, alert, expires})};
}

notify::PlanContext plan_context(Context& ctx, const notify::Templates& templates, const config::Config& cfg) {
  notify::PlanContext pc{templates, channels(ctx), {}, cfg, timeutil::now_ms()};
  if (ctx.notify) pc.configured = ctx.notify->configured();
  return pc;
}

const notify::Catalog& channels(Context& ctx) {
  static const notify::Catalog none;
  return ctx.notify ? ctx.notify->catalog() : none;
}

Result<std::int64_t> subject_user(store::Db& db, const Caller& caller, const boost::json::object& p) {
  auto user = get_string(p, "user");
  if (!user) {
    if (caller.user_id == 0) return Error(Code::invalid_argument, "user: required on the control socket", "user");
    return caller.user_id;
  }
  if (!caller.is_operator()) return Error(Code::permission_denied, "user: only operators act on other users", "user");
  auto u = store::users::find(db, *user);
  if (!u) return Error(Code::not_found, "user: no user with handle '" + *user + "'", "user");
  return u->id;
}
}  // namespace handlers

Handler handler_of(const Operation& op) {
  // Built once from the families' constant lists.
  static const auto by_name = [] {
    std::unordered_map<std::string_view, Handler> m;
    for (auto family : handlers::families())
      for (const auto& b : family) m.emplace(b.operation, b.handler);
    return m;
  }();
  auto it = by_name.find(op.name);
  return it == by_name.end() ? nullptr : it->second;
}

}  // namespace tourbus::api
