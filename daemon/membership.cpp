#include "membership.hpp"

#include <unistd.h>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/outbox.hpp"

namespace tourbus::daemon {

namespace asio = boost::asio;

Membership::Membership(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, const store::Target& target,
                       std::string node, api::Stats& stats)
    : io_(io),
      writer_(writer),
      node_(std::move(node)),
      stats_(stats),
      clustered_(target.dialect() == store::Dialect::postgres),
      started_at_(timeutil::now_ms()),
      target_(target),
      heartbeat_(io) {
  if (!clustered_) return;
  alone_ = reads.with([&](store::Db& db) {
    auto since = timeutil::now_ms() - store::nodes::kGoneAfterMs;
    for (const auto& other : store::nodes::list(db))
      if (other.name != node_ && other.seen_at >= since) return false;
    return true;
  });
}

void Membership::lead(std::function<void(bool leading)> changed) {
  changed_ = std::move(changed);
  // One node leads: on SQLite this one; on PostgreSQL the holder of an advisory lock. Taking the
  // lead writes this node's row at once (a dead leader's row would say it leads until it counts
  // as gone) and wakes the loops, which otherwise skip their rounds.
  leader_ = std::make_unique<store::Leader>(target_, [this](bool on) {
    asio::post(io_, [this, on] {
      if (on) beat(false);
      changed_(on);
    });
  });
}

std::int64_t Membership::release_claims() {
  if (!clustered_) return 0;
  auto released = writer_.run_sync<std::int64_t>(
      [&](store::Db& db) -> Result<std::int64_t> { return notify::outbox::release_claims(db, node_); });
  return released ? *released : 0;
}

store::Node Membership::row() const {
  store::Node n;
  n.name = node_;
  n.version = TOURBUS_VERSION;
  n.pid = ::getpid();
  n.listen = stats_.get_listen_address();
  n.leader = leader_ && leader_->leading();
  n.connections = static_cast<std::int64_t>(stats_.websocket_connections.load() + stats_.socketio_connections.load());
  n.started_at = started_at_;
  n.seen_at = timeutil::now_ms();
  return n;
}

Result<bool> Membership::start() {
  auto first = writer_.run_sync<bool>([n = row()](store::Db& db) -> Result<bool> {
    store::nodes::beat(db, n);  // the row before is an earlier run's (or a clash, seen at the next beat)
    return true;
  });
  if (first) beat_later();
  return first;
}

void Membership::check_name(const std::optional<store::Node>& before) {
  // This node wrote its row at its last beat: another start time or pid there means another
  // process runs under the same name (each overwrites the other's row and takes its claims).
  if (!before || (before->started_at == started_at_ && before->pid == ::getpid())) return;
  auto now = std::chrono::steady_clock::now();
  if (clash_logged_ && now - *clash_logged_ < std::chrono::minutes(1)) return;
  clash_logged_ = now;
  logging::get("cluster")->error(
      "cluster.name_clash node={} other_pid={} other_listen={} (another tourbusd runs with this cluster.node: give each node "
      "its own name)",
      node_, before->pid, before->listen);
}

void Membership::beat(bool again) {
  auto write = [this]() -> asio::awaitable<void> {
    auto pending = writer_.run<std::optional<store::Node>>(
        [n = row()](store::Db& db) -> Result<std::optional<store::Node>> { return store::nodes::beat(db, n); });
    auto done = co_await std::move(pending);
    if (!done)
      logging::get("cluster")->warn("cluster.beat_failed error=\"{}\"", done.error().message);
    else
      check_name(*done);
  };
  if (!again) {
    asio::co_spawn(io_, write, asio::detached);
    return;
  }
  // The next beat is timed from the end of this one: a slow store does not pile them up.
  asio::co_spawn(io_, write, [this](std::exception_ptr) { beat_later(); });
}

void Membership::beat_later() {
  if (!beating_) return;
  heartbeat_.expires_after(std::chrono::milliseconds(store::nodes::kBeatMs));
  heartbeat_.async_wait([this](boost::system::error_code e) {
    if (!e) beat(true);
  });
}

void Membership::stop_beating() {
  beating_ = false;
  heartbeat_.cancel();
}

void Membership::leave() {
  stop_beating();
  if (leader_) leader_->stop();  // the lead goes with the lock's session: another node takes it at its next check
  // Jobs this node claimed and did not record go back to the queue for the other nodes now (an
  // attempt under way is recorded by nobody: delivered again, at least once).
  release_claims();
}

}  // namespace tourbus::daemon
