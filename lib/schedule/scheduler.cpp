#include "schedule/scheduler.hpp"

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
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
    : io_(io), writer_(writer), reads_(reads), config_(config), notify_(notify), clock_(std::move(clock)),
      links_(std::move(links)), timer_(io) {}

void Scheduler::start() { asio::co_spawn(io_, loop(), asio::detached); }

void Scheduler::wake() {
  asio::post(io_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

void Scheduler::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

SchedulerStats Scheduler::stats() const {
  SchedulerStats s;
  s.fired = fired_;
  s.skipped = skipped_;
  s.cancelled = cancelled_;
  reads_.with([&](store::Db& db) {
    s.pending = firings::pending_total(db);
    s.next_due = firings::next_due(db);
    return 0;
  });
  return s;
}

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
        ++fired_;
        any = true;
        log->info("schedule.fired firing={} schedule=\"{}\" due={} user={} tour={} step={} late_ms={} jobs={}", f.id,
                  r.schedule, timeutil::format_utc(f.due_at), f.handle, f.tour_id, f.step, r.late_ms, r.jobs);
      } else {
        ++(r.state == "cancelled" ? cancelled_ : skipped_);
        log->info("schedule.{} firing={} schedule=\"{}\" due={} user={} tour={} reason=\"{}\"",
                  r.state == "cancelled" ? "firing_cancelled" : "firing_skipped", f.id, r.schedule,
                  timeutil::format_utc(f.due_at), f.handle, f.tour_id, r.note);
      }
    }
    if (any) notify_.wake();
    if (done->size() < kBatch) co_return true;
  }
}

asio::awaitable<void> Scheduler::loop() {
  while (!stopped_) {
    woken_ = false;
    bool ok = co_await fire_all();
    if (stopped_) break;
    if (woken_) continue;
    auto next = reads_.with([](store::Db& db) { return firings::next_due(db); });
    auto wait = ok ? kMaxSleepMs : 1000;  // the store refused: try again soon
    if (ok && next) wait = std::clamp<timeutil::Millis>(*next - clock_(), 0, kMaxSleepMs);
    timer_.expires_after(std::chrono::milliseconds(wait));
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace tourbus::schedule
