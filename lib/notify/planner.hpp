// Turns a send request into jobs: resolves the recipients (users, a tour's participants, a role),
// picks each one's channels (asked for, or "auto"), applies preferences, marketing consent and
// quiet hours, renders the template in the recipient's language, and writes the notification and
// its jobs in the caller's transaction. The same idempotency key twice returns the first result.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>
#include <set>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "core/config.hpp"
#include "notify/channel.hpp"
#include "notify/outbox.hpp"
#include "notify/templates.hpp"
#include "store/db.hpp"
#include "store/users.hpp"

namespace tourbus::notify {

struct SendRequest {
  std::optional<std::string> category;       // required without a template
  std::optional<std::string> template_name;  // or literal subject/text:
  std::string subject, text;
  Vars vars;
  std::vector<std::string> channels;  // empty: auto
  std::optional<std::string> idempotency_key;
  std::vector<std::string> users;     // recipients: handles,
  std::optional<std::int64_t> tour;   // a tour's participants,
  std::optional<std::string> role;    // or everyone with a role
  std::string created_by;
  bool dry_run = false;
};

struct Skipped {
  std::string user, channel, reason;  // reason: opted_out, no_consent, no_address, disabled
};

struct Planned {
  Notification notification;
  bool duplicate = false;
  std::vector<Job> jobs;
  std::vector<Skipped> skipped;
};

struct PlanContext {
  const Templates& templates;
  const Catalog& channels;           // every channel the daemon runs
  std::set<std::string> configured;  // those that can deliver with the current config
  const config::Config& config;
  std::int64_t now = 0;
  // Variables of one recipient's own (signed links: review_url, unsubscribe_url, a tracked url),
  // over the request's; "unsubscribe_url" also becomes a marketing job's List-Unsubscribe. May be empty.
  std::function<Vars(const store::User&)> personalize;
  // Content made for each recipient (alerts: the info block in their language, their answer
  // links), instead of a template or the request's literal text. May be empty.
  std::function<Rendered(const store::User&)> content;
};

// Validates, plans and (unless dry_run) stores. Errors: invalid_argument, not_found.
Result<Planned> plan(store::Db& db, const SendRequest& req, const PlanContext& ctx);

}  // namespace tourbus::notify
