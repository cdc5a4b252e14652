#include "notify/dispatcher.hpp"

#include <atomic>
#include <chrono>
#include <utility>

#include <boost/asio/co_spawn.hpp>
#include <boost/asio/detached.hpp>
#include <boost/asio/post.hpp>

#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/feed.hpp"
#include "notify/outbox.hpp"
#include "store/nodes.hpp"

namespace tourbus::notify {

namespace asio = boost::asio;

constexpr std::size_t kQueuedPerThread = 16;
constexpr std::size_t kFeedBatch = 256;  // feed items written by one write

struct Dispatcher::Lane {
  Lane(asio::io_context& io, std::string n, std::unique_ptr<Channel> ch, std::size_t threads)
      : name(std::move(n)), channel(std::move(ch)), timer(io) {
    if (!channel->stored()) pool = std::make_unique<asio::thread_pool>(threads);
  }
  std::string name;
  std::unique_ptr<Channel> channel;
  std::unique_ptr<asio::thread_pool> pool;
  asio::steady_timer timer;
  std::int64_t armed_at = 0;  // when the timer fires (ms), 0: not armed
  std::set<std::int64_t> in_flight;  // taken: queued on the threads, being delivered or being recorded
  std::size_t capacity = 0;
  struct Ended {
    Job job;
    Outcome outcome;  // with its duration
  };
  std::vector<Ended> ended;  // outcomes not yet recorded
  bool recording = false;
  bool claiming = false;  // several nodes: a claim is being written
  std::atomic<std::int64_t> active{0};  // deliveries running on the threads right now
  // Token bucket for the channel's rate.
  double tokens = 0;
  std::int64_t refilled_at = 0;
  ChannelStats stats;
};

Dispatcher::Dispatcher(asio::io_context& io, store::Writer& writer, store::ReadPool& reads, config::Holder& config,
                       events::Sink& events)
    : io_(io), writer_(writer), reads_(reads), config_(config), events_(events) {}

Dispatcher::~Dispatcher() {
  stop();
  join();
}

void Dispatcher::add(std::unique_ptr<Channel> channel) {
  auto threads = static_cast<std::size_t>(config_.get()->notify_workers);
  std::string name(channel->name());
  catalog_.add(channel->descriptor());
  auto lane = std::make_unique<Lane>(io_, name, std::move(channel), threads);
  if (lane->channel->stored()) {
    lane->capacity = 4 * kFeedBatch;  // written in batches; several on their way at once
  } else {
    // Jobs in hand beyond the threads wait for one, so a thread never idles while its last
    // outcome is being committed (outcomes are recorded in batches).
    lane->capacity = threads * std::max(kQueuedPerThread, 2 * lane->channel->concurrency());
  }
  lanes_.emplace(name, std::move(lane));
}

void Dispatcher::start() { wake(); }

void Dispatcher::wake() {
  if (stopped_) return;
  for (auto& [name, lane] : lanes_) poll(*lane);
}

void Dispatcher::stop() {
  if (stopped_) return;
  stopped_ = true;
  for (auto& [name, lane] : lanes_) {
    lane->timer.cancel();
    if (lane->pool) lane->pool->stop();  // queued deliveries are dropped; running ones end on their timeouts
  }
}

void Dispatcher::join() {
  for (auto& [name, lane] : lanes_)
    if (lane->pool) lane->pool->join();
}

std::set<std::string> Dispatcher::configured() const {
  auto cfg = config_.get();
  std::set<std::string> out;
  for (const auto& [name, lane] : lanes_)
    if (lane->channel->configured(*cfg)) out.insert(name);
  return out;
}

std::vector<ChannelStats> Dispatcher::stats() const {
  auto cfg = config_.get();
  std::vector<ChannelStats> out;
  for (const auto& [name, lane] : lanes_) {
    auto s = lane->stats;
    s.channel = name;
    s.configured = lane->channel->configured(*cfg);
    // Attempts under way: on a thread, or (stored channels) being written. Jobs taken but waiting
    // for a thread are still queued.
    s.in_flight = lane->channel->stored() ? static_cast<std::int64_t>(lane->in_flight.size()) : lane->active.load();
    s.rate = lane->channel->rate(*cfg);
    out.push_back(std::move(s));
  }
  return out;
}

void Dispatcher::arm(Lane& lane, std::int64_t at_ms) {
  if (stopped_) return;
  if (lane.armed_at != 0 && lane.armed_at <= at_ms) return;  // an earlier wake-up is set already
  lane.armed_at = at_ms;
  lane.timer.expires_after(std::chrono::milliseconds(std::max<std::int64_t>(0, at_ms - timeutil::now_ms())));
  lane.timer.async_wait([this, &lane](boost::system::error_code ec) {
    if (ec) return;
    lane.armed_at = 0;
    poll(lane);
  });
}

void Dispatcher::poll(Lane& lane) {
  if (stopped_ || lane.in_flight.size() >= lane.capacity) return;
  // The store moved (tourbus migrate-store): a send whose outcome cannot be recorded would go out
  // again and again. The jobs wait for the restart on the new store.
  if (!writer_.refusing().empty()) return;
  auto cfg = config_.get();
  if (!lane.channel->configured(*cfg)) return;  // jobs wait for a config that can send them
  auto now = timeutil::now_ms();
  double rate = lane.channel->rate(*cfg);
  if (rate > 0) {
    lane.tokens = std::min(rate, lane.tokens + static_cast<double>(now - lane.refilled_at) * rate / 1000.0);
    lane.refilled_at = now;
    if (lane.tokens < 1) {
      arm(lane, now + static_cast<std::int64_t>((1 - lane.tokens) * 1000.0 / rate) + 1);
      return;
    }
  }
  auto free = lane.capacity - lane.in_flight.size();
  if (!node_.empty()) {
    // Several nodes: jobs are claimed in the store, never more than the rate allows now (a claimed
    // job is this node's until its attempt is recorded), one claim at a time per lane.
    if (lane.claiming) return;
    std::size_t want = free;
    if (rate > 0) want = std::min(want, static_cast<std::size_t>(lane.tokens));
    auto alive = now - store::nodes::kGoneAfterMs;
    if (!reads_.with([&](store::Db& db) { return outbox::claimable(db, lane.name, now, node_, alive); })) {
      // Nothing to take: look again when the next job is due, or after a beat for jobs other nodes
      // queued or let go of.
      auto next = reads_.with([&](store::Db& db) { return outbox::next_due(db, lane.name, now); });
      arm(lane, std::min(next.value_or(now + store::nodes::kBeatMs), now + store::nodes::kBeatMs));
      return;
    }
    lane.claiming = true;
    asio::co_spawn(io_, claim(lane, want, now), asio::detached);
    return;
  }
  auto rows = reads_.with([&](store::Db& db) { return outbox::due(db, lane.name, now, free, lane.in_flight); });
  take(lane, std::move(rows), now, free, cfg);
}

boost::asio::awaitable<void> Dispatcher::claim(Lane& lane, std::size_t limit, std::int64_t now) {
  auto alive = now - store::nodes::kGoneAfterMs;
  auto pending = writer_.run<std::vector<Job>>(
      [channel = lane.name, node = node_, now, limit, alive](store::Db& db) -> Result<std::vector<Job>> {
        return outbox::claim(db, channel, now, limit, node, alive);
      });
  auto rows = co_await std::move(pending);
  lane.claiming = false;
  if (stopped_) co_return;  // what was claimed is let go of when this node starts again, or taken once it is gone
  if (!rows) {
    logging::get("notify")->error("notify.claim_failed channel={} error=\"{}\"", lane.name, rows.error().message);
    arm(lane, timeutil::now_ms() + store::nodes::kBeatMs);
    co_return;
  }
  // Every job claimed is taken (at most `limit`): nobody else may take it while this node is alive.
  take(lane, std::move(*rows), timeutil::now_ms(), limit, config_.get());
}

void Dispatcher::take(Lane& lane, std::vector<Job> rows, std::int64_t now, std::size_t free,
                      std::shared_ptr<const config::Config> cfg) {
  double rate = lane.channel->rate(*cfg);
  bool claimed = !node_.empty();  // counted against the rate when claimed
  std::size_t taken = 0;
  bool limited = false;
  std::vector<Job> feed_batch;
  // Channels that make several attempts at once on a thread get their jobs in chunks.
  std::size_t per_thread = lane.channel->concurrency();
  const auto& desc = lane.channel->descriptor();
  std::vector<Job> chunk;
  std::vector<Job> gone;  // their address was removed, or is someone else's now
  for (auto& job : rows) {
    if (taken == free) break;
    if (rate > 0) {
      if (lane.tokens < 1 && !claimed) {
        limited = true;
        break;
      }
      lane.tokens -= 1;
    }
    lane.in_flight.insert(job.id);
    ++taken;
    if (lane.channel->stored()) {
      feed_batch.push_back(std::move(job));
      if (feed_batch.size() == kFeedBatch)
        asio::co_spawn(io_, deliver_stored(lane, std::exchange(feed_batch, {})), asio::detached);
      continue;
    }
    // The destination is resolved here, on the loop, and must still be the recipient's; then the
    // job is delivered on the channel's threads.
    std::optional<Destination> to{std::in_place};
    if (desc.resolve) to = reads_.with([&](store::Db& db) { return desc.resolve(db, job); });
    if (!to) {
      gone.push_back(std::move(job));
      continue;
    }
    if (per_thread > 1) {
      chunk.push_back(std::move(job));
      if (chunk.size() == per_thread) deliver(lane, std::exchange(chunk, {}), {}, cfg);
      continue;
    }
    std::vector<Job> one;
    one.push_back(std::move(job));
    deliver(lane, std::move(one), {std::move(*to)}, cfg);
  }
  for (auto& job : gone) finished(lane, std::move(job), Outcome::permanent("gone", "the address is no longer the recipient's"));
  if (!feed_batch.empty()) asio::co_spawn(io_, deliver_stored(lane, std::move(feed_batch)), asio::detached);
  if (!chunk.empty()) deliver(lane, std::move(chunk), {}, cfg);
  if (limited) {
    arm(lane, now + static_cast<std::int64_t>(1000.0 / rate) + 1);
  } else if (taken < free) {
    // Everything due is on its way: sleep until the next job is due (or a wake()). Jobs due now
    // but in flight call poll() when they finish.
    auto next = reads_.with([&](store::Db& db) { return outbox::next_due(db, lane.name, now); });
    if (claimed) next = std::min(next.value_or(now + store::nodes::kBeatMs), now + store::nodes::kBeatMs);
    if (next) arm(lane, *next);
  }
}

void Dispatcher::deliver(Lane& lane, std::vector<Job> jobs, std::vector<Destination> to,
                         std::shared_ptr<const config::Config> cfg) {
  asio::post(*lane.pool, [this, &lane, jobs = std::move(jobs), to = std::move(to), cfg]() mutable {
    auto n = static_cast<std::int64_t>(jobs.size());
    lane.active += n;
    auto started = std::chrono::steady_clock::now();
    std::vector<Outcome> outcomes;
    try {
      if (jobs.size() == 1) {
        outcomes.push_back(lane.channel->deliver(jobs[0], to.empty() ? Destination{} : to[0], *cfg));
      } else {
        outcomes = lane.channel->deliver_all(jobs, *cfg);
      }
    } catch (const std::exception& e) {
      outcomes.assign(jobs.size(), Outcome::retry("internal", e.what()));
    }
    lane.active -= n;
    auto all_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
    asio::post(io_, [this, &lane, jobs = std::move(jobs), outcomes = std::move(outcomes), all_ms]() mutable {
      for (std::size_t i = 0; i < jobs.size(); ++i) {
        if (!outcomes[i].duration_ms) outcomes[i].duration_ms = all_ms;  // the channel did not time it
        finished(lane, std::move(jobs[i]), std::move(outcomes[i]));
      }
    });
  });
}

void Dispatcher::finished(Lane& lane, Job job, Outcome outcome) {
  lane.ended.push_back({std::move(job), std::move(outcome)});
  if (!lane.recording) {
    lane.recording = true;
    asio::co_spawn(io_, record(lane), asio::detached);
  }
}

boost::asio::awaitable<void> Dispatcher::record(Lane& lane) {
  auto log = logging::get("notify");
  while (!lane.ended.empty()) {
    auto batch = std::move(lane.ended);
    lane.ended.clear();
    auto cfg = config_.get();
    auto now = timeutil::now_ms();
    // When each failed job is tried again (nullopt: delivered, or no attempts left).
    std::vector<std::optional<std::int64_t>> retry_at(batch.size());
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& job = batch[i].job;
      const auto& outcome = batch[i].outcome;
      if (outcome.kind != Outcome::Kind::retry || job.attempts + 1 >= cfg->notify_max_attempts) continue;
      auto wait = backoff_ms(job.attempts + 1, cfg->notify_retry_base_ms, cfg->notify_retry_max_ms);
      if (outcome.retry_after_ms) wait = std::max(wait, std::min(*outcome.retry_after_ms, cfg->notify_retry_max_ms));
      retry_at[i] = now + wait;
    }
    auto forget = lane.channel->descriptor().forget;
    auto pending = writer_.run<bool>([&batch, &retry_at, now, forget](store::Db& db) -> Result<bool> {
      for (std::size_t i = 0; i < batch.size(); ++i) {
        const auto& [job, outcome] = batch[i];
        outbox::record(db, job, outcome, now, outcome.duration_ms.value_or(0), retry_at[i]);
        if (outcome.forget_address && forget) forget(db, job);
      }
      return true;
    });
    auto done = co_await std::move(pending);
    for (std::size_t i = 0; i < batch.size(); ++i) {
      const auto& job = batch[i].job;
      const auto& outcome = batch[i].outcome;
      lane.in_flight.erase(job.id);
      if (!done) {
        log->error("notify.record_failed job={} error=\"{}\"", job.id, done.error().message);
      } else if (outcome.kind == Outcome::Kind::delivered) {
        ++lane.stats.delivered;
        log->debug("notify.delivered job={} channel={} status={} ms={}", job.id, job.channel, outcome.status,
                   outcome.duration_ms.value_or(0));
      } else if (retry_at[i]) {
        ++lane.stats.retried;
        log->info("notify.retry job={} channel={} attempt={} status={} next_in_ms={}", job.id, job.channel,
                  job.attempts + 1, outcome.status, *retry_at[i] - now);
        arm(lane, *retry_at[i]);
      } else {
        ++lane.stats.dead;
        log->warn("notify.dead job={} channel={} attempts={} status={}{}", job.id, job.channel, job.attempts + 1,
                  outcome.status, outcome.forget_address ? " address_removed=true" : "");
      }
    }
    // Take new jobs in batches, not one by one.
    if (lane.in_flight.size() <= lane.capacity / 2) poll(lane);
  }
  lane.recording = false;
}

boost::asio::awaitable<void> Dispatcher::deliver_stored(Lane& lane, std::vector<Job> jobs) {
  // One write for the batch: what the channel stores and the attempts commit together.
  auto now = timeutil::now_ms();
  std::vector<char> online(jobs.size());
  for (std::size_t i = 0; i < jobs.size(); ++i) online[i] = events_.presence(jobs[i].user_id) != events::Presence::offline;
  auto* channel = lane.channel.get();
  auto pending = writer_.run<std::vector<Stored>>([&jobs, &online, now, channel](store::Db& db) -> Result<std::vector<Stored>> {
    auto stored = channel->store(db, jobs, online, now);
    for (std::size_t i = 0; i < jobs.size(); ++i) outbox::record(db, jobs[i], stored[i].outcome, now, 0, std::nullopt);
    return stored;
  });
  auto stored = co_await std::move(pending);
  for (const auto& job : jobs) lane.in_flight.erase(job.id);
  if (stored) {
    lane.stats.delivered += stored->size();
    // Pushed once committed, to users still online.
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      std::int64_t user = jobs[i].user_id;
      if ((*stored)[i].push && events_.presence(user) != events::Presence::offline)
        events_.publish(std::span(&user, 1), (*stored)[i].push);
    }
  } else {
    logging::get("notify")->error("notify.record_failed jobs={} error=\"{}\"", jobs.size(), stored.error().message);
  }
  poll(lane);
}

}  // namespace tourbus::notify
