// Sending alerts and climbing the escalation ladder, as steps on the store that the runner
// (safety/runner.hpp) takes in the writer's transactions and tests take with a fake clock.
//
// An alert goes to its recipients in batches: each batch plans the recipients' notifications
// (emergency lane, every channel each has, the info block in their language with their signed
// answer links) and marks them notified in the same transaction, so a crash in between sends
// neither twice nor never. A recipient who has not answered after alert.escalate_after_seconds
// climbs one rung each time: 1 renotify (every channel again), 2 sms (if the alert did not go out
// by SMS and they have a phone), 3 guide (their guide is told), 4 operators (the operators on
// duty, else every operator). An alert's group rule ("fewer than X% answered after N minutes:
// notify these roles") is checked once, when due. Every rung is recorded (alert_rungs).
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <string>
#include <vector>

#include <boost/json/value.hpp>

#include "notify/planner.hpp"
#include "safety/alerts.hpp"
#include "safety/sos.hpp"
#include "store/db.hpp"

namespace tourbus::safety {

// The rungs, in order (index 1..4).
inline constexpr std::string_view kRungs[] = {"alert", "renotify", "sms", "guide", "operators"};
inline constexpr std::int64_t kTopRung = 4;

// A recipient's signed answer links (safe, need help) for an alert; empty strings: none.
using AnswerLinks = std::function<std::pair<std::string, std::string>(std::int64_t user, std::int64_t alert)>;

// The "alert" push and alert.show's view for a recipient: the alert in the info block chosen
// for `language`.
boost::json::object alert_view(const AlertRecord& a, std::string_view language, std::string_view fallback);
// The notification a recipient gets: subject and text in their language, with the roll-call prompt.
notify::Rendered alert_message(const AlertRecord& a, std::string_view language, std::string_view fallback,
                               const std::pair<std::string, std::string>& links);

struct Batch {
  AlertRecord alert;
  std::vector<std::pair<std::int64_t, std::string>> users;  // (id, language) notified by this batch
  // Those of them not told with an "alert" push when the alert was stored (the group rule's).
  std::vector<std::pair<std::int64_t, std::string>> to_push;
  std::int64_t jobs = 0;
  bool done = false;  // nobody is left to notify: the alert is now "sent"
};
// Notifies up to `limit` recipients of the alert not notified yet.
Batch fan_out(store::Db& db, std::int64_t alert, std::int64_t now, const notify::PlanContext& pc,
              const AnswerLinks& links, std::int64_t limit);

struct Step {
  std::int64_t alert = 0, user = 0;
  std::string handle, rung, detail;
  std::int64_t jobs = 0;
};
// Takes the next rung for up to `limit` recipients whose next one is due.
std::vector<Step> escalate(store::Db& db, std::int64_t now, const notify::PlanContext& pc, const AnswerLinks& links,
                           std::int64_t limit);
// Applies the group rules that are due; each gives a step (user 0).
std::vector<Step> group_rules(store::Db& db, std::int64_t now, std::int64_t window_before_ms, std::int64_t window_after_ms);

// Who an SOS (or a need-help answer) reaches: the person's guide on `tour`, and the operators on
// duty (every operator when nobody is on duty).
struct Responders {
  std::optional<std::int64_t> guide;
  std::vector<std::int64_t> operators;
  bool nobody_on_duty = false;
  std::vector<std::int64_t> all() const;
};
Responders responders(store::Db& db, std::optional<std::int64_t> tour, std::int64_t person);
// Sends an emergency-lane notification with a literal text to these users on every channel
// they have; returns the jobs planned (0 when it could not be planned).
std::int64_t tell(store::Db& db, const std::vector<std::int64_t>& users, const std::string& subject, const std::string& text,
                  const std::string& created_by, std::int64_t now, const notify::PlanContext& pc);
// Notifies the responders of an SOS (emergency lane, every channel); returns the jobs planned.
std::int64_t notify_sos(store::Db& db, const Sos& s, const Responders& r, std::int64_t now, const notify::PlanContext& pc);
// Rings the open SOS calls that are due again; returns them.
std::vector<Sos> ring(store::Db& db, std::int64_t now, std::int64_t ring_ms, const notify::PlanContext& pc);

// When the next step of any kind is due (nullopt: none).
std::optional<std::int64_t> next_due(store::Db& db);

}  // namespace tourbus::safety
