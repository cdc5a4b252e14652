// Several nodes (docs/scaling.md "Pushes across nodes"): a conversation's `message` pushes reach
// each session in seq order although they are sent by different nodes and come over NATS in any
// order. Per conversation the sequencer knows the last seq it delivered; a push after a gap is held
// until the missing seqs come, and if they do not come within kGapWaitMs they are read from the
// store (a committed seq n means every seq below n is committed: the seq is taken under the
// conversation's row lock). A push of a seq already delivered is dropped, so a message delivered
// from the store is not delivered again when its push comes late. After an outage of NATS,
// catch_up() delivers from the store what was stored meanwhile.
// Lives on the daemon's event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <functional>
#include <map>
#include <memory>
#include <span>
#include <unordered_map>
#include <vector>

#include <boost/asio/io_context.hpp>
#include <boost/asio/steady_timer.hpp>

#include "core/events.hpp"

namespace tourbus::realtime {

// One `message` push: the conversation's seq, who gets it, the event.
struct Ordered {
  std::int64_t seq = 0;
  std::vector<std::int64_t> users;
  events::EventPtr event;
  bool platform = true;  // also to the control socket's operators (events::Sink::publish)
};

// Where the sequencer reads what it missed (api/fanout.cpp, on the store's read connections).
class Backfill {
 public:
  virtual ~Backfill() = default;
  // The `message` pushes of the conversation's messages with seq in (after, before), oldest first,
  // at most `limit`; with `since_ms`, only those stored at or after it (ms since the epoch).
  virtual std::vector<Ordered> messages(std::int64_t conversation, std::int64_t after, std::int64_t before,
                                        std::int64_t since_ms, std::int64_t limit) = 0;
  // The conversations with a message stored at or after `since_ms`, each with its last seq.
  virtual std::vector<std::pair<std::int64_t, std::int64_t>> active_since(std::int64_t since_ms) = 0;
};

class Sequencer {
 public:
  // How long a push after a gap waits for the pushes before it, before they are read from the store.
  static constexpr std::chrono::milliseconds kGapWaitMs{100};
  // A conversation not seen for this long is forgotten (its first push after that reads the store).
  static constexpr std::chrono::milliseconds kIdleMs{120'000};
  // A conversation's first push: the messages before it stored less than this long ago may still be
  // on their way from another node, so they are read from the store and delivered first. Node
  // clocks must agree to well within this (NTP).
  static constexpr std::int64_t kRecentMs = 10'000;
  // Messages read from the store at once.
  static constexpr std::int64_t kPage = 500;

  using Deliver = std::function<void(const Ordered& push)>;
  Sequencer(boost::asio::io_context& io, Backfill& backfill, Deliver deliver);
  Sequencer(const Sequencer&) = delete;
  Sequencer& operator=(const Sequencer&) = delete;

  // A `message` push of the conversation (this node's or another's).
  void push(std::int64_t conversation, Ordered push);
  // After NATS was out of reach since `since_ms`: delivers, in order, every message stored since
  // then that was not delivered (every conversation with a message stored since then).
  void catch_up(std::int64_t since_ms);

  struct Stats {
    std::uint64_t held = 0;      // pushes that waited for earlier seqs
    std::uint64_t filled = 0;    // messages delivered from the store
    std::uint64_t dropped = 0;   // pushes of seqs delivered already
  };
  const Stats& stats() const { return stats_; }
  std::size_t conversations() const { return lines_.size(); }

 private:
  struct Line {
    std::int64_t delivered = 0;  // every seq up to this one was delivered (or is older than this node's view)
    std::map<std::int64_t, Ordered> held;
    std::chrono::steady_clock::time_point used;
    std::unique_ptr<boost::asio::steady_timer> timer;  // the gap's wait, while pushes are held
  };
  // The conversation's line, made (`fresh`) when there is none; arms the sweeper.
  Line& line_of(std::int64_t conversation, bool& fresh);
  void deliver(Line& line, Ordered& push);
  // Delivers the held pushes that are next in line.
  void drain(Line& line);
  // Reads (line.delivered, before) from the store and delivers them in order.
  void fill(std::int64_t conversation, Line& line, std::int64_t before, std::int64_t since_ms);
  void gap_waited(std::int64_t conversation);
  void sweep();

  boost::asio::io_context& io_;
  Backfill& backfill_;
  Deliver deliver_;
  std::unordered_map<std::int64_t, Line> lines_;
  boost::asio::steady_timer sweeper_;
  bool sweeping_ = false;
  Stats stats_;
};

}  // namespace tourbus::realtime
