// A token bucket: the one rate limiter of the daemon's abuse limits (WebSocket events, requests,
// failed authentications, uploads). Not thread-safe.
#pragma once

#include <chrono>

namespace tourbus {

// `rate` events a second on average, bursts of up to `burst`. The rate may change between calls
// (a reload): the bucket keeps what it holds.
class TokenBucket {
 public:
  using Clock = std::chrono::steady_clock;
  explicit TokenBucket(double burst = 0) : tokens_(burst) {}
  bool take(double rate, double burst, Clock::time_point now = Clock::now());
  // Seconds until one token is back (0: one is there now).
  double wait(double rate) const;
  // Full again by `now`: the bucket may be forgotten.
  bool full(double rate, double burst, Clock::time_point now) const;

 private:
  double tokens_;
  Clock::time_point last_ = Clock::now();
};

}  // namespace tourbus
