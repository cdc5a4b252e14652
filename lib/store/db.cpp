#include "store/db.hpp"

#include <mutex>
#include <unordered_map>

#include <sqlite3.h>

namespace tourbus::store {
namespace {

// Once per process, before the first connection: no global memory statistics (they take a
// mutex on every allocation SQLite makes, and nothing reads them).
void configure_sqlite() {
  static std::once_flag once;
  std::call_once(once, [] { sqlite3_config(SQLITE_CONFIG_MEMSTATUS, 0); });
}

SqlError::Kind kind_of(int rc, int extended) {
  if (extended == SQLITE_CONSTRAINT_UNIQUE || extended == SQLITE_CONSTRAINT_PRIMARYKEY) return SqlError::Kind::unique;
  if ((rc & 0xff) == SQLITE_CONSTRAINT) return SqlError::Kind::constraint;
  return SqlError::Kind::other;
}

class SqliteConnection;

class SqliteCursor final : public detail::Cursor {
 public:
  SqliteCursor(SqliteConnection& conn, sqlite3_stmt* s) : conn_(conn), s_(s) {}
  ~SqliteCursor() override { sqlite3_finalize(s_); }

  void bind_i64(int i, std::int64_t v) override { check(sqlite3_bind_int64(s_, i, v)); }
  void bind_real(int i, double v) override { check(sqlite3_bind_double(s_, i, v)); }
  void bind_text(int i, std::string_view v) override {
    check(sqlite3_bind_text64(s_, i, v.data(), v.size(), SQLITE_TRANSIENT, SQLITE_UTF8));
  }
  void bind_null(int i) override { check(sqlite3_bind_null(s_, i)); }
  bool step() override;
  void reset() override {
    sqlite3_reset(s_);
    sqlite3_clear_bindings(s_);
  }
  bool is_null(int col) const override { return sqlite3_column_type(s_, col) == SQLITE_NULL; }
  std::int64_t i64(int col) const override { return sqlite3_column_int64(s_, col); }
  double real(int col) const override { return sqlite3_column_double(s_, col); }
  std::string text(int col) const override {
    auto* p = reinterpret_cast<const char*>(sqlite3_column_text(s_, col));
    return p ? std::string(p, static_cast<std::size_t>(sqlite3_column_bytes(s_, col))) : std::string();
  }
  int columns() const override { return sqlite3_column_count(s_); }
  store::Value type(int col) const override {
    switch (sqlite3_column_type(s_, col)) {
      case SQLITE_NULL: return store::Value::null;
      case SQLITE_INTEGER: return store::Value::integer;
      case SQLITE_FLOAT: return store::Value::real;
      default: return store::Value::text;
    }
  }

 private:
  void check(int rc);
  SqliteConnection& conn_;
  sqlite3_stmt* s_;
};

class SqliteConnection final : public detail::Connection {
 public:
  SqliteConnection(const std::filesystem::path& path, bool read_only) {
    configure_sqlite();
    int flags = read_only ? SQLITE_OPEN_READONLY : (SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE);
    flags |= SQLITE_OPEN_NOMUTEX;
    int rc = sqlite3_open_v2(path.c_str(), &db_, flags, nullptr);
    if (rc != SQLITE_OK) {
      std::string msg = "cannot open database " + path.string() + ": " + (db_ ? sqlite3_errmsg(db_) : sqlite3_errstr(rc));
      sqlite3_close_v2(db_);
      throw SqlError(rc, rc, msg);
    }
    sqlite3_extended_result_codes(db_, 1);
    sqlite3_busy_timeout(db_, 5000);
  }
  ~SqliteConnection() override {
    cache_.clear();  // finalizes every statement before the connection closes
    sqlite3_close_v2(db_);
  }

  [[noreturn]] void fail(int rc, std::string_view context) const {
    throw SqlError(rc & 0xff, sqlite3_extended_errcode(db_), std::string(context) + ": " + sqlite3_errmsg(db_));
  }

  void exec(std::string_view sql) override {
    std::string s(sql);
    char* err = nullptr;
    int rc = sqlite3_exec(db_, s.c_str(), nullptr, nullptr, &err);
    if (rc != SQLITE_OK) {
      std::string msg = err ? err : sqlite3_errstr(rc);
      sqlite3_free(err);
      throw SqlError(rc & 0xff, sqlite3_extended_errcode(db_), "exec failed: " + msg);
    }
  }

  detail::Cursor& prepare(std::string_view sql) override {
    auto it = cache_.find(sql);
    if (it == cache_.end()) {
      sqlite3_stmt* s = nullptr;
      int rc = sqlite3_prepare_v3(db_, sql.data(), static_cast<int>(sql.size()), SQLITE_PREPARE_PERSISTENT, &s, nullptr);
      if (rc != SQLITE_OK) fail(rc, "prepare");
      it = cache_.emplace(std::string(sql), std::make_unique<SqliteCursor>(*this, s)).first;
    }
    return *it->second;
  }

  std::int64_t last_insert_rowid() override { return sqlite3_last_insert_rowid(db_); }
  std::int64_t changes() const override { return sqlite3_changes(db_); }
  sqlite3* sqlite_handle() const override { return db_; }

 private:
  sqlite3* db_ = nullptr;
  // Keyed by the SQL text; looked up by string_view without building a string.
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<SqliteCursor>, Hash, std::equal_to<>> cache_;
};

void SqliteCursor::check(int rc) {
  if (rc != SQLITE_OK) conn_.fail(rc, "bind");
}

bool SqliteCursor::step() {
  int rc = sqlite3_step(s_);
  if (rc == SQLITE_ROW) return true;
  if (rc == SQLITE_DONE) return false;
  conn_.fail(rc, "step");
}

}  // namespace

SqlError::SqlError(int rc, int extended, const std::string& what) : std::runtime_error(what), kind_(kind_of(rc, extended)) {}

namespace detail {
std::unique_ptr<Connection> open_sqlite(const std::filesystem::path& path, bool read_only) {
  return std::make_unique<SqliteConnection>(path, read_only);
}
}  // namespace detail

Db::Db(const Target& target, Mode mode)
    : dialect_(target.dialect()),
      conn_(dialect_ == Dialect::postgres ? detail::open_postgres(target, mode == Mode::read_only)
                                          : detail::open_sqlite(target.file, mode == Mode::read_only)) {}

Db::~Db() = default;

}  // namespace tourbus::store
