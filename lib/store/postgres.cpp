// The PostgreSQL engine behind store::Db (libpq). Statements are prepared once per connection
// under names of their own, with `?`/`?N` turned into `$N`; values travel as text, integers and
// reals typed (int8, float8) so that the server infers nothing odd from them; results come whole.
// A connection that broke is opened again before the next statement, never inside a transaction
// (that transaction is gone: the caller is told, and the writer's batch fails as a whole).
#include <algorithm>
#include <charconv>
#include <cstdlib>
#include <unordered_map>
#include <vector>

#include <libpq-fe.h>

#include "store/db.hpp"

namespace tourbus::store {
namespace {

constexpr Oid kInt8 = 20;
constexpr Oid kFloat8 = 701;
constexpr Oid kText = 25;

SqlError::Kind kind_of(const char* sqlstate) {
  std::string_view s = sqlstate ? sqlstate : "";
  if (s == "23505") return SqlError::Kind::unique;
  if (s.starts_with("23")) return SqlError::Kind::constraint;
  if (s == "40001" || s == "40P01") return SqlError::Kind::retry;
  return SqlError::Kind::other;
}

std::string trimmed(const char* message) {
  std::string m = message ? message : "";
  while (!m.empty() && (m.back() == '\n' || m.back() == ' ')) m.pop_back();
  return m;
}

}  // namespace

namespace detail {

// `?` and `?N` parameters (outside quotes and comments) as `$N`; `?` takes one more than the
// largest number so far, as in SQLite. Answers the converted text and the number of parameters.
std::pair<std::string, int> postgres_parameters(std::string_view sql) {
  std::string out;
  out.reserve(sql.size() + 8);
  int highest = 0;
  for (std::size_t i = 0; i < sql.size(); ++i) {
    char c = sql[i];
    if (c == '\'' || c == '"') {
      std::size_t end = sql.find(c, i + 1);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '-' && i + 1 < sql.size() && sql[i + 1] == '-') {
      std::size_t end = sql.find('\n', i);
      if (end == std::string_view::npos) end = sql.size() - 1;
      out.append(sql.substr(i, end - i + 1));
      i = end;
    } else if (c == '?') {
      std::size_t j = i + 1;
      while (j < sql.size() && sql[j] >= '0' && sql[j] <= '9') ++j;
      int n = highest + 1;
      if (j > i + 1) std::from_chars(sql.data() + i + 1, sql.data() + j, n);
      highest = std::max(highest, n);
      out += '$';
      out += std::to_string(n);
      i = j - 1;
    } else {
      out += c;
    }
  }
  return {std::move(out), highest};
}

}  // namespace detail

namespace {

class PgConnection;

class PgCursor final : public detail::Cursor {
 public:
  PgCursor(PgConnection& conn, std::string name, std::string_view sql) : conn_(conn), name_(std::move(name)) {
    auto [text, n] = detail::postgres_parameters(sql);
    sql_ = std::move(text);
    values_.resize(static_cast<std::size_t>(n));
    types_.assign(static_cast<std::size_t>(n), 0);
    // A number the text skips (filters that bind only some of ?10..?15) still needs a type.
    auto used = [this](int i) {
      auto token = "$" + std::to_string(i);
      for (auto at = sql_.find(token); at != std::string::npos; at = sql_.find(token, at + 1)) {
        auto end = at + token.size();
        if (end == sql_.size() || sql_[end] < '0' || sql_[end] > '9') return true;
      }
      return false;
    };
    for (int i = 1; i <= n; ++i)
      if (!used(i)) unused_.push_back(static_cast<std::size_t>(i - 1));
    for (auto i : unused_) types_[i] = kText;
  }
  ~PgCursor() override { PQclear(res_); }

  void bind_i64(int i, std::int64_t v) override { set(i, std::to_string(v), kInt8); }
  void bind_real(int i, double v) override {
    char buf[32];
    auto r = std::to_chars(buf, buf + sizeof buf, v);
    set(i, std::string(buf, r.ptr), kFloat8);
  }
  void bind_text(int i, std::string_view v) override { set(i, std::string(v), kText); }
  void bind_null(int i) override { slot(i).reset(); }
  bool step() override;
  void reset() override {
    PQclear(res_);
    res_ = nullptr;
    row_ = 0;
    for (auto& v : values_) v.reset();
  }
  bool is_null(int col) const override { return PQgetisnull(res_, row_, col) != 0; }
  std::int64_t i64(int col) const override {
    const char* p = PQgetvalue(res_, row_, col);
    int len = PQgetlength(res_, row_, col);
    if (len == 0) return 0;
    if (len == 1 && (*p == 't' || *p == 'f')) return *p == 't';  // a boolean expression
    std::int64_t v = 0;
    auto r = std::from_chars(p, p + len, v);
    if (r.ec == std::errc() && r.ptr == p + len) return v;
    return static_cast<std::int64_t>(std::strtod(p, nullptr));  // numeric (sum, avg)
  }
  double real(int col) const override {
    const char* p = PQgetvalue(res_, row_, col);
    if (*p == 't' || *p == 'f') return *p == 't';
    return std::strtod(p, nullptr);
  }
  std::string text(int col) const override {
    return std::string(PQgetvalue(res_, row_, col), static_cast<std::size_t>(PQgetlength(res_, row_, col)));
  }
  int columns() const override { return PQnfields(res_); }
  Value type(int col) const override {
    if (PQgetisnull(res_, row_, col)) return Value::null;
    switch (PQftype(res_, col)) {
      case 16: case 20: case 21: case 23: return Value::integer;  // bool, int8, int2, int4
      case 700: case 701: case 1700: return Value::real;          // float4, float8, numeric
      default: return Value::text;
    }
  }

 private:
  std::optional<std::string>& slot(int i) {
    if (i < 1 || static_cast<std::size_t>(i) > values_.size())
      throw SqlError(SqlError::Kind::other, "bind: no parameter " + std::to_string(i) + " in: " + sql_);
    return values_[static_cast<std::size_t>(i - 1)];
  }
  // A NULL keeps the slot's last type (none yet: the server infers it from the statement); a run
  // whose types differ from the prepared ones prepares the statement again.
  void set(int i, std::string v, Oid type) {
    slot(i) = std::move(v);
    auto k = static_cast<std::size_t>(i - 1);
    if (std::find(unused_.begin(), unused_.end(), k) == unused_.end()) types_[k] = type;
  }

  PgConnection& conn_;
  std::string name_;
  std::string sql_;
  std::vector<std::optional<std::string>> values_;
  std::vector<Oid> types_, prepared_types_;
  std::vector<std::size_t> unused_;
  long prepared_generation_ = -1;
  int version_ = 0;  // statement name suffix, one more for each prepare with other types
  PGresult* res_ = nullptr;
  int row_ = 0;
  friend class PgConnection;
};

class PgConnection final : public detail::Connection {
 public:
  PgConnection(const Target& target, bool read_only) : target_(target), read_only_(read_only) {
    try {
      connect();
    } catch (...) {
      PQfinish(conn_);  // a constructor that throws runs no destructor
      throw;
    }
  }
  ~PgConnection() override {
    cache_.clear();
    PQfinish(conn_);
  }

  void exec(std::string_view sql) override {
    std::string text(sql);
    PGresult* r = attempt([&] { return PQexec(conn_, text.c_str()); });
    finish(r, "exec");
    PQclear(r);
  }

  detail::Cursor& prepare(std::string_view sql) override {
    auto it = cache_.find(sql);
    if (it == cache_.end())
      it = cache_.emplace(std::string(sql), std::make_unique<PgCursor>(*this, "tb" + std::to_string(++names_), sql)).first;
    return *it->second;
  }

  std::int64_t last_insert_rowid() override {
    ready();  // never opened again: lastval() belongs to the session that inserted
    PGresult* r = PQexec(conn_, "SELECT lastval()");
    finish(r, "lastval");
    std::int64_t v = 0;
    const char* p = PQgetvalue(r, 0, 0);
    std::from_chars(p, p + PQgetlength(r, 0, 0), v);
    PQclear(r);
    return v;
  }
  std::int64_t changes() const override { return changes_; }

  // Runs a cursor's statement: prepares it on this session first if needed. Answers the result.
  PGresult* run(PgCursor& c) {
    std::vector<const char*> values(c.values_.size());
    for (std::size_t i = 0; i < values.size(); ++i) values[i] = c.values_[i] ? c.values_[i]->c_str() : nullptr;
    PGresult* r = attempt([&]() -> PGresult* {
      if (c.prepared_generation_ != generation_ || c.prepared_types_ != c.types_) {
        if (c.prepared_generation_ == generation_)
          c.name_ = c.name_.substr(0, c.name_.find('_')) + "_" + std::to_string(++c.version_);
        PGresult* p = PQprepare(conn_, c.name_.c_str(), c.sql_.c_str(), static_cast<int>(c.types_.size()),
                                c.types_.empty() ? nullptr : c.types_.data());
        if (PQresultStatus(p) != PGRES_COMMAND_OK) return p;
        PQclear(p);
        c.prepared_generation_ = generation_;
        c.prepared_types_ = c.types_;
      }
      return PQexecPrepared(conn_, c.name_.c_str(), static_cast<int>(values.size()),
                            values.empty() ? nullptr : values.data(), nullptr, nullptr, 0);
    });
    finish(r, "step");
    return r;
  }

 private:
  void connect() {
    // Later entries win: our defaults first, then the operator's connection string, then the
    // password from its credential. An empty value is ignored by libpq.
    const char* keys[] = {"fallback_application_name", "client_encoding", "connect_timeout", "dbname", "password", nullptr};
    const char* values[] = {"tourbusd", "UTF8", "10", target_.postgres.c_str(), target_.password.c_str(), nullptr};
    PQfinish(conn_);
    conn_ = PQconnectdbParams(keys, values, 1);
    if (PQstatus(conn_) != CONNECTION_OK) {
      std::string msg = "cannot connect to PostgreSQL (" + target_.describe() + "): " + trimmed(PQerrorMessage(conn_));
      PQfinish(conn_);
      conn_ = nullptr;
      throw SqlError(SqlError::Kind::other, msg);
    }
    ++generation_;
    in_transaction_ = false;
    const char* setup = read_only_ ? "SET default_transaction_read_only = on; SET client_min_messages = warning"
                                   : "SET client_min_messages = warning";
    PGresult* r = PQexec(conn_, setup);
    finish(r, "connect");
    PQclear(r);
  }

  // Runs a statement; when the connection turns out broken (the server restarted, a proxy dropped
  // it) and no transaction was open on it, opens it again and runs the statement once more.
  template <class F>
  PGresult* attempt(F f) {
    ready();
    bool was_in_transaction = in_transaction_;
    PGresult* r = f();
    auto status = PQresultStatus(r);
    if ((status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) || PQstatus(conn_) == CONNECTION_OK ||
        was_in_transaction)
      return r;
    PQclear(r);
    connect();
    return f();
  }

  // Before a statement: a broken connection is opened again, unless a transaction was open on it.
  void ready() {
    if (conn_ && PQstatus(conn_) == CONNECTION_OK) return;
    if (in_transaction_) {
      in_transaction_ = false;
      throw SqlError(SqlError::Kind::other, "the connection to PostgreSQL was lost during a transaction");
    }
    connect();
  }

  // Throws for a failed result (after freeing it); notes rows changed and the transaction state.
  void finish(PGresult* r, std::string_view context) {
    auto status = PQresultStatus(r);
    // Unknown when the connection broke: then what was open stays open, and ready() says it is lost.
    auto tx = PQtransactionStatus(conn_);
    if (tx != PQTRANS_UNKNOWN) in_transaction_ = tx == PQTRANS_INTRANS || tx == PQTRANS_INERROR;
    if (status == PGRES_COMMAND_OK || status == PGRES_TUPLES_OK) {
      const char* n = PQcmdTuples(r);
      changes_ = n && *n ? std::strtoll(n, nullptr, 10) : 0;
      return;
    }
    std::string msg = std::string(context) + ": " + trimmed(r ? PQresultErrorMessage(r) : PQerrorMessage(conn_));
    auto kind = kind_of(r ? PQresultErrorField(r, PG_DIAG_SQLSTATE) : nullptr);
    PQclear(r);
    throw SqlError(kind, msg);
  }

  Target target_;
  bool read_only_;
  PGconn* conn_ = nullptr;
  long generation_ = 0;  // one per session: prepared statements live as long as it
  bool in_transaction_ = false;
  std::int64_t changes_ = 0;
  std::uint64_t names_ = 0;
  struct Hash {
    using is_transparent = void;
    std::size_t operator()(std::string_view s) const { return std::hash<std::string_view>{}(s); }
  };
  std::unordered_map<std::string, std::unique_ptr<PgCursor>, Hash, std::equal_to<>> cache_;
};

bool PgCursor::step() {
  if (!res_) {
    res_ = conn_.run(*this);
    row_ = 0;
  } else {
    ++row_;
  }
  return row_ < PQntuples(res_);
}

}  // namespace

namespace detail {
std::unique_ptr<Connection> open_postgres(const Target& target, bool read_only) {
  return std::make_unique<PgConnection>(target, read_only);
}
}  // namespace detail

}  // namespace tourbus::store
