#include "schedule/scheduler.hpp"

#include <boost/asio/use_awaitable.hpp>

#include "core/logging.hpp"
#include "schedule/fire.hpp"
#include "schedule/schedules.hpp"

namespace tourbus::schedule {

namespace asio = boost::asio;

namespace {
// Firings per write transaction: big enough to fire 100,000 quickly, small enough that other
// writes are not held up behind one batch for long.
constexpr std::size_t kBatch = 256;
// The longest sleep: a wall clock set forward is noticed within it.
constexpr timeutil::Millis kMaxSleepMs = 60'000;
}  // namespace

Scheduler::Scheduler(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
                     notify::Dispatcher& notify, Clock clock, TourLinks links)
    : writer_(writer), reads_(reads), config_(config), notify_(notify), clock_(std::move(clock)),
      links_(std::move(links)), loop_(io) {}

void Scheduler::start() {
  loop_.start([this] { return round(); });
}

void Scheduler::wake() { loop_.wake(); }

void Scheduler::stop() { loop_.stop(); }

asio::awaitable<bool> Scheduler::fire_all() {
  auto log = logging::get("schedule");
  for (;;) {
    auto cfg = config_.get();
    auto templates = std::make_shared<notify::Templates>(cfg->templates_dir(), cfg->notify_default_language);
    auto configured = notify_.configured();
    const auto* catalog = &notify_.catalog();
    auto now = clock_();
    auto links = links_;
    auto pending = writer_.run<std::vector<Fired>>(
        [cfg, templates, configured, catalog, now, links](store::Db& db) -> Result<std::vector<Fired>> {
          notify::PlanContext pc{*templates, *catalog, configured, *cfg, now};
          return fire_due(db, now, pc, kBatch, links);
        });
    auto done = co_await std::move(pending);
    if (!done) {
      log->error("schedule.fire_failed error=\"{}\"", done.error().message);
      co_return false;
    }
    bool any = false;
    for (const auto& r : *done) {
      const auto& f = r.firing;
      if (r.state == "fired") {
        any = true;
        log->info("schedule.fired firing={} schedule=\"{}\" due={} user={} tour={} step={} late_ms={} jobs={}", f.id,
                  r.schedule, timeutil::format_utc(f.due_at), f.handle, f.tour_id, f.step, r.late_ms, r.jobs);
      } else {
        log->info("schedule.{} firing={} schedule=\"{}\" due={} user={} tour={} reason=\"{}\"",
                  r.state == "cancelled" ? "firing_cancelled" : "firing_skipped", f.id, r.schedule,
                  timeutil::format_utc(f.due_at), f.handle, f.tour_id, r.note);
      }
    }
    if (any) notify_.wake();
    if (done->size() < kBatch) co_return true;
  }
}

asio::awaitable<timeutil::Millis> Scheduler::round() {
  bool ok = co_await fire_all();
  if (!ok) co_return 1000;  // the store refused: try again soon
  auto next = reads_.with([](store::Db& db) { return firings::next_due(db); });
  co_return next ? std::clamp<timeutil::Millis>(*next - clock_(), 0, kMaxSleepMs) : kMaxSleepMs;
}

}  // namespace tourbus::schedule
