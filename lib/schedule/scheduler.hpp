// The scheduler: one Asio timer over the persistent table of due firings. It sleeps until the
// earliest pending firing (at most a minute, so a changed wall clock is noticed), fires what is due
// in batches through the single writer, wakes the notification workers, and sleeps again.
// Runs on the daemon's event loop; wake() after committing schedules or firings. The clock is
// injected so tests can drive it; the daemon passes the system clock.
#pragma once

#include <cstdint>
#include <functional>
#include <optional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "core/config.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "schedule/fire.hpp"
#include "schedule/wake_loop.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::schedule {

class Scheduler {
 public:
  using Clock = std::function<timeutil::Millis()>;

  Scheduler(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
            notify::Dispatcher& notify, Clock clock, TourLinks links = {});

  // When this loop runs on a cluster (the leader only); set before start().
  void set_shift(Shift shift) { loop_.set_shift(shift); }
  void start();
  // Schedules or firings changed: look again now. Safe from any thread.
  void wake();
  void stop();

 private:
  // Fires what is due and says how long to sleep.
  boost::asio::awaitable<timeutil::Millis> round();
  // Fires everything due now, a batch per write; false when the store refused.
  boost::asio::awaitable<bool> fire_all();

  store::Writer& writer_;
  store::ReadPool& reads_;
  config::Holder& config_;
  notify::Dispatcher& notify_;
  Clock clock_;
  TourLinks links_;
  WakeLoop loop_;
};

}  // namespace tourbus::schedule
