// The handlers behind the operation table (api/operations.cpp), one file per family
// (system_ops.cpp, user_ops.cpp, ...). Each family file defines its handlers and lists them by
// operation name beside them; nothing else declares a handler.
#pragma once

#include <functional>
#include <span>
#include <string_view>

#include "api/context.hpp"
#include "api/operation.hpp"
#include "core/links.hpp"
#include "notify/planner.hpp"
#include "notify/templates.hpp"
#include "store/users.hpp"
#include "notify/channel.hpp"
#include "store/db.hpp"

namespace tourbus::api {

using Handler = boost::asio::awaitable<Result<Reply>> (*)(Context&, const Caller&, const boost::json::object&);

// An operation's handler, as its family lists it.
struct Binding {
  std::string_view operation;
  Handler handler;
};

// The handler of an operation; null when none is listed (a unit test checks there is exactly one
// for every operation, and none for an operation that does not exist).
Handler handler_of(const Operation& op);

namespace handlers {
// Each family's bindings, defined at the end of its file.
std::span<const Binding> system_handlers();
std::span<const Binding> user_handlers();
std::span<const Binding> token_handlers();
std::span<const Binding> tour_handlers();
std::span<const Binding> conversation_handlers();
std::span<const Binding> message_handlers();
std::span<const Binding> live_handlers();
std::span<const Binding> notify_handlers();
std::span<const Binding> file_handlers();
std::span<const Binding> feed_handlers();
std::span<const Binding> template_handlers();
std::span<const Binding> push_handlers();
std::span<const Binding> schedule_handlers();
std::span<const Binding> event_handlers();
std::span<const Binding> campaign_handlers();
std::span<const Binding> link_handlers();
std::span<const Binding> location_handlers();
std::span<const Binding> alert_handlers();
std::span<const Binding> sos_handlers();
std::span<const Binding> sms_handlers();
std::span<const Binding> translate_handlers();
std::span<const Binding> call_handlers();
std::span<const Binding> preview_handlers();
// Every family's, in this order.
std::span<const std::span<const Binding>> families();

// For handlers: the user an operation is about, the caller or (operators only) the one named by
// the parameter `user`.
Result<std::int64_t> subject_user(store::Db& db, const Caller& caller, const boost::json::object& p);
// sos.ack, for an operator answering the SOS's video call (sos_ops.cpp).
boost::asio::awaitable<Result<Reply>> sos_ack(Context& ctx, const Caller& caller, const boost::json::object& p);
// Which sessions ended: those of a user's session, or of a node that is gone (api/on_leader.hpp).
using SessionsGone = std::function<bool(std::int64_t user, std::uint64_t session)>;
// WebSocket or Socket.IO sessions ended: they leave the calls they joined (call.left to the others;
// a call with fewer than two left ends). On the event loop.
void call_sessions_closed(Context& ctx, const SessionsGone& gone);
// Sessions ended: the previews they watched lose those viewers. On the event loop.
void preview_sessions_closed(Context& ctx, const SessionsGone& gone);
// Calls and previews open in the store but not live here (their leader is gone): ended, as failed.
boost::asio::awaitable<void> end_orphan_calls(Context& ctx);
boost::asio::awaitable<void> end_orphan_previews(Context& ctx);
// This node no longer leads: its calls and previews are let go (the new leader ends them).
void drop_calls(Context& ctx);
void drop_previews(Context& ctx);
// A signed link's URL (core/links.hpp) under server.public_url, else the address listened on.
std::string link_url(Context& ctx, const links::Link& link);
// The template variable of a recipient's unsubscribe link (for a campaign, or 0).
notify::Vars unsubscribe_vars(Context& ctx, const store::User& u, std::int64_t campaign);
// A recipient's signed safe / need-help links for an alert (alert.link_hours).
std::pair<std::string, std::string> answer_links(Context& ctx, std::int64_t user, std::int64_t alert);
// A roll-call answer recorded (alert.answer, an SMS reply, a signed link).
struct Answered {
  std::int64_t alert = 0;  // the original alert
  std::string user, answer;
  std::int64_t at = 0;
  std::string via;
  std::optional<std::int64_t> incident;
  bool kept = false;  // the earlier answer stands (a guide's "seen safe" after a call for help)
};
// Records an answer; a need-help answer opens the incident conversation and tells the person's
// guide and the operators on duty.
boost::asio::awaitable<Result<Answered>> record_answer(Context& ctx, std::int64_t alert, std::int64_t user, std::string answer,
                                                       std::string via, std::string by, std::optional<std::string> note);
// A tracked notification (notify.send with escalate): sent like an alert in its own category, its
// recipients confirm it or climb the escalation ladder (docs/safety.md). Answers 202 with the alert.
boost::asio::awaitable<Result<Reply>> send_tracked(Context& ctx, const Caller& caller, notify::SendRequest req);
// Planning now with these templates and config, on the channels configured on this daemon.
notify::PlanContext plan_context(Context& ctx, const notify::Templates& templates, const config::Config& cfg);
// The notification channels the daemon runs (none without a dispatcher).
const notify::Catalog& channels(Context& ctx);
}  // namespace handlers

}  // namespace tourbus::api
