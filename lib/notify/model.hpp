// The notification model: categories, lanes, channels, jobs and the outcome of one attempt.
#pragma once

#include <array>
#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tourbus::notify {

// Categories, in documentation order. Each maps to a priority lane.
inline constexpr std::array<std::string_view, 5> kCategories = {"transactional", "reminder", "review", "marketing",
                                                                "emergency"};
// Lanes: a lower number is always served first.
inline constexpr std::array<std::string_view, 3> kLanes = {"emergency", "transactional", "marketing"};

bool is_category(std::string_view c);
int lane_of(std::string_view category);

struct Job {
  std::int64_t id = 0;
  std::int64_t notification_id = 0;
  std::int64_t user_id = 0;
  std::string channel;
  std::string address;
  int lane = 1;
  std::string state = "queued";  // queued, delivered, dead, cancelled
  int attempts = 0;
  std::int64_t next_at = 0;
  std::optional<std::string> deferred;
  std::string subject, body;
  std::optional<std::string> html;
  std::optional<std::string> last_error;
  std::int64_t created_at = 0, updated_at = 0;
  std::optional<std::int64_t> delivered_at;
  // From the notification and the user, for channels and listings.
  std::string category;
  std::string handle, display_name;
  std::optional<std::string> idempotency_key;
  std::optional<std::string> unsubscribe_url;  // marketing: the recipient's signed one-click link
  std::optional<std::string> claimed_by;       // several nodes: the node holding it (outbox::claim)
};

// What one delivery attempt came to.
struct Outcome {
  enum class Kind { delivered, retry, permanent };
  Kind kind = Kind::retry;
  std::string status;    // the provider's status: "250", "201", "410", "timeout", ...
  std::string response;  // an excerpt of the provider's answer (never credentials)
  std::optional<std::int64_t> retry_after_ms;  // the provider asked to wait this long
  bool forget_address = false;                 // the subscription or device token is gone: remove it
  std::optional<std::int64_t> duration_ms;     // how long the attempt took (the channel's timing, else the dispatcher's)

  static Outcome delivered(std::string status, std::string response = {}) {
    return {Kind::delivered, std::move(status), std::move(response), {}, false};
  }
  static Outcome retry(std::string status, std::string response = {}) {
    return {Kind::retry, std::move(status), std::move(response), {}, false};
  }
  static Outcome permanent(std::string status, std::string response = {}) {
    return {Kind::permanent, std::move(status), std::move(response), {}, false};
  }
};

// Delays between attempts: base * 2^(attempt-1), at most `max`, each drawn uniformly from its
// upper half (jitter), so a provider coming back is not hit by every job at once.
std::int64_t backoff_ms(int attempt, std::int64_t base_ms, std::int64_t max_ms);

}  // namespace tourbus::notify
