#include "realtime/sequencer.hpp"

#include <algorithm>

#include "core/logging.hpp"
#include "core/time.hpp"

namespace tourbus::realtime {

namespace asio = boost::asio;

Sequencer::Sequencer(asio::io_context& io, Backfill& backfill, Deliver deliver)
    : io_(io), backfill_(backfill), deliver_(std::move(deliver)), sweeper_(io) {}

Sequencer::Line& Sequencer::line_of(std::int64_t conversation, bool& fresh) {
  auto [it, added] = lines_.try_emplace(conversation);
  fresh = added;
  it->second.used = std::chrono::steady_clock::now();
  if (!sweeping_) {
    sweeping_ = true;
    sweeper_.expires_after(kIdleMs / 4);
    sweeper_.async_wait([this](boost::system::error_code ec) {
      if (!ec) sweep();
    });
  }
  return it->second;
}

void Sequencer::deliver(Line& line, Ordered& push) {
  deliver_(push);
  line.delivered = push.seq;
}

void Sequencer::drain(Line& line) {
  while (!line.held.empty()) {
    auto first = line.held.begin();
    if (first->first <= line.delivered) {
      ++stats_.dropped;
    } else if (first->first - 1 == line.delivered) {
      deliver(line, first->second);
    } else {
      return;
    }
    line.held.erase(first);
  }
  if (line.timer) line.timer->cancel();
}

void Sequencer::fill(std::int64_t conversation, Line& line, std::int64_t before, std::int64_t since_ms) {
  while (line.delivered < before - 1) {
    auto page = backfill_.messages(conversation, line.delivered, before, since_ms, kPage);
    if (page.empty()) return;
    for (auto& m : page) {
      if (m.seq <= line.delivered) continue;
      ++stats_.filled;
      deliver(line, m);
    }
    if (static_cast<std::int64_t>(page.size()) < kPage) return;
  }
}

void Sequencer::push(std::int64_t conversation, Ordered push) {
  bool fresh = false;
  auto& line = line_of(conversation, fresh);
  if (fresh) {
    // Nothing of this conversation delivered lately: the messages just before this one may still be
    // on their way from the nodes that stored them. Deliver them from the store first (a client
    // that had them already keeps the one it holds: docs/protocol.md, "But de-duplicate anyway").
    line.delivered = std::max<std::int64_t>(0, push.seq - 1 - kPage);
    fill(conversation, line, push.seq, timeutil::now_ms() - kRecentMs);
    deliver(line, push);
    return;
  }
  if (push.seq <= line.delivered) {
    ++stats_.dropped;
    return;
  }
  if (push.seq - 1 == line.delivered) {
    deliver(line, push);
    drain(line);
    return;
  }
  ++stats_.held;
  line.held.insert_or_assign(push.seq, std::move(push));
  if (!line.timer) line.timer = std::make_unique<asio::steady_timer>(io_);
  if (line.held.size() == 1) {
    line.timer->expires_after(kGapWaitMs);
    line.timer->async_wait([this, conversation](boost::system::error_code ec) {
      if (!ec) gap_waited(conversation);
    });
  }
}

void Sequencer::gap_waited(std::int64_t conversation) {
  auto it = lines_.find(conversation);
  if (it == lines_.end()) return;
  auto& line = it->second;
  // Every gap among the held pushes, each filled from the store in turn.
  while (!line.held.empty()) {
    auto next = line.held.begin()->first;
    auto had = line.delivered;
    fill(conversation, line, next, 0);
    if (line.delivered == had && had < next - 1) {
      // The store does not have what lies before the held push (it cannot happen while seqs are
      // committed in order): deliver it rather than hold it for ever.
      logging::get("cluster")->warn("cluster.seq_gap conversation={} delivered={} next={}", conversation, had, next);
      line.delivered = next - 1;
    }
    drain(line);
  }
}

void Sequencer::catch_up(std::int64_t since_ms) {
  std::size_t conversations = 0;
  auto filled = stats_.filled;
  for (auto [conversation, last] : backfill_.active_since(since_ms)) {
    bool fresh = false;
    auto& line = line_of(conversation, fresh);
    if (fresh) line.delivered = std::max<std::int64_t>(0, last - kPage);
    if (last <= line.delivered) continue;
    ++conversations;
    fill(conversation, line, last + 1, fresh ? since_ms : 0);
    line.delivered = std::max(line.delivered, last);
    drain(line);
  }
  logging::get("cluster")->info("cluster.caught_up conversations={} messages={}", conversations, stats_.filled - filled);
}

void Sequencer::sweep() {
  auto idle_since = std::chrono::steady_clock::now() - kIdleMs;
  std::erase_if(lines_, [&](const auto& entry) { return entry.second.held.empty() && entry.second.used < idle_since; });
  sweeping_ = !lines_.empty();  // no timer left behind when there is nothing to forget
  if (!sweeping_) return;
  sweeper_.expires_after(kIdleMs / 4);
  sweeper_.async_wait([this](boost::system::error_code ec) {
    if (!ec) sweep();
  });
}

}  // namespace tourbus::realtime
