#include "schedule/wake_loop.hpp"

#include <algorithm>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/redirect_error.hpp>
#include <boost/asio/use_awaitable.hpp>

namespace tourbus::schedule {

namespace asio = boost::asio;

void WakeLoop::start(Round round) { asio::co_spawn(io_, run(std::move(round)), asio::detached); }

void WakeLoop::wake() {
  asio::post(io_, [this] {
    woken_ = true;
    timer_.cancel();
  });
}

void WakeLoop::stop() {
  asio::post(io_, [this] {
    stopped_ = true;
    timer_.cancel();
  });
}

asio::awaitable<void> WakeLoop::run(Round round) {
  while (!stopped_) {
    woken_ = false;
    // Off shift (another node leads): no round; the leader's loops do the work, and this one looks
    // again when woken (leadership comes with a wake-up) or after the longest sleep.
    constexpr timeutil::Millis kOffShift = 60'000;
    timeutil::Millis wait = kOffShift;
    if (!shift_.on || shift_.on->load()) wait = co_await round();
    if (stopped_) break;
    if (shift_.longest > 0) wait = std::min(wait, shift_.longest);
    if (woken_) continue;  // woken while the round ran: what changed may not have been seen
    timer_.expires_after(std::chrono::milliseconds(wait));
    boost::system::error_code ec;
    co_await timer_.async_wait(asio::redirect_error(asio::use_awaitable, ec));
  }
}

}  // namespace tourbus::schedule
