#include "schedule/campaign_runner.hpp"

#include <algorithm>
#include <cmath>

#include <boost/asio/use_awaitable.hpp>

#include "core/logging.hpp"
#include "core/validate.hpp"
#include "notify/outbox.hpp"
#include "store/users.hpp"

namespace tourbus::schedule {

namespace asio = boost::asio;

namespace {
// Recipients per transaction: bounded, so other writes never wait long behind a campaign.
constexpr std::int64_t kBatch = 500;
// How often a throttled campaign is looked at: its budget accrues in between.
constexpr Millis kTickMs = 250;
constexpr Millis kIdleMs = 60'000;
}  // namespace

CampaignPolicy CampaignPolicy::from(const config::Config& c) {
  CampaignPolicy p;
  p.max_per_user = c.campaign_max_per_user;
  p.cap_ms = c.campaign_cap_days * 86'400'000LL;
  p.cap_categories.clear();
  for (auto cat : config::split_list(c.campaign_cap_categories)) p.cap_categories.emplace_back(cat);
  if (auto q = validate::quiet_hours(c.campaign_quiet_hours); !c.campaign_quiet_hours.empty() && q)
    p.quiet = std::pair{q->start_minute, q->end_minute};
  return p;
}

Result<std::int64_t> start_campaign(store::Db& db, Campaign& c, Millis now) {
  auto seg = compile_segment(c.segment, now);
  if (!seg) return seg.error();
  auto n = campaigns::target(db, c.id, *seg);
  c.state = "running";
  c.started_at = now;
  c.updated_at = now;
  c.pause_reason.reset();
  campaigns::update(db, c);
  return n;
}

Result<CampaignStep> run_step(store::Db& db, Campaign& c, Millis now, std::int64_t limit, const CampaignPolicy& policy,
                              const notify::PlanContext& ctx) {
  CampaignStep step;
  auto batch = campaigns::pending(db, c.id, now, std::min(limit, kBatch));
  std::vector<store::User> ready;
  for (const auto& r : batch) {
    auto u = store::users::find_id(db, r.user_id);
    auto skip = [&](const char* reason) {
      campaigns::set_recipient(db, c.id, r.user_id, "skipped", std::string(reason), std::nullopt, now);
      ++step.skipped;
    };
    if (!u || u->disabled) {
      skip("disabled");
      continue;
    }
    if (!u->marketing_consent) {  // checked now: an unsubscribe mid-campaign counts at once
      skip("no_consent");
      continue;
    }
    if (policy.max_per_user > 0 &&
        notify::outbox::count_recent(db, u->id, now - policy.cap_ms, policy.cap_categories) >= policy.max_per_user) {
      skip("frequency_cap");
      continue;
    }
    // Waking hours in the recipient's zone: their own quiet hours, else the campaign default.
    std::optional<Millis> quiet;
    if (u->quiet_start && u->quiet_end)
      quiet = timeutil::quiet_until(now, u->time_zone, static_cast<int>(*u->quiet_start), static_cast<int>(*u->quiet_end));
    else if (policy.quiet)
      quiet = timeutil::quiet_until(now, u->time_zone, policy.quiet->first, policy.quiet->second);
    if (quiet) {
      campaigns::hold(db, c.id, u->id, *quiet);
      ++step.held;
      continue;
    }
    ready.push_back(std::move(*u));
  }
  if (!ready.empty()) {
    notify::SendRequest req;
    req.category = "marketing";
    req.template_name = c.template_name;
    req.vars = c.vars;
    req.channels = c.channels;
    for (const auto& u : ready) req.users.push_back(u.handle);
    req.created_by = "campaign:" + c.name;
    auto planned = notify::plan(db, req, ctx);
    if (!planned) return planned.error();
    std::map<std::int64_t, std::int64_t> jobs_of;
    for (const auto& j : planned->jobs) {
      ++jobs_of[j.user_id];
      ++step.jobs_by_channel[j.channel];
    }
    for (const auto& u : ready) {
      if (jobs_of[u.id] == 0) {
        campaigns::set_recipient(db, c.id, u.id, "skipped", std::string("no_channel"), std::nullopt, now);
        ++step.skipped;
      } else {
        campaigns::set_recipient(db, c.id, u.id, "queued", std::nullopt, planned->notification.id, now);
        ++step.queued;
      }
    }
  }
  if (!campaigns::next_pending(db, c.id)) {
    c.state = "done";
    c.finished_at = now;
    c.updated_at = now;
    campaigns::update(db, c);
    step.finished = true;
  }
  return step;
}

CampaignRunner::CampaignRunner(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
                               notify::Dispatcher& notify, Clock clock, Links links)
    : writer_(writer), reads_(reads), config_(config), notify_(notify), clock_(std::move(clock)),
      links_(std::move(links)), loop_(io) {}

void CampaignRunner::start() {
  loop_.start([this] { return round(); });
}

void CampaignRunner::wake() { loop_.wake(); }

void CampaignRunner::stop() { loop_.stop(); }

asio::awaitable<Millis> CampaignRunner::round() {
  auto log = logging::get("schedule");
  auto now = clock_();
  auto cfg = config_.get();
  auto due = reads_.with([&](store::Db& db) { return campaigns::due(db, now); });
  Millis wait = kIdleMs;
  for (auto& c : due) {
    if (c.state == "scheduled") {
      auto pending = writer_.run<Campaign>([c, now](store::Db& db) mutable -> Result<Campaign> {
        auto current = campaigns::find(db, c.id);
        if (!current || current->state != "scheduled") return Error(Code::conflict, "no longer scheduled");
        auto n = start_campaign(db, *current, now);
        if (!n) {
          current->state = "paused";
          current->pause_reason = "cannot start: " + n.error().message;
          current->updated_at = now;
          campaigns::update(db, *current);
        }
        return *current;
      });
      auto started = co_await std::move(pending);
      if (!started) continue;
      c = *started;
      log->info("schedule.campaign_started campaign={} state={}", c.name, c.state);
      if (c.state != "running") continue;
    }
    // The budget: a token bucket per channel at the campaign's rate, and the sliding window.
    double rate = static_cast<double>(c.rate_per_second > 0 ? c.rate_per_second : cfg->campaign_rate_per_second);
    auto& b = buckets_[c.id];
    std::int64_t budget = kBatch;
    if (rate > 0) {
      double capacity = std::max(rate, 1.0);
      if (b.refilled_at == 0) b.refilled_at = now - kTickMs;
      for (auto& [ch, t] : b.tokens) t = std::min(capacity, t + static_cast<double>(now - b.refilled_at) * rate / 1000.0);
      b.refilled_at = now;
      double least = capacity;
      for (const auto& [ch, t] : b.tokens) least = std::min(least, t);
      budget = std::min<std::int64_t>(budget, static_cast<std::int64_t>(std::floor(least)));
    }
    if (cfg->campaign_window_max > 0) {
      auto used = reads_.with([&](store::Db& db) {
        return campaigns::jobs_since(db, c.id, now - cfg->campaign_window_minutes * 60'000);
      });
      std::int64_t most = 0;
      for (const auto& [ch, n] : used) most = std::max(most, n);
      budget = std::min(budget, cfg->campaign_window_max - most);
    }
    if (budget <= 0) {
      wait = std::min(wait, kTickMs);
      continue;
    }
    auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
    auto configured = notify_.configured();
    const auto* catalog = &notify_.catalog();
    auto policy = CampaignPolicy::from(*cfg);
    auto links = links_;
    auto id = c.id;
    auto pending = writer_.run<std::pair<Campaign, CampaignStep>>(
        [=](store::Db& db) -> Result<std::pair<Campaign, CampaignStep>> {
          auto current = campaigns::find(db, id);  // paused or cancelled meanwhile: nothing
          if (!current || current->state != "running") return std::pair{Campaign{}, CampaignStep{.finished = true}};
          notify::PlanContext pc{*templates, *catalog, configured, *cfg, now};
          bool tracked = cfg->campaign_tracking == "on" && current->vars.contains("url");
          pc.personalize = [&](const store::User& u) { return links ? links(u, id, tracked) : notify::Vars{}; };
          auto step = run_step(db, *current, now, budget, policy, pc);
          if (!step) {
            // A template that cannot be rendered stops the campaign with the reason, not the daemon.
            current->state = "paused";
            current->pause_reason = "error: " + step.error().message;
            current->updated_at = now;
            campaigns::update(db, *current);
            return std::pair{*current, CampaignStep{}};
          }
          return std::pair{*current, *step};
        });
    auto r = co_await std::move(pending);
    if (!r) {
      log->error("schedule.campaign_failed campaign={} error=\"{}\"", c.name, r.error().message);
      wait = std::min<Millis>(wait, 1000);
      continue;
    }
    const auto& [after, step] = *r;
    for (const auto& [ch, n] : step.jobs_by_channel) {
      auto [it, fresh] = b.tokens.try_emplace(ch, std::max(rate, 1.0));
      it->second -= static_cast<double>(n);
    }
    if (step.queued) notify_.wake();
    if (step.queued || step.skipped || step.held)
      log->info("schedule.campaign_batch campaign={} queued={} skipped={} held={}", c.name, step.queued, step.skipped, step.held);
    if (after.state == "paused") log->warn("schedule.campaign_paused campaign={} reason=\"{}\"", c.name, after.pause_reason.value_or(""));
    if (step.finished && after.state == "done") {
      log->info("schedule.campaign_done campaign={}", c.name);
      buckets_.erase(c.id);
      continue;
    }
    if (after.state != "running") continue;
    // More now (a full batch, unthrottled), a tick (throttled), or the next hold's end.
    auto processed = step.queued + step.skipped + step.held;
    if (rate <= 0 && processed >= kBatch) {
      wait = 0;
    } else if (processed > 0) {
      wait = std::min(wait, kTickMs);
    } else {  // everyone left is held (quiet hours): sleep until the first hold ends
      auto next = reads_.with([&](store::Db& db) { return campaigns::next_pending(db, c.id); });
      if (next) wait = std::min(wait, std::max<Millis>(*next - clock_(), 0));
    }
  }
  if (auto start = reads_.with([](store::Db& db) { return campaigns::next_start(db); }))
    wait = std::min(wait, std::max<Millis>(*start - clock_(), 0));
  co_return wait;
}

}  // namespace tourbus::schedule
