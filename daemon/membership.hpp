// This node among the nodes on one store (docs/scaling.md "Several nodes"): whether others are
// alive when it starts, its row in the nodes table (written at start and every beat, and at once
// when it takes the lead), the leader's lock and the loops that only the leader runs, and what it
// gives back when it stops (the lock, its claims on notification jobs).
// On SQLite the one node always leads and claims nothing. On the daemon's event loop.
#pragma once

#include <atomic>
#include <chrono>
#include <optional>
#include <functional>
#include <memory>
#include <string>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "api/context.hpp"
#include "schedule/wake_loop.hpp"
#include "store/leader.hpp"
#include "store/nodes.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::daemon {

class Membership {
 public:
  // Looks whether other nodes are alive on the store.
  Membership(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, const store::Target& target,
             std::string node, api::Stats& stats);
  Membership(const Membership&) = delete;
  Membership& operator=(const Membership&) = delete;

  // Several nodes may share the store (PostgreSQL).
  bool clustered() const { return clustered_; }
  // No other node was alive on the store when this one started (so what is open in the store,
  // calls and previews, was left by an earlier run of this node and can be ended).
  bool alone() const { return alone_; }
  // The jobs an earlier run of this node claimed go back to the queue; returns how many.
  std::int64_t release_claims();

  // Asks for the lead from now on; `changed` is called on the loop when this node takes it (wakes
  // the loops that only the leader runs) and when it loses it.
  void lead(std::function<void(bool leading)> changed);
  // After lead(): the flag the leader-only loops follow, and their shift (set_shift) on a cluster.
  const std::atomic<bool>& leading() const { return leader_->flag(); }
  schedule::Shift shift() const { return {&leader_->flag(), store::nodes::kBeatMs}; }

  // After lead(): writes this node's row (the start fails without it), then again every beat.
  Result<bool> start();
  // No more beats (the daemon is draining).
  void stop_beating();
  // Lets the lead go and gives back the claims this node holds (after the workers stopped).
  void leave();

 private:
  store::Node row() const;
  // After a beat: logs when the row was written meanwhile by another process with this name.
  void check_name(const std::optional<store::Node>& before);
  // Writes the row; `again`: and beats again kBeatMs after.
  void beat(bool again);
  void beat_later();

  boost::asio::io_context& io_;
  store::Writer& writer_;
  const std::string node_;
  api::Stats& stats_;
  const bool clustered_;
  bool alone_ = true;
  bool beating_ = true;
  const std::int64_t started_at_;
  const store::Target target_;
  std::function<void(bool)> changed_;
  std::unique_ptr<store::Leader> leader_;
  boost::asio::steady_timer heartbeat_;
  std::optional<std::chrono::steady_clock::time_point> clash_logged_;
};

}  // namespace tourbus::daemon
