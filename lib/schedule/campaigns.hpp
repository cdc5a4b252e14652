// The campaigns, campaign_recipients and unsubscribes tables. A campaign's audience is fixed when
// it starts: its segment (schedule/segment.hpp) is run once into one recipient row per person.
#pragma once

#include <cstdint>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"
#include "schedule/schedules.hpp"
#include "schedule/segment.hpp"
#include "store/db.hpp"

namespace tourbus::schedule {

struct Campaign {
  std::int64_t id = 0;
  std::string name, template_name, segment;
  std::vector<std::string> channels = {"auto"};
  Vars vars;
  std::string state = "draft";  // draft, scheduled, running, paused, done, cancelled
  std::optional<Millis> start_at;
  std::int64_t rate_per_second = 0;  // 0: the config's
  std::optional<std::string> pause_reason;
  std::string created_by;
  Millis created_at = 0, updated_at = 0;
  std::optional<Millis> started_at, finished_at;
};

struct Recipient {
  std::int64_t user_id = 0;
  Millis not_before = 0;
};

// Where a campaign stands: recipients by state and skip reason, jobs by state and channel.
struct CampaignStats {
  std::int64_t targeted = 0, pending = 0, queued = 0, cancelled = 0;
  std::map<std::string, std::int64_t> skipped;        // by reason
  std::map<std::string, std::int64_t> jobs;           // by state: queued, delivered, dead, cancelled
  std::map<std::string, std::int64_t> jobs_by_channel;
  std::int64_t sent = 0;                              // jobs with at least one attempt
  std::int64_t unsubscribed = 0;
  std::int64_t opened = 0;   // in-app messages read (counted only when tracking is on)
  std::int64_t clicked = 0;  // people who followed the tracked link
};

namespace campaigns {
// already_exists when the name is taken.
Result<Campaign> insert(store::Db& db, Campaign c);
std::optional<Campaign> find(store::Db& db, std::int64_t id);
std::optional<Campaign> find_name(store::Db& db, std::string_view name);
std::vector<Campaign> list(store::Db& db);
void update(store::Db& db, const Campaign& c);
// Campaigns that are running, or scheduled to start by `now`.
std::vector<Campaign> due(store::Db& db, Millis now);
// The earliest start of a scheduled campaign.
std::optional<Millis> next_start(store::Db& db);

// The enabled users a compiled segment selects, as recipients of the campaign; returns how many.
std::int64_t target(store::Db& db, std::int64_t campaign_id, const SegmentSql& segment);
// The enabled users a compiled segment selects (previews), at most `limit`.
std::vector<std::int64_t> select(store::Db& db, const SegmentSql& segment, std::int64_t limit);
// Pending recipients whose hold has passed, in order.
std::vector<Recipient> pending(store::Db& db, std::int64_t campaign_id, Millis now, std::int64_t limit);
// The earliest hold of a pending recipient.
std::optional<Millis> next_pending(store::Db& db, std::int64_t campaign_id);
void set_recipient(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, std::string_view state,
                   std::optional<std::string> reason, std::optional<std::int64_t> notification_id, Millis at);
void hold(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, Millis until);
// Cancels the pending recipients; returns how many.
std::int64_t cancel_pending(store::Db& db, std::int64_t campaign_id, Millis at);
// The notifications a campaign enqueued.
std::vector<std::int64_t> notifications(store::Db& db, std::int64_t campaign_id);
// Jobs a campaign created on each channel since `since` (sliding windows).
std::map<std::string, std::int64_t> jobs_since(store::Db& db, std::int64_t campaign_id, Millis since);
CampaignStats stats(store::Db& db, std::int64_t campaign_id);

// False when the person had clicked already.
bool record_click(store::Db& db, std::int64_t campaign_id, std::int64_t user_id, Millis at);
void record_unsubscribe(store::Db& db, std::int64_t user_id, std::int64_t campaign_id, std::string_view source, Millis at);
}  // namespace campaigns

}  // namespace tourbus::schedule
