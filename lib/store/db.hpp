// A thin RAII layer over one database connection: cached prepared statements, typed binds and
// columns. Two engines sit behind it: SQLite (the embedded default) and PostgreSQL (several nodes
// sharing one store). Repositories write standard SQL with `?` or `?N` parameters; the PostgreSQL
// connection turns them into `$N`. Failures throw store::SqlError; repositories turn the ones users
// can cause into Results. A Db is used by one thread at a time.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <optional>
#include <stdexcept>
#include <string>
#include <string_view>
#include <utility>

struct sqlite3;

namespace tourbus::store {

enum class Dialect { sqlite, postgres };

// What a result column holds in the current row.
enum class Value { null, integer, real, text };

// Where the data lives: a SQLite file, or a PostgreSQL database named by a libpq connection string
// (the password kept apart, so that the string can be logged).
struct Target {
  std::filesystem::path file;
  std::string postgres;
  std::string password;

  Target() = default;
  Target(std::filesystem::path f) : file(std::move(f)) {}
  Target(const char* f) : file(f) {}
  Target(const std::string& f) : file(f) {}
  static Target pg(std::string conninfo, std::string password = {}) {
    Target t;
    t.postgres = std::move(conninfo);
    t.password = std::move(password);
    return t;
  }
  Dialect dialect() const { return postgres.empty() ? Dialect::sqlite : Dialect::postgres; }
  // The file's path or the connection string; never the password.
  std::string describe() const { return postgres.empty() ? file.string() : postgres; }
};

class SqlError : public std::runtime_error {
 public:
  enum class Kind { other, unique, constraint, retry };
  SqlError(int rc, int extended, const std::string& what);
  SqlError(Kind kind, const std::string& what) : std::runtime_error(what), kind_(kind) {}
  bool is_unique_violation() const { return kind_ == Kind::unique; }
  bool is_constraint() const { return kind_ == Kind::unique || kind_ == Kind::constraint; }
  // A deadlock or serialization failure between nodes: the transaction may be run again.
  bool is_retryable() const { return kind_ == Kind::retry; }

 private:
  Kind kind_ = Kind::other;
};

namespace detail {
// One prepared statement of an engine, owned by its connection's cache.
class Cursor {
 public:
  virtual ~Cursor() = default;
  virtual void bind_i64(int i, std::int64_t v) = 0;
  virtual void bind_real(int i, double v) = 0;
  virtual void bind_text(int i, std::string_view v) = 0;
  virtual void bind_null(int i) = 0;
  virtual bool step() = 0;
  virtual void reset() = 0;
  virtual bool is_null(int col) const = 0;
  virtual std::int64_t i64(int col) const = 0;
  virtual double real(int col) const = 0;
  virtual std::string text(int col) const = 0;
  virtual int columns() const = 0;
  virtual Value type(int col) const = 0;
};

class Connection {
 public:
  virtual ~Connection() = default;
  virtual void exec(std::string_view sql) = 0;
  virtual Cursor& prepare(std::string_view sql) = 0;
  virtual std::int64_t last_insert_rowid() = 0;
  virtual std::int64_t changes() const = 0;
  virtual sqlite3* sqlite_handle() const { return nullptr; }
};

std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& path, bool read_only);
// `?` and `?N` as PostgreSQL's `$N`, and how many parameters there are.
std::pair<std::string, int> postgres_parameters(std::string_view sql);
std::unique_ptr<Connection> open_postgres(const Target& target, bool read_only);
}  // namespace detail

class Stmt;

class Db {
 public:
  enum class Mode { read_write, read_only };
  Db(const Target& target, Mode mode);
  ~Db();
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  Dialect dialect() const { return dialect_; }
  // Runs one or more statements without results.
  void exec(std::string_view sql) { conn_->exec(sql); }
  // A cached prepared statement, reset and cleared when the returned Stmt goes away.
  Stmt prepare(std::string_view sql);
  // The key of the row the last INSERT made (on PostgreSQL: the last identity value drawn).
  std::int64_t last_insert_rowid() const { return conn_->last_insert_rowid(); }
  // Rows changed by the last statement run.
  int changes() const { return static_cast<int>(conn_->changes()); }
  // The SQLite connection, for the online backup; null on PostgreSQL.
  sqlite3* handle() const { return conn_->sqlite_handle(); }

 private:
  Dialect dialect_;
  std::unique_ptr<detail::Connection> conn_;
};

class Stmt {
 public:
  explicit Stmt(detail::Cursor& c) : c_(&c) {}
  Stmt(Stmt&& o) noexcept : c_(o.c_) { o.c_ = nullptr; }
  Stmt(const Stmt&) = delete;
  ~Stmt() {
    if (c_) c_->reset();
  }

  // Binds are 1-based like SQLite's.
  Stmt& bind(int i, std::int64_t v) { return c_->bind_i64(i, v), *this; }
  Stmt& bind(int i, int v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, bool v) { return bind(i, static_cast<std::int64_t>(v)); }
  Stmt& bind(int i, double v) { return c_->bind_real(i, v), *this; }
  Stmt& bind(int i, std::string_view v) { return c_->bind_text(i, v), *this; }
  Stmt& bind(int i, const std::string& v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, const char* v) { return bind(i, std::string_view(v)); }
  Stmt& bind(int i, std::nullopt_t) { return c_->bind_null(i), *this; }
  template <class T>
  Stmt& bind(int i, const std::optional<T>& v) {
    return v ? bind(i, *v) : bind(i, std::nullopt);
  }

  // Steps once; true while a row is available.
  bool step() { return c_->step(); }
  // Steps to completion (for statements without results).
  void run() {
    while (step()) {
    }
  }

  bool is_null(int col) const { return c_->is_null(col); }
  std::int64_t i64(int col) const { return c_->i64(col); }
  double real(int col) const { return c_->real(col); }
  std::string text(int col) const { return c_->text(col); }
  int columns() const { return c_->columns(); }
  Value type(int col) const { return c_->type(col); }
  std::optional<std::string> opt_text(int col) const {
    if (is_null(col)) return std::nullopt;
    return text(col);
  }
  std::optional<std::int64_t> opt_i64(int col) const {
    if (is_null(col)) return std::nullopt;
    return i64(col);
  }
  std::optional<double> opt_real(int col) const {
    if (is_null(col)) return std::nullopt;
    return real(col);
  }

 private:
  detail::Cursor* c_;
};

inline Stmt Db::prepare(std::string_view sql) { return Stmt(conn_->prepare(sql)); }

}  // namespace tourbus::store
