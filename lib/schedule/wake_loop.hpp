// A loop on the daemon's event loop that runs a round, sleeps as long as the round asks (or until
// woken), and runs again: what the scheduler and the campaign runner are built on.
#pragma once

#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/time.hpp"

namespace tourbus::schedule {

class WakeLoop {
 public:
  // A round returns how long to sleep, in milliseconds.
  using Round = std::function<boost::asio::awaitable<timeutil::Millis>()>;

  explicit WakeLoop(boost::asio::io_context& io) : io_(io), timer_(io) {}
  void start(Round round);
  // Runs the next round now (a round under way finishes first). Safe from any thread.
  void wake();
  // No more rounds. Safe from any thread.
  void stop();

 private:
  boost::asio::awaitable<void> run(Round round);

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  bool stopped_ = false, woken_ = false;
};

}  // namespace tourbus::schedule
