// A loop on the daemon's event loop that runs a round, sleeps as long as the round asks (or until
// woken), and runs again: what the scheduler and the campaign runner are built on.
#pragma once

#include <atomic>
#include <functional>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/time.hpp"

namespace tourbus::schedule {

// When a loop runs: on the node that leads (store::Leader) while `on` says so (null: always),
// sleeping at most `longest` ms (0: as long as the round asks), so that work another node of a
// cluster created is seen without being woken.
struct Shift {
  const std::atomic<bool>* on = nullptr;
  timeutil::Millis longest = 0;
};

class WakeLoop {
 public:
  // A round returns how long to sleep, in milliseconds.
  using Round = std::function<boost::asio::awaitable<timeutil::Millis>()>;

  explicit WakeLoop(boost::asio::io_context& io) : io_(io), timer_(io) {}
  void start(Round round);
  // Set before start().
  void set_shift(Shift shift) { shift_ = shift; }
  // Runs the next round now (a round under way finishes first). Safe from any thread.
  void wake();
  // No more rounds. Safe from any thread.
  void stop();

 private:
  boost::asio::awaitable<void> run(Round round);

  boost::asio::io_context& io_;
  boost::asio::steady_timer timer_;
  Shift shift_;
  bool stopped_ = false, woken_ = false;
};

}  // namespace tourbus::schedule
