// A thin RAII layer over one sqlite3 connection: cached prepared statements, typed binds and
// columns. Failures throw store::SqlError; repositories turn the ones users can cause into Results.
// A Db is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <unordered_map>

struct sqlite3;
struct sqlite3_stmt;

namespace tourbus::store {

class SqlError : public std::runtime_error {
 public:
  SqlError(int rc, int extended, const std::string& what) : std::runtime_error(what), rc_(rc), extended_(extended) {}
  int rc() const { return rc_; }
  int extended() const { return extended_; }
  bool is_unique_violation() const;
  bool is_constraint() const;

 private:
  int rc_, extended_;
};

class Stmt;

class Db {
 public:
  enum class Mode { read_write, read_only };
  Db(const std::filesystem::path& path, Mode mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // Runs one or more statements without results.
  void exec(std::string_view sql);
  // A cached prepared statement, reset and cleared when the returned Stmt goes away.
  Stmt prepare(std::string_view sql);
  std::int64_t last_insert_rowid() const;
  int changes() const;
  sqlite3* handle() const { return db_; }
  [[noreturn]] void fail(int rc, std::string_view context) const;

 private:
  sqlite3* db_ = nullptr;
  // Keyed by the SQL text; looked up by string_view without building a string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, sqlite3_stmt*, Hash, std::equal_to<>> cache_;
};

class Stmt {
 public:
  Stmt(Db& db, sqlite3_stmt* s) : db_(&db), s_(s) {}
  Stmt(Stmt&& o) noexcept : db_(o.db_), s_(o.s_) { o.s_ = nullptr; }
  Stmt(const Stmt&) = delete;
  ~Stmt();

  // Binds are 1-based like SQLite's.
  Stmt& bind(int i, std::int64_t v);
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, double v);
  Stmt& bind(int i, std::string_view v);
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, std::nullopt_t);
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }

  // Steps once; true while a row is available.
  bool step();
  // Steps to completion (for statements without results).
  void run();

  bool is_null(int col) const;
  std::int64_t i64(int col) const;
  double real(int col) const;
  std::string text(int col) const;
  std::optional<std::string> opt_text(int col) const;
  std::optional<std::int64_t> opt_i64(int col) const;
  std::optional<double> opt_real(int col) const;

 private:
  Db* db_;
  sqlite3_stmt* s_;
};

}  // namespace tourbus::store
