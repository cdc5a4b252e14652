#include "store/read_pool.hpp"

#include "store/database.hpp"

namespace tourbus::store {

ReadPool::ReadPool(const Target& target, std::size_t connections) {
  for (std::size_t i = 0; i < std::max<std::size_t>(connections, 1); ++i) {
    auto db = std::make_unique<Db>(target, Db::Mode::read_only);
    configure_reader(*db);
    free_.push_back(db.get());
    all_.push_back(std::move(db));
  }
}

ReadPool::Lease::Lease(ReadPool& p) : pool(p) {
  std::unique_lock lock(p.mutex_);
  p.cv_.wait(lock, [&] { return !p.free_.empty(); });
  db = p.free_.back();
  p.free_.pop_back();
}

ReadPool::Lease::~Lease() {
  {
    std::lock_guard lock(pool.mutex_);
    pool.free_.push_back(db);
  }
  pool.cv_.notify_one();
}

}  // namespace tourbus::store
