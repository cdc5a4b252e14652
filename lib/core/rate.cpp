#include "core/rate.hpp"

#include <algorithm>

namespace tourbus {

bool TokenBucket::take(double rate, double burst, Clock::time_point now) {
  // A `now` from before the last call (clocks read on different threads) adds nothing.
  if (now > last_) {
    tokens_ = std::min(burst, tokens_ + std::chrono::duration<double>(now - last_).count() * rate);
    last_ = now;
  }
  tokens_ = std::min(burst, tokens_);
  if (tokens_ < 1) return false;
  tokens_ -= 1;
  return true;
}

double TokenBucket::wait(double rate) const {
  if (tokens_ >= 1 || rate <= 0) return 0;
  auto since = std::chrono::duration<double>(Clock::now() - last_).count();
  return std::max(0.0, (1 - tokens_) / rate - since);
}

bool TokenBucket::full(double rate, double burst, Clock::time_point now) const {
  return tokens_ + std::chrono::duration<double>(now - last_).count() * rate >= burst;
}

}  // namespace tourbus
