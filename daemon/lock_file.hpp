// One daemon per state dir: an exclusive flock on <state_dir>/tourbusd.lock held for the
// process's lifetime (released by the kernel even after kill -9).
#pragma once

#include <filesystem>

#include "core/error.hpp"

namespace tourbus::daemon {

class LockFile {
 public:
  // Takes the lock or explains who holds it.
  static Result<LockFile> acquire(const std::filesystem::path& path);
  LockFile(LockFile&& o) noexcept : fd_(o.fd_) { o.fd_ = -1; }
  LockFile(const LockFile&) = delete;
  ~LockFile();

 private:
  explicit LockFile(int fd) : fd_(fd) {}
  int fd_ = -1;
};

}  // namespace tourbus::daemon
