#include "store/writer.hpp"

#include "core/logging.hpp"
#include "store/database.hpp"

namespace tourbus::store {

Writer::Writer(const std::filesystem::path& path, Options options) : options_(std::move(options)) {
  db_ = std::make_unique<Db>(path, Db::Mode::read_write);
  configure_writer(*db_, options_.synchronous);
  auto version = migrate(*db_);
  if (!version) throw std::runtime_error(version.error().message);
  schema_version_ = *version;
  thread_ = std::thread([this] { loop(); });
}

Writer::~Writer() { stop(); }

bool Writer::submit(Entry e) {
  {
    std::lock_guard lock(mutex_);
    if (stopping_ || queue_.size() >= options_.max_queue) return false;
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
  if (db_) {
    // Fold the WAL back into the main file so a clean stop leaves one self-contained file.
    try {
      db_->exec("PRAGMA wal_checkpoint(TRUNCATE)");
    } catch (const SqlError& e) {
      logging::get("store")->warn("store.checkpoint_failed error=\"{}\"", e.what());
    }
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
  auto log = logging::get("store");
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
    std::optional<Error> failure;
    try {
      db_->prepare("BEGIN IMMEDIATE").run();
      for (auto& e : batch) {
        db_->prepare("SAVEPOINT w").run();
        bool keep = false;
        try {
          keep = e.work(*db_);
        } catch (const std::exception& ex) {
          log->error("store.write_failed error=\"{}\"", ex.what());
          // The caller's result stays empty and is reported as internal below.
          e.done = [done = std::move(e.done)](std::optional<Error> f) {
            done(f ? f : std::optional<Error>(Error(Code::internal, "the write failed; see the daemon log")));
          };
        }
        if (!keep) db_->prepare("ROLLBACK TO w").run();
        db_->prepare("RELEASE w").run();
      }
      db_->prepare("COMMIT").run();
    } catch (const SqlError& ex) {
      log->error("store.commit_failed error=\"{}\" writes={}", ex.what(), batch.size());
      try { db_->exec("ROLLBACK"); } catch (const SqlError&) {}
      failure = Error(Code::internal, "the write could not be committed; see the daemon log");
    }
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

}  // namespace tourbus::store
