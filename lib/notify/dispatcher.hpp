// The workers: per channel, take due jobs (emergency lane first), deliver them on that channel's
// own threads, and record each attempt; retry with backoff, then dead letters. A slow or failing
// channel only ever occupies its own threads and its own rate budget. The in-app channel needs
// no thread: its delivery is a feed row written with the attempt, then a live push.
// Runs on the daemon's event loop; wake() after committing new jobs.
#pragma once

#include <atomic>
#include <cstdint>
#include <map>
#include <memory>
#include <set>
#include <string>
#include <vector>

#include <boost/asio/awaitable.hpp>
#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>
#include <boost/asio/thread_pool.hpp>

#include "notify/channel.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::notify {

struct ChannelStats {
  std::string channel;
  bool configured = false;
  std::int64_t in_flight = 0;
  std::uint64_t delivered = 0, retried = 0, dead = 0;
  double rate = 0;  // allowed per second
};

class Dispatcher {
 public:
  Dispatcher(boost::asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
             events::Sink& events);
  ~Dispatcher();

  // Adds a channel: a network one gets its own threads (notify.workers of them).
  void add(std::unique_ptr<Channel> channel);
  // Several nodes on one store (docs/scaling.md): jobs are claimed in the store as `node` (set
  // before start(); what an earlier run of this node claimed is let go of first, by the caller).
  void claim_as(std::string node) { node_ = std::move(node); }
  void start();
  // New jobs were committed: look for due work now.
  void wake();
  // Takes no more jobs; deliveries in flight finish on their threads (their outcome is not
  // recorded if the loop has stopped, so they are delivered again after a restart: at least once).
  void stop();
  // Waits for the channels' threads (after the loop has stopped).
  void join();
  // The channels added, for the planner and the API.
  const Catalog& catalog() const { return catalog_; }
  // Channels that can deliver with the current config.
  std::set<std::string> configured() const;
  std::vector<ChannelStats> stats() const;

 private:
  struct Lane;
  void poll(Lane& lane);
  void arm(Lane& lane, std::int64_t at_ms);
  // Several nodes: claims up to `limit` due jobs in the store, then takes them.
  boost::asio::awaitable<void> claim(Lane& lane, std::size_t limit, std::int64_t now);
  // Starts the jobs taken (up to `free`): stored channels in batches, the others on their threads.
  void take(Lane& lane, std::vector<Job> rows, std::int64_t now, std::size_t free,
            std::shared_ptr<const config::Config> cfg);
  // Delivers jobs on the lane's threads: one (to its destination), or several at once (channels
  // with concurrency() > 1), then hands each outcome to finished() on the loop.
  void deliver(Lane& lane, std::vector<Job> jobs, std::vector<Destination> to,
               std::shared_ptr<const config::Config> cfg);
  // A delivery ended (on the loop): its outcome joins the next batch to record.
  void finished(Lane& lane, Job job, Outcome outcome);
  // Records every outcome waiting, a batch per write, until none is left.
  boost::asio::awaitable<void> record(Lane& lane);
  // Channels delivered in the store (the in-app feed): a batch in one write, then their pushes.
  boost::asio::awaitable<void> deliver_stored(Lane& lane, std::vector<Job> jobs);

  boost::asio::io_context& io_;
  store::Writer& writer_;
  store::ReadPool& reads_;
  config::Holder& config_;
  events::Sink& events_;
  std::map<std::string, std::unique_ptr<Lane>, std::less<>> lanes_;
  Catalog catalog_;
  std::string node_;  // several nodes: the name jobs are claimed as; empty: one node, no claims
  bool stopped_ = false;
};

}  // namespace tourbus::notify
