#include "api/uploads.hpp"

#include "chat/files.hpp"
#include "core/time.hpp"

namespace tourbus::api {

Uploads::Ticket::Ticket(Uploads* owner, std::int64_t user, std::int64_t max_bytes, bool quota_bound)
    : owner_(owner), user_(user), max_bytes_(max_bytes), quota_bound_(quota_bound) {}

Uploads::Ticket::Ticket(Ticket&& o) noexcept
    : owner_(std::exchange(o.owner_, nullptr)), user_(o.user_), max_bytes_(o.max_bytes_), quota_bound_(o.quota_bound_) {}

Uploads::Ticket::~Ticket() {
  if (owner_) owner_->release(user_);
}

Result<Uploads::Ticket> Uploads::admit(const Caller& caller, std::optional<std::uint64_t> content_length) {
  auto cfg = ctx_.config.get();
  if (content_length && *content_length > static_cast<std::uint64_t>(cfg->files_max_bytes))
    return Error(Code::payload_too_large,
                 "the file is larger than " + std::to_string(cfg->files_max_bytes) + " bytes (files.max_bytes)");
  if (receiving_ >= cfg->files_max_uploads) {
    ctx_.stats.count(Limit::uploads_total);
    return Error(Code::rate_limited, "the server is receiving " + std::to_string(receiving_) +
                                         " uploads already (files.max_uploads); try again in a moment");
  }
  // Operators (and the control socket) are trusted; everyone else has a share.
  std::int64_t user = caller.is_operator() ? 0 : caller.user_id;
  std::int64_t max_bytes = cfg->files_max_bytes;
  bool quota_bound = false;
  if (user != 0) {
    auto per_hour = cfg->files_uploads_per_user_per_hour;
    auto it = users_.find(user);
    if (it == users_.end()) it = users_.emplace(user, PerUser{0, TokenBucket(static_cast<double>(per_hour))}).first;
    auto& u = it->second;
    if (u.receiving >= cfg->files_max_uploads_per_user) {
      ctx_.stats.count(Limit::uploads_per_user);
      return Error(Code::rate_limited, "you are sending " + std::to_string(u.receiving) +
                                           " uploads already (files.max_uploads_per_user); wait for one to finish");
    }
    if (auto day = cfg->files_max_bytes_per_user_per_day; day > 0) {
      auto since = timeutil::now_ms() - 86'400'000;
      auto used = ctx_.reads.with([&](store::Db& db) { return chat::files::uploaded_since(db, user, since); });
      auto left = day - used;
      if (left <= 0 || (content_length && *content_length > static_cast<std::uint64_t>(left))) {
        ctx_.stats.count(Limit::upload_bytes_per_day);
        return Error(Code::rate_limited, "you uploaded " + std::to_string(used) + " bytes in the last 24 hours; at most " +
                                             std::to_string(day) + " are allowed (files.max_bytes_per_user_per_day)");
      }
      if (left < max_bytes) {
        max_bytes = left;
        quota_bound = true;
      }
    }
    if (per_hour > 0 && !u.hourly.take(static_cast<double>(per_hour) / 3600.0, static_cast<double>(per_hour))) {
      ctx_.stats.count(Limit::uploads_per_hour);
      return Error(Code::rate_limited, "you started " + std::to_string(per_hour) +
                                           " uploads in the last hour (files.uploads_per_user_per_hour); try again later");
    }
    ++u.receiving;
  }
  ++receiving_;
  ++ctx_.stats.uploads;
  return Ticket(this, user, max_bytes, quota_bound);
}

Error Uploads::too_large(const Ticket& t) const {
  if (t.quota_bound()) {
    ctx_.stats.count(Limit::upload_bytes_per_day);
    return Error(Code::rate_limited, "the file is larger than the " + std::to_string(t.max_bytes()) +
                                         " bytes left of your upload quota for 24 hours (files.max_bytes_per_user_per_day)");
  }
  return Error(Code::payload_too_large, "the file is larger than " + std::to_string(t.max_bytes()) + " bytes (files.max_bytes)");
}

void Uploads::release(std::int64_t user) {
  --receiving_;
  --ctx_.stats.uploads;
  if (user == 0) return;
  auto it = users_.find(user);
  if (it == users_.end()) return;
  --it->second.receiving;
  // Forget a user whose hour is whole again, so the table holds only recent uploaders.
  auto per_hour = static_cast<double>(ctx_.config.get()->files_uploads_per_user_per_hour);
  if (it->second.receiving == 0 && (per_hour == 0 || it->second.hourly.full(per_hour / 3600.0, per_hour, TokenBucket::Clock::now())))
    users_.erase(it);
}

}  // namespace tourbus::api
