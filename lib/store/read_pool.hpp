// Read connections. A reader sees the last committed state and never waits for the writer
// (SQLite in WAL mode; PostgreSQL's MVCC). Thread-safe: each call borrows one connection for the duration of fn.
#pragma once

#include <condition_variable>
#include <filesystem>
#include <memory>
#include <mutex>
#include <vector>

#include "store/db.hpp"

namespace tourbus::store {

class ReadPool {
 public:
  ReadPool(const Target& target, std::size_t connections);

  template <class F>
  auto with(F&& fn) {
    Lease lease(*this);
    return fn(*lease.db);
  }

 private:
  struct Lease {
    explicit Lease(ReadPool& p);
    ~Lease();
    ReadPool& pool;
    Db* db;
  };
  std::mutex mutex_;
  std::condition_variable cv_;
  std::vector<std::unique_ptr<Db>> all_;
  std::vector<Db*> free_;
};

}  // namespace tourbus::store
