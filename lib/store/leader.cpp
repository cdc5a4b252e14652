#include "store/leader.hpp"

#include <memory>

#include "core/logging.hpp"

namespace tourbus::store {

namespace {
// The lock's key: two 32-bit halves, so pg_locks shows it as classid/objid (objsubid 2).
constexpr std::int64_t kLockClass = 0x74627573;  // "tbus"
constexpr std::int64_t kLockObject = 1;
}  // namespace

Leader::Leader(Target target, Changed changed, std::chrono::milliseconds every)
    : target_(std::move(target)), changed_(std::move(changed)), every_(every) {
  if (target_.dialect() == Dialect::sqlite) {
    leading_ = true;  // the only node
    if (changed_) changed_(true);
    return;
  }
  thread_ = std::thread([this] { run(); });
}

Leader::~Leader() { stop(); }

void Leader::stop() {
  {
    std::lock_guard lock(mutex_);
    stopped_ = true;
  }
  cv_.notify_all();
  if (thread_.joinable()) thread_.join();
}

// Whether this node leads now: takes the lock when it does not hold it, and otherwise checks that
// the lock is still held by this very session (the store's connection opens a new session by
// itself after a dropped one, and the lock does not follow).
bool Leader::check(std::unique_ptr<Db>& session) {
  if (!session) session = std::make_unique<Db>(target_, Db::Mode::read_write);
  if (leading_) {
    auto s = session->prepare(
        "SELECT count(*) FROM pg_locks WHERE locktype = 'advisory' AND pid = pg_backend_pid() "
        "AND classid = CAST(?1 AS oid) AND objid = CAST(?2 AS oid) AND objsubid = 2 AND granted");
    s.bind(1, kLockClass).bind(2, kLockObject);
    return s.step() && s.i64(0) > 0;
  }
  auto s = session->prepare("SELECT CAST(pg_try_advisory_lock(CAST(?1 AS INTEGER), CAST(?2 AS INTEGER)) AS INTEGER)");
  s.bind(1, kLockClass).bind(2, kLockObject);
  return s.step() && s.i64(0) != 0;
}

void Leader::run() {
  auto log = logging::get("cluster");
  std::unique_ptr<Db> session;
  bool warned = false;
  std::unique_lock lock(mutex_);
  while (!stopped_) {
    lock.unlock();
    bool now = false;
    try {
      now = check(session);
      warned = false;
    } catch (const std::exception& e) {
      session.reset();  // a new session next time; a lock it held is gone with it
      if (!warned) log->warn("cluster.leader_check_failed error=\"{}\"", e.what());
      warned = true;
    }
    if (now != leading_) {
      leading_ = now;
      if (now)
        log->info("cluster.leading (this node runs the schedules, campaigns, alerts and translations)");
      else
        log->warn("cluster.not_leading (another node may lead now)");
      if (changed_) changed_(now);
    }
    lock.lock();
    cv_.wait_for(lock, every_, [this] { return stopped_; });
  }
  lock.unlock();
  session.reset();  // the lock goes with the session
  leading_ = false;
}

}  // namespace tourbus::store
