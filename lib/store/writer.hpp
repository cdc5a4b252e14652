// The single writer: one connection, one thread, group commit. Callers hand it a function that
// runs inside the batch's transaction (under its own savepoint, so a failing write is rolled back
// alone); each caller is resumed only after the whole batch has committed.
// On PostgreSQL, where other nodes write too, a batch that meets a deadlock or a serialization
// failure is rolled back and run again whole (the functions must touch nothing but the database).
// Thread-safe: submit from any thread. The function runs on the writer thread.
#pragma once

#include <condition_variable>
#include <cstdint>
#include <deque>
#include <filesystem>
#include <functional>
#include <future>
#include <memory>
#include <mutex>
#include <optional>
#include <thread>
#include <vector>

#include <boost/asio/associated_executor.hpp>
#include <boost/asio/async_result.hpp>
#include <boost/asio/post.hpp>
#include <boost/asio/use_awaitable.hpp>

#include "core/error.hpp"
#include "store/db.hpp"

namespace tourbus::store {

struct WriterStats {
  std::uint64_t commits = 0;  // transactions committed
  std::uint64_t writes = 0;   // caller writes committed (or rolled back alone)
  std::uint64_t failed_commits = 0;
  std::uint64_t retried_batches = 0;  // run again after a deadlock or serialization failure
  std::uint64_t max_batch_seen = 0;
  std::uint64_t queued = 0;  // waiting right now
};

class Writer {
 public:
  struct Options {
    std::string synchronous = "full";
    std::size_t max_batch = 256;
    std::size_t max_queue = 65536;  // beyond this, writes fail with `unavailable`
  };
  // Opens the database, configures it and applies migrations; throws on failure.
  Writer(const Target& target, Options options);
  ~Writer();

  // Runs fn(Db&) -> Result<T> in the next batch; completes after commit. Awaitable form.
  template <class T, class F>
  boost::asio::awaitable<Result<T>> run(F fn);
  // Blocking form, for start-up code and tests.
  template <class T, class F>
  Result<T> run_sync(F fn);

  // Runs fn(Db&) in the next batch without waiting for it: bookkeeping nobody is told about
  // (last-seen times). Dropped when the writer is stopping or full.
  template <class F>
  void submit_detached(F fn) {
    (void)submit(Entry{[fn = std::move(fn)](Db& db) mutable {
                         fn(db);
                         return true;
                       },
                       [](std::optional<Error>) {}});
  }

  // Finishes everything queued, then stops the thread. Later writes fail with `unavailable`.
  void stop();
  // From now on every write fails with `unavailable` and this message (the store has moved),
  // those already queued included. May be called by a write, on the writer's thread: the writes
  // after it in its batch are not made either.
  void refuse_writes(std::string why);
  // refuse_writes' message; empty while writes are taken.
  std::string refusing() const;
  WriterStats stats() const;
  int schema_version() const { return schema_version_; }

 private:
  struct Entry {
    std::function<bool(Db&)> work;                      // false: roll back this write
    std::function<void(std::optional<Error>)> done;     // error when the batch failed to commit
  };
  bool submit(Entry e);
  std::string refused() const;   // why a write is refused
  void loop();
  std::optional<Error> commit(std::vector<Entry>& batch);

  Options options_;
  std::unique_ptr<Db> db_;
  int schema_version_ = 0;
  mutable std::mutex mutex_;
  std::condition_variable cv_;
  std::deque<Entry> queue_;
  bool stopping_ = false;
  std::string refusal_;  // set by refuse_writes
  WriterStats stats_;
  std::thread thread_;
};

template <class T, class F>
boost::asio::awaitable<Result<T>> Writer::run(F fn) {
  return boost::asio::async_initiate<decltype(boost::asio::use_awaitable), void(Result<T>)>(
      [this, fn = std::move(fn)](auto handler) mutable {
        auto h = std::make_shared<decltype(handler)>(std::move(handler));
        auto result = std::make_shared<std::optional<Result<T>>>();
        auto complete = [h, result](std::optional<Error> failure) {
          auto ex = boost::asio::get_associated_executor(*h);
          boost::asio::post(ex, [h, result, failure = std::move(failure)]() mutable {
            if (failure) (*h)(Result<T>(*failure));
            else (*h)(std::move(**result));
          });
        };
        Entry e{[fn = std::move(fn), result](Db& db) mutable {
                  *result = fn(db);
                  return result->has_value() && (*result)->ok();
                },
                complete};
        if (!submit(std::move(e))) complete(Error(Code::unavailable, refused()));
      },
      boost::asio::use_awaitable);
}

template <class T, class F>
Result<T> Writer::run_sync(F fn) {
  auto result = std::make_shared<std::optional<Result<T>>>();
  auto promise = std::make_shared<std::promise<std::optional<Error>>>();
  auto future = promise->get_future();
  Entry e{[fn = std::move(fn), result](Db& db) mutable {
            *result = fn(db);
            return (*result)->ok();
          },
          [promise](std::optional<Error> failure) { promise->set_value(std::move(failure)); }};
  if (!submit(std::move(e))) return Error(Code::unavailable, refused());
  if (auto failure = future.get()) return *failure;
  return std::move(**result);
}

}  // namespace tourbus::store
