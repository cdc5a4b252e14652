// Emergency alerts: the alerts table (a CAP document as JSON, its targets, its group rule), each
// alert's recipients with their roll-call answer and escalation rung, and every rung taken.
// An Update or a Cancel is an alert of its own that references the original (updates); answers
// and escalation live on the original.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "safety/cap.hpp"
#include "store/db.hpp"

namespace tourbus::safety {

// Whom an alert targets: everyone last seen inside its areas within max_age_ms, whole tours,
// roles and named users.
struct Targets {
  std::vector<geo::Area> areas;
  std::vector<std::int64_t> tours;
  std::vector<std::string> roles, users;
  std::int64_t max_age_ms = 0;
  // Not stored: the sharing window's margins (location.window_*), to find the tour each
  // recipient is on now.
  std::int64_t window_before_ms = 0, window_after_ms = 0;
};
boost::json::value targets_json(const Targets& t);

struct AlertRecord {
  std::int64_t id = 0;
  std::string identifier, msg_type, status;
  // The notification category it is sent in: emergency for alerts; a tracked notification's own
  // (notify.send with escalate), which asks for an acknowledgement instead of safe / need help.
  std::string category = "emergency";
  std::optional<std::int64_t> updates;
  cap::Alert cap;
  std::string targets;  // JSON
  std::string state = "sending";  // sending, sent, cancelled, closed
  std::optional<std::int64_t> group_percent, group_minutes;
  std::vector<std::string> group_roles;
  std::optional<std::int64_t> group_done_at;
  std::string created_by;
  std::int64_t created_at = 0, updated_at = 0;
};

struct Recipient {
  std::int64_t alert_id = 0, user_id = 0;
  std::string handle, display_name;
  std::string reason;  // area, tour, role, user, group
  std::optional<std::int64_t> tour_id, guide_id;
  std::string guide_handle;
  std::string language;
  std::optional<std::int64_t> notified_at;
  std::string channels = "[]";
  std::optional<std::string> answer;
  std::optional<std::int64_t> answered_at;
  std::optional<std::string> answered_via, answered_by;
  std::int64_t rung = 0;
  std::optional<std::int64_t> next_at;
  std::optional<std::int64_t> incident;
};

struct Rung {
  std::int64_t id = 0, alert_id = 0;
  std::optional<std::int64_t> user_id;
  std::string handle;  // empty for the group rule
  std::string rung, detail;
  std::int64_t at = 0;
};

namespace alerts {

// Inserts the alert; a CAP identifier used before is a conflict.
Result<std::int64_t> insert(store::Db& db, const AlertRecord& a);
std::optional<AlertRecord> find(store::Db& db, std::int64_t id);
std::optional<AlertRecord> find_identifier(store::Db& db, std::string_view identifier);
// Newest first. `recipient`: only alerts sent to this user (the original's rows answer for
// updates) or, with `author`, sent by them.
std::vector<AlertRecord> list(store::Db& db, std::optional<std::string> state, std::optional<std::int64_t> recipient,
                              std::optional<std::string> author, std::int64_t limit);
void set_state(store::Db& db, std::int64_t id, std::string_view state, std::int64_t now);
// Replaces the CAP document (machine translations added as info blocks before anyone was told).
void set_cap(store::Db& db, std::int64_t id, const cap::Alert& doc);
void set_group_done(store::Db& db, std::int64_t id, std::int64_t now);
// Alerts whose fan-out is not finished.
std::vector<std::int64_t> sending(store::Db& db);
// Alerts with a group rule not yet applied: (id, due time), the earliest due first (ties by id).
std::vector<std::pair<std::int64_t, std::int64_t>> group_rules_pending(store::Db& db);

// Resolves the targets into recipient rows of `alert` (someone already a recipient stays as they
// are) and returns how many were added for each reason. Each recipient's tour and guide are the
// targeted tour, else the tour they are on now. Disabled users are left out.
std::map<std::string, std::int64_t> add_recipients(store::Db& db, std::int64_t alert, const Targets& t, std::int64_t now,
                                                    std::string_view reason_override = {});
// Copies the recipients of `from` into `alert` (an Update or Cancel reaches who the original did).
std::int64_t copy_recipients(store::Db& db, std::int64_t from, std::int64_t alert);
// People an Update reached who were not recipients of the original join its roll-call, as
// notified now (by the update), their escalation due at `next_at`. Returns how many joined.
std::int64_t adopt(store::Db& db, std::int64_t original, std::int64_t update, std::int64_t now, std::int64_t next_at);
std::vector<Recipient> recipients(store::Db& db, std::int64_t alert);
struct Tally {
  std::int64_t recipients = 0, safe = 0, need_help = 0;
};
Tally tally(store::Db& db, std::int64_t alert);
std::optional<Recipient> recipient(store::Db& db, std::int64_t alert, std::int64_t user);
// Every recipient's (user, language), for telling those online at once.
std::vector<std::pair<std::int64_t, std::string>> languages(store::Db& db, std::int64_t alert);
std::vector<Recipient> unsent(store::Db& db, std::int64_t alert, std::int64_t limit);
void mark_sent(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t now, const std::string& channels,
               std::optional<std::int64_t> next_at);
// Records an answer (a later one replaces an earlier one; need_help is never replaced by a
// guide's "seen safe"). Returns false when the user is not a recipient.
bool answer(store::Db& db, std::int64_t alert, std::int64_t user, std::string_view answer, std::string_view via,
            std::string_view by, std::int64_t now);
void set_incident(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t conversation);
// Unanswered recipients whose next rung is due, the earliest first.
std::vector<Recipient> due(store::Db& db, std::int64_t now, std::int64_t limit);
std::optional<std::int64_t> next_due(store::Db& db);
void set_rung(store::Db& db, std::int64_t alert, std::int64_t user, std::int64_t rung, std::optional<std::int64_t> next_at);
// Stops escalation for every recipient of the alert (cancelled).
void stop_escalation(store::Db& db, std::int64_t alert);
void add_rung(store::Db& db, std::int64_t alert, std::optional<std::int64_t> user, std::string_view rung,
              std::string_view detail, std::int64_t now);
std::vector<Rung> rungs(store::Db& db, std::int64_t alert);
// The user's most recent alert (original, not cancelled or closed) without an answer, else
// with one: what an SMS reply answers.
std::optional<std::int64_t> latest_for(store::Db& db, std::int64_t user);

}  // namespace alerts
}  // namespace tourbus::safety
