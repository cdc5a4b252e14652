// Which node of a cluster leads: runs the scheduler, the campaigns, the safety runner and the
// translations, the loops that must run once for the whole store (docs/scaling.md). On SQLite the
// one node always leads. On PostgreSQL a node leads while a session of its own holds an advisory
// lock; when the leader dies its session ends, the lock goes with it, and the next node to ask
// (every second) leads. A node that cannot reach the store, or whose session was replaced, stops
// leading at its next check.
#pragma once

#include <atomic>
#include <chrono>
#include <condition_variable>
#include <functional>
#include <mutex>
#include <string>
#include <thread>

#include "store/db.hpp"

namespace tourbus::store {

class Leader {
 public:
  // Called on the leader's own thread when this node starts or stops leading.
  using Changed = std::function<void(bool leading)>;

  Leader(Target target, Changed changed, std::chrono::milliseconds every = std::chrono::seconds(1));
  ~Leader();
  Leader(const Leader&) = delete;
  Leader& operator=(const Leader&) = delete;

  bool leading() const { return leading_.load(); }
  // The flag the loops follow (schedule::Shift).
  const std::atomic<bool>& flag() const { return leading_; }
  // Stops asking and lets the lock go (closes the session). Idempotent.
  void stop();

 private:
  void run();
  bool check(std::unique_ptr<Db>& session);

  Target target_;
  Changed changed_;
  std::chrono::milliseconds every_;
  std::atomic<bool> leading_{false};
  std::mutex mutex_;
  std::condition_variable cv_;
  bool stopped_ = false;
  std::thread thread_;
};

}  // namespace tourbus::store
