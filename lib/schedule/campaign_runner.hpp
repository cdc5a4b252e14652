// Running campaigns: a started campaign's recipients are enqueued in small batches, each batch in
// one transaction with its recipients' new state, so a restart neither skips nor repeats anyone.
// Every batch re-checks consent (an unsubscribe takes effect at once) and the frequency cap, and
// holds people whose local time is inside quiet hours until those end. The runner throttles each
// campaign per channel (a rate, and optionally a sliding window) and starts scheduled ones.
#pragma once

#include <cstdint>
#include <functional>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "core/config.hpp"
#include "notify/dispatcher.hpp"
#include "notify/planner.hpp"
#include "schedule/campaigns.hpp"
#include "schedule/wake_loop.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::schedule {

// The rules every batch applies (campaign.* in tourbus.toml(5)).
struct CampaignPolicy {
  std::int64_t max_per_user = 1;  // frequency cap (0: none) ...
  Millis cap_ms = 7 * 86'400'000LL;  // ... within this long
  std::vector<std::string> cap_categories = {"marketing"};
  std::optional<std::pair<int, int>> quiet;  // minutes after midnight, for people without their own

  static CampaignPolicy from(const config::Config& c);
};

struct CampaignStep {
  std::int64_t queued = 0, skipped = 0, held = 0;
  std::map<std::string, std::int64_t> jobs_by_channel;
  bool finished = false;  // nobody is left pending
};

// Fixes a campaign's recipients from its segment and marks it running. Errors: the segment's.
Result<std::int64_t> start_campaign(store::Db& db, Campaign& c, Millis now);
// Enqueues up to `limit` recipients of a running campaign whose hold has passed.
Result<CampaignStep> run_step(store::Db& db, Campaign& c, Millis now, std::int64_t limit, const CampaignPolicy& policy,
                              const notify::PlanContext& ctx);

class CampaignRunner {
 public:
  using Clock = std::function<Millis()>;
  // The signed links of one recipient for a campaign: unsubscribe_url, and with `tracked` a url
  // that counts the click and leads to the campaign's own url.
  using Links = std::function<notify::Vars(const store::User&, std::int64_t campaign_id, bool tracked)>;

  CampaignRunner(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
                 notify::Dispatcher& notify, Clock clock, Links links);
  // When this loop runs on a cluster (the leader only); set before start().
  void set_shift(Shift shift) { loop_.set_shift(shift); }
  void start();
  // Campaigns changed (started, resumed, scheduled): look again now. Safe from any thread.
  void wake();
  void stop();

 private:
  struct Bucket {
    std::map<std::string, double> tokens;  // per channel
    Millis refilled_at = 0;
  };
  // One round over the due campaigns; returns when to look again (ms from now).
  boost::asio::awaitable<Millis> round();

  store::Writer& writer_;
  store::ReadPool& reads_;
  config::Holder& config_;
  notify::Dispatcher& notify_;
  Clock clock_;
  Links links_;
  WakeLoop loop_;
  std::map<std::int64_t, Bucket> buckets_;  // per campaign
};

}  // namespace tourbus::schedule
