#include "store/writer.hpp"

#include "core/logging.hpp"
#include "store/database.hpp"

namespace tourbus::store {

Writer::Writer(const Target& target, Options options) : options_(std::move(options)) {
  db_ = std::make_unique<Db>(target, Db::Mode::read_write);
  configure_writer(*db_, options_.synchronous);
  auto version = migrate(*db_);
  if (!version) throw std::runtime_error(version.error().message);
  schema_version_ = *version;
  thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() { stop(); }

void Writer::refuse_writes(std::string why) {
  std::lock_guard lock(mutex_);
  refusal_ = std::move(why);
}

std::string Writer::refusing() const {
  std::lock_guard lock(mutex_);
  return refusal_;
}

std::string Writer::refused() const {
  std::lock_guard lock(mutex_);
  return refusal_.empty() ? "the store is not accepting writes (shutting down or overloaded)" : refusal_;
}

bool Writer::submit(Entry e) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || !refusal_.empty() || queue_.size() >= options_.max_queue) return false;
    queue_.push_back(std::move(e));
  }
  cv_.notify_one();
  return true;
}

void Writer::stop() {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ && !thread_.joinable()) return;
    stopping_ = true;
  }
  cv_.notify_one();
  if (thread_.joinable()) thread_.join();
  if (db_ && db_->dialect() == Dialect::sqlite) {
    // Fold the WAL back into the main file so a clean stop leaves one self-contained file.
    try {
      db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SqlError& e) {
      logging::get("store")->warn("store.checkpoint_failed error=\"{}\"", e.what());
    }
  }
  if (db_) {
    db_.reset();
    logging::get("store")->info("store.closed");
  }
}

WriterStats Writer::stats() const {
  std::lock_guard lock(mutex_);
  auto s = stats_;
  s.queued = queue_.size();
  return s;
}

void Writer::loop() {
  std::vector<Entry> batch;
  batch.reserve(options_.max_batch);
  for (;;) {
    {
      std::unique_lock lock(mutex_);
      cv_.wait(lock, [&] { return stopping_ || !queue_.empty(); });
      if (queue_.empty()) return;  // stopping, and everything queued is done
      while (!queue_.empty() && batch.size() < options_.max_batch) {
        batch.push_back(std::move(queue_.front()));
        queue_.pop_front();
      }
    }
    std::optional<Error> failure = commit(batch);
    {
      std::lock_guard lock(mutex_);
      if (failure) ++stats_.failed_commits;
      else ++stats_.commits;
      stats_.writes += batch.size();
      stats_.max_batch_seen = std::max<std::uint64_t>(stats_.max_batch_seen, batch.size());
    }
    for (auto& e : batch) e.done(failure);
    batch.clear();
  }
}

// Runs the batch in one transaction, each write under its own savepoint. A write that throws is
// rolled back alone and its caller told `internal`; a deadlock or serialization failure (other
// nodes writing the same rows) runs the whole batch again.
std::optional<Error> Writer::commit(std::vector<Entry>& batch) {
  auto log = logging::get("store");
  bool pg = db_->dialect() == Dialect::postgres;
  // On PostgreSQL each statement is a round trip: the transaction's own statements wait and go
  // with the next one that must run at once (BEGIN with the first SAVEPOINT, each RELEASE with
  // the next SAVEPOINT or the COMMIT), one round trip for two.
  std::string waiting;
  auto sql = [&](const char* text, bool now) {
    if (!pg) {
      db_->prepare(text).run();
      return;
    }
    waiting.append(text).append(";");
    if (now) {
      auto statements = std::move(waiting);
      waiting.clear();
      db_->exec(statements);
    }
  };
  std::vector<char> threw(batch.size()), skipped(batch.size());
  for (int attempt = 1;; ++attempt) {
    std::fill(threw.begin(), threw.end(), 0);
    std::fill(skipped.begin(), skipped.end(), 0);
    waiting.clear();
    try {
      sql(pg ? "BEGIN" : "BEGIN IMMEDIATE", false);
      for (std::size_t i = 0; i < batch.size(); ++i) {
        // Writes after refuse_writes (queued before it, or later in its batch) are not made.
        if (skipped[i] = !refusing().empty(); skipped[i]) continue;
        sql("SAVEPOINT w", true);
        bool keep = false;
        try {
          keep = batch[i].work(*db_);
        } catch (const SqlError& ex) {
          if (ex.is_retryable()) throw;
          log->error("store.write_failed error=\"{}\"", ex.what());
          threw[i] = 1;
        } catch (const std::exception& ex) {
          log->error("store.write_failed error=\"{}\"", ex.what());
          threw[i] = 1;
        }
        if (!keep) sql("ROLLBACK TO w", true);
        sql("RELEASE w", false);
      }
      sql("COMMIT", true);
      break;
    } catch (const SqlError& ex) {
      try { db_->exec("ROLLBACK"); } catch (const SqlError&) {}
      if (ex.is_retryable() && attempt < 10) {
        log->warn("store.batch_retried error=\"{}\" writes={} attempt={}", ex.what(), batch.size(), attempt);
        std::lock_guard lock(mutex_);
        ++stats_.retried_batches;
        continue;
      }
      log->error("store.commit_failed error=\"{}\" writes={}", ex.what(), batch.size());
      return Error(Code::internal, "the write could not be committed; see the daemon log");
    }
  }
  for (std::size_t i = 0; i < batch.size(); ++i) {
    if (skipped[i]) {
      batch[i].done = [done = std::move(batch[i].done), why = refused()](std::optional<Error>) {
        done(Error(Code::unavailable, why));
      };
      continue;
    }
    if (!threw[i]) continue;
    // The caller's result stays empty and is reported as internal.
    batch[i].done = [done = std::move(batch[i].done)](std::optional<Error> f) {
      done(f ? f : std::optional<Error>(Error(Code::internal, "the write failed; see the daemon log")));
    };
  }
  return std::nullopt;
}

}  // namespace tourbus::store
