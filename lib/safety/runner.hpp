// The safety runner: one loop on the daemon's event loop that sends alerts in batches (and tells
// online recipients at once with an "alert" push), climbs the escalation ladder, applies group
// rules and rings unacknowledged SOS calls (safety/ladder.hpp), then sleeps until the next step is
// due or it is woken. The clock is injected; the daemon passes the system clock.
#pragma once

#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>

#include "core/config.hpp"
#include "core/events.hpp"
#include "core/time.hpp"
#include "notify/dispatcher.hpp"
#include "safety/ladder.hpp"
#include "schedule/wake_loop.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::safety {

class Runner {
 public:
  using Clock = std::function<timeutil::Millis()>;

  Runner(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
         notify::Dispatcher& notify, events::Sink& events, Clock clock, AnswerLinks links);

  // When this loop runs on a cluster (the leader only); set before start().
  void set_shift(schedule::Shift shift) { loop_.set_shift(shift); }
  void start();
  // Alerts, answers or SOS calls changed: look again now. Safe from any thread.
  void wake();
  void stop();

 private:
  boost::asio::awaitable<timeutil::Millis> round();
  // Sends every alert still sending, batch by batch; false when the store refused.
  boost::asio::awaitable<bool> send_all();
  struct Inputs;
  Inputs inputs();

  store::Writer& writer_;
  store::ReadPool& reads_;
  config::Holder& config_;
  notify::Dispatcher& notify_;
  events::Sink& events_;
  Clock clock_;
  AnswerLinks links_;
  schedule::WakeLoop loop_;
};

}  // namespace tourbus::safety
