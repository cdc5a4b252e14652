// Helpers shared by the unit tests.
#pragma once

#include <unistd.h>

#include <atomic>
#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

#include "store/db.hpp"
#include "store/users.hpp"

namespace tourbus::test {

// A directory under the system temp dir, removed with everything in it at the end of a test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tourbus-unit-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The text of a file of the source tree (docs, man pages, examples), by path from its root.
inline std::string source_file(const std::string& relative) {
  std::ifstream f(std::string(TOURBUS_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

// The PostgreSQL server the store tests run against, when CTest's `unit (postgres)` started one:
// its base connection string from TOURBUS_TEST_POSTGRES or the file TOURBUS_TEST_POSTGRES_FILE
// names; empty otherwise.
inline std::string postgres_base() {
  if (const char* v = std::getenv("TOURBUS_TEST_POSTGRES"); v && *v) return v;
  const char* file = std::getenv("TOURBUS_TEST_POSTGRES_FILE");
  if (!file || !*file) return {};
  std::ifstream f(file);
  std::string line;
  std::getline(f, line);
  return line;
}

inline bool on_postgres() { return !postgres_base().empty(); }

// The store a repository test runs against: a SQLite file in `dir`, or, under `unit (postgres)`,
// a fresh PostgreSQL database of the test's own (the cluster is thrown away after the run).
inline store::Target store_target(const TempDir& dir) {
  auto base = postgres_base();
  if (base.empty()) return dir / "t.db";
  const char* pw = std::getenv("TOURBUS_TEST_POSTGRES_PASSWORD");
  std::string password = pw ? pw : "";
  static std::atomic<int> counter{0};
  std::string name = "unit_" + std::to_string(::getpid()) + "_" + std::to_string(++counter);
  store::Db admin(store::Target::pg(base + " dbname=postgres", password), store::Db::Mode::read_write);
  admin.exec("DROP DATABASE IF EXISTS " + name);
  admin.exec("CREATE DATABASE " + name);
  return store::Target::pg(base + " dbname=" + name, password);
}

// A tourist with that handle; returns their id.
inline std::int64_t new_user(store::Db& db, const std::string& handle) {
  store::User u;
  u.handle = handle;
  u.display_name = handle;
  u.role = "tourist";
  return store::users::insert(db, u)->id;
}

}  // namespace tourbus::test
