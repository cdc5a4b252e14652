// Admission of uploads before their bodies are read (docs/config.md, "Abuse limits"): how many
// are received at once, in all and per user, how many a user starts an hour, and how many bytes
// a user uploads in 24 hours. Operators are not limited per user. Runs on the event loop; not
// thread-safe.
#pragma once

#include <cstdint>
#include <optional>
#include <unordered_map>

#include "api/context.hpp"
#include "api/operation.hpp"
#include "core/rate.hpp"

namespace tourbus::api {

class Uploads {
 public:
  explicit Uploads(Context& ctx) : ctx_(ctx) {}
  Uploads(const Uploads&) = delete;
  Uploads& operator=(const Uploads&) = delete;

  // One upload being received: its place is held until the ticket is gone.
  class Ticket {
   public:
    Ticket(Ticket&& o) noexcept;
    Ticket& operator=(Ticket&&) = delete;
    ~Ticket();
    // Most bytes the body may have: files.max_bytes, or less when the day's quota is nearly used.
    std::int64_t max_bytes() const { return max_bytes_; }
    // max_bytes() is the day's quota, not files.max_bytes.
    bool quota_bound() const { return quota_bound_; }

   private:
    friend class Uploads;
    Ticket(Uploads* owner, std::int64_t user, std::int64_t max_bytes, bool quota_bound);
    Uploads* owner_;
    std::int64_t user_, max_bytes_;
    bool quota_bound_;
  };

  // A ticket, or rate_limited (too many at once, too many this hour, the day's bytes used up)
  // or payload_too_large (`content_length` beyond files.max_bytes). Counted in /metrics.
  Result<Ticket> admit(const Caller& caller, std::optional<std::uint64_t> content_length);

  // The answer to a body that went past the ticket's max_bytes().
  Error too_large(const Ticket& ticket) const;

 private:
  struct PerUser {
    std::int64_t receiving = 0;
    TokenBucket hourly;
  };
  void release(std::int64_t user);

  Context& ctx_;
  std::int64_t receiving_ = 0;
  std::unordered_map<std::int64_t, PerUser> users_;
};

}  // namespace tourbus::api
