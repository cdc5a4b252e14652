// The segment language: the SQL it compiles to (placeholders only, values always bound), its
// errors and their columns, and the users each segment selects from a real SQLite database.
#include <catch2/catch.hpp>

#include <sqlite3.h>

#include <algorithm>
#include <iterator>
#include <set>
#include <string>
#include <vector>

#include "schedule/segment.hpp"

// Named, with the tests inside: unity builds merge test files, whose helpers must not meet.
namespace tourbus::schedule::segment_test {

constexpr std::int64_t kDay = 86'400'000;
constexpr std::int64_t kNow = 1'772'323'200'000;  // 2026-03-01T00:00:00Z

schedule::SegmentSql compiled(const std::string& text) {
  auto r = compile_segment(text, kNow);
  INFO(text);
  if (!r) FAIL(r.error().message);
  return *r;
}

std::string error_of(const std::string& text) {
  auto r = compile_segment(text, kNow);
  INFO(text);
  REQUIRE_FALSE(r.ok());
  CHECK(r.error().code == Code::invalid_argument);
  CHECK(r.error().field == "segment");
  return r.error().message;
}

std::size_t placeholders(const std::string& sql) { return static_cast<std::size_t>(std::count(sql.begin(), sql.end(), '?')); }

bool balanced(const std::string& sql) {
  int depth = 0;
  for (char c : sql) {
    depth += c == '(' ? 1 : c == ')' ? -1 : 0;
    if (depth < 0) return false;
  }
  return depth == 0;
}

using Handles = std::set<std::string>;

// The four tables the segment SQL reads, a dozen users and six tours, in an in-memory database.
class Db {
 public:
  Db() {
    REQUIRE(sqlite3_open(":memory:", &db_) == SQLITE_OK);
    exec(R"(
      CREATE TABLE users (id INTEGER PRIMARY KEY, handle TEXT NOT NULL UNIQUE, display_name TEXT NOT NULL,
        role TEXT NOT NULL CHECK (role IN ('tourist', 'guide', 'operator')), email TEXT, phone TEXT,
        language TEXT NOT NULL, time_zone TEXT NOT NULL, marketing_consent INTEGER NOT NULL DEFAULT 0,
        disabled INTEGER NOT NULL DEFAULT 0, created_at INTEGER NOT NULL, last_seen_at INTEGER);
      CREATE TABLE tours (id INTEGER PRIMARY KEY, starts_at INTEGER NOT NULL, ends_at INTEGER NOT NULL,
        status TEXT NOT NULL CHECK (status IN ('scheduled', 'running', 'finished', 'cancelled')));
      CREATE TABLE tour_participants (tour_id INTEGER NOT NULL REFERENCES tours (id),
        user_id INTEGER NOT NULL REFERENCES users (id), joined_at INTEGER NOT NULL,
        no_show INTEGER NOT NULL DEFAULT 0, PRIMARY KEY (tour_id, user_id));
      CREATE TABLE user_tags (user_id INTEGER NOT NULL REFERENCES users (id), tag TEXT NOT NULL,
        PRIMARY KEY (user_id, tag));
    )");
    struct User {
      const char* handle;
      const char* role;
      const char* language;
      const char* phone;  // nullptr: none
      int consent, disabled;
      int created_days_ago, seen_days_ago;  // seen -1: never
    };
    const User users[] = {
        {"ana", "tourist", "es", "+34612345678", 1, 0, 400, 1},
        {"bruno", "tourist", "es-MX", "+5215512345678", 1, 0, 500, 60},
        {"carla", "guide", "en", "+447700900123", 0, 0, 3, 5},
        {"dmitri", "tourist", "ru", "+79161234567", 1, 0, 200, -1},
        {"elena", "operator", "es", nullptr, 1, 0, 1000, 2},
        {"felix", "tourist", "de", "+4915112345678", 1, 0, 300, 40},
        {"gabi", "tourist", "pt-BR", "+5511912345678", 0, 0, 100, 10},
        {"hugo", "tourist", "es", "+351912345678", 1, 0, 50, 20},
        {"ines", "tourist", "en-US", "+12025550123", 1, 0, 30, -1},
        {"jon", "tourist", "esu", "+353871234567", 1, 0, 90, 31},
        {"karl", "tourist", "es", "+34600000000", 1, 1, 10, 1},  // disabled: never selected
        {"lena", "tourist", "es-ES", "+34911234567", 1, 0, 6, 29},
    };
    sqlite3_stmt* st = prepare(
        "INSERT INTO users (id, handle, display_name, role, phone, language, time_zone, marketing_consent, "
        "disabled, created_at, last_seen_at) VALUES (?, ?, ?, ?, ?, ?, 'Europe/Madrid', ?, ?, ?, ?)");
    int id = 0;
    for (const auto& u : users) {
      sqlite3_reset(st);
      sqlite3_bind_int(st, 1, ++id);
      sqlite3_bind_text(st, 2, u.handle, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 3, u.handle, -1, SQLITE_STATIC);
      sqlite3_bind_text(st, 4, u.role, -1, SQLITE_STATIC);
      if (u.phone) sqlite3_bind_text(st, 5, u.phone, -1, SQLITE_STATIC);
      else sqlite3_bind_null(st, 5);
      sqlite3_bind_text(st, 6, u.language, -1, SQLITE_STATIC);
      sqlite3_bind_int(st, 7, u.consent);
      sqlite3_bind_int(st, 8, u.disabled);
      sqlite3_bind_int64(st, 9, kNow - u.created_days_ago * kDay);
      if (u.seen_days_ago >= 0) sqlite3_bind_int64(st, 10, kNow - u.seen_days_ago * kDay);
      else sqlite3_bind_null(st, 10);
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    }
    sqlite3_finalize(st);

    const std::int64_t hour = kDay / 24;
    struct Tour {
      int id;
      std::int64_t ends_at;
      const char* status;
    };
    const Tour tours[] = {
        {1, kNow - 100 * kDay, "finished"}, {2, kNow - 400 * kDay, "finished"},
        {3, kNow - 50 * kDay, "cancelled"}, {4, kNow + 10 * kDay, "scheduled"},
        {5, kNow - 10 * kDay, "finished"},  {6, kNow + 2 * hour, "running"},
    };
    st = prepare("INSERT INTO tours (id, starts_at, ends_at, status) VALUES (?, ?, ?, ?)");
    for (const auto& t : tours) {
      sqlite3_reset(st);
      sqlite3_bind_int(st, 1, t.id);
      sqlite3_bind_int64(st, 2, t.ends_at - 3 * hour);
      sqlite3_bind_int64(st, 3, t.ends_at);
      sqlite3_bind_text(st, 4, t.status, -1, SQLITE_STATIC);
      REQUIRE(sqlite3_step(st) == SQLITE_DONE);
    }
    sqlite3_finalize(st);

    exec(R"(
      INSERT INTO tour_participants (tour_id, user_id, joined_at, no_show) VALUES
        (1, 1, 0, 0), (5, 1, 0, 0),                -- ana: 2 taken
        (2, 2, 0, 0),                              -- bruno: 1 taken, 400 days ago
        (1, 4, 0, 1), (5, 4, 0, 0),                -- dmitri: no-show on 1, 1 taken
        (1, 6, 0, 0), (2, 6, 0, 0), (5, 6, 0, 0),  -- felix: 3 taken
        (3, 7, 0, 0),                              -- gabi: a cancelled tour only
        (4, 8, 0, 0),                              -- hugo: a future tour only
        (6, 9, 0, 0),                              -- ines: a running tour only
        (1, 11, 0, 0), (5, 11, 0, 0),              -- karl (disabled)
        (3, 12, 0, 1);                             -- lena: no-show on a cancelled tour
      INSERT INTO user_tags (user_id, tag) VALUES
        (1, 'vip'), (2, 'noads'), (4, 'vip'), (5, 'staff'), (6, 'vip'), (6, 'noads'), (10, 'vip'),
        (11, 'vip'), (12, 'noads');
    )");
  }
  ~Db() { sqlite3_close(db_); }
  Db(const Db&) = delete;
  Db& operator=(const Db&) = delete;

  // The handles a segment selects, with the query the caller builds around it.
  Handles select(const std::string& segment) {
    const auto seg = compiled(segment);
    INFO(segment << "  ->  " << seg.where);
    sqlite3_stmt* st = prepare("SELECT u.handle FROM users u WHERE u.disabled = 0 AND (" + seg.where + ")");
    REQUIRE(static_cast<std::size_t>(sqlite3_bind_parameter_count(st)) == seg.binds.size());
    for (std::size_t i = 0; i < seg.binds.size(); ++i) {
      const int n = static_cast<int>(i + 1);
      if (const auto* v = std::get_if<std::int64_t>(&seg.binds[i])) sqlite3_bind_int64(st, n, *v);
      else sqlite3_bind_text(st, n, std::get<std::string>(seg.binds[i]).c_str(), -1, SQLITE_TRANSIENT);
    }
    Handles out;
    int rc;
    while ((rc = sqlite3_step(st)) == SQLITE_ROW) out.insert(reinterpret_cast<const char*>(sqlite3_column_text(st, 0)));
    sqlite3_finalize(st);
    REQUIRE(rc == SQLITE_DONE);
    return out;
  }

  int count(const std::string& sql) {
    sqlite3_stmt* st = prepare(sql);
    REQUIRE(sqlite3_step(st) == SQLITE_ROW);
    const int n = sqlite3_column_int(st, 0);
    sqlite3_finalize(st);
    return n;
  }

 private:
  void exec(const std::string& sql) {
    char* err = nullptr;
    const int rc = sqlite3_exec(db_, sql.c_str(), nullptr, nullptr, &err);
    const std::string message = err ? err : "";
    sqlite3_free(err);
    INFO(message);
    REQUIRE(rc == SQLITE_OK);
  }

  sqlite3_stmt* prepare(const std::string& sql) {
    sqlite3_stmt* st = nullptr;
    const int rc = sqlite3_prepare_v2(db_, sql.c_str(), -1, &st, nullptr);
    INFO(sql << ": " << sqlite3_errmsg(db_));
    REQUIRE(rc == SQLITE_OK);
    return st;
  }

  sqlite3* db_ = nullptr;
};

const Handles kEveryone = {"ana", "bruno", "carla", "dmitri", "elena", "felix",
                           "gabi", "hugo", "ines", "jon", "lena"};

Handles minus(const Handles& a, const Handles& b) {
  Handles out;
  std::set_difference(a.begin(), a.end(), b.begin(), b.end(), std::inserter(out, out.end()));
  return out;
}


TEST_CASE("segment: every value is a bound parameter, one per placeholder") {
  const std::vector<std::string> segments = {
      "role = tourist",
      "role in (tourist, guide) and not role != operator",
      "language = es",
      "language in (es, en, pt)",
      "country = ES",
      "country in (es, mx, US)",
      "tag = vip or tag != noads or tag in (a, b, c)",
      "handle = maria",
      "consent",
      "consent = false and consent != true",
      "tours >= 2 or tours = 0 or tours != 1 or tours < 3 or tours <= 4 or tours > 5",
      "toured within 365d or toured before 2026-01-01 or toured after 2025-06-01",
      "tour = 12 or tour in (1, 2)",
      "active within 30d or active before 2026-01-01 or active after 2025-06-01",
      "joined within 7d or joined before 2026-01-01 or joined after 2025-06-01",
      "not (role = guide or (consent and not (tag = vip or country = PT)))",
  };
  for (const auto& s : segments) {
    const auto seg = compiled(s);
    INFO(s << "  ->  " << seg.where);
    CHECK(placeholders(seg.where) == seg.binds.size());
    CHECK(seg.where.front() == '(');
    CHECK(seg.where.back() == ')');
    CHECK(balanced(seg.where));
  }

  SECTION("hostile values stay in the binds") {
    for (const std::string value : {"x'; DROP TABLE users; --", "o'brien", "say \"hi\"", "a\\b", "ñandú'"}) {
      std::string quoted = "\"";
      for (char c : value) quoted += (c == '"' || c == '\\') ? std::string("\\") + c : std::string(1, c);
      quoted += "\"";
      const auto seg = compiled("handle = " + quoted + " or handle in (ana, " + quoted + ")");
      INFO(seg.where);
      CHECK(seg.where.find(value) == std::string::npos);
      CHECK(seg.where.find("DROP") == std::string::npos);
      CHECK(seg.where.find("brien") == std::string::npos);
      CHECK(seg.where.find('"') == std::string::npos);
      std::string folded = value;  // handles are compared in lower case
      std::transform(folded.begin(), folded.end(), folded.begin(), [](char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; });
      REQUIRE(seg.binds.size() == 3);
      CHECK(std::get<std::string>(seg.binds[0]) == folded);
      CHECK(std::get<std::string>(seg.binds[2]) == folded);
    }
  }

  SECTION("what the binds are") {
    auto seg = compiled("language = es");
    CHECK(seg.where == "(u.language = ? OR lower(u.language) LIKE ?)");
    CHECK(seg.binds == std::vector<Bind>{"es", "es-%"});
    CHECK(compiled("LANGUAGE = ES").binds == std::vector<Bind>{"es", "es-%"});

    seg = compiled("country = ES");
    CHECK(seg.where.find("u.phone LIKE ?") != std::string::npos);
    CHECK(seg.binds == std::vector<Bind>{"+34%"});
    // The full code, never a shorter prefix: Portugal and Ireland differ only in the last digit.
    CHECK(compiled("country = pt").binds == std::vector<Bind>{"+351%"});
    CHECK(compiled("country = IE").binds == std::vector<Bind>{"+353%"});
    CHECK(compiled("country in (US, CA)").binds == std::vector<Bind>{"+1%", "+1%"});
    CHECK(compiled("country = GB").binds == compiled("country = UK").binds);
    CHECK(compiled("country = \"MX\"").binds == std::vector<Bind>{"+52%"});

    CHECK(compiled("Role = GUIDE").binds == std::vector<Bind>{"guide"});
    CHECK(compiled("handle = Maria").binds == std::vector<Bind>{"maria"});
    CHECK(compiled("tag = VIP").binds == std::vector<Bind>{"vip"});
    CHECK(compiled("tour in (3, 12)").binds == std::vector<Bind>{std::int64_t{3}, std::int64_t{12}});
    CHECK(compiled("consent").binds == std::vector<Bind>{std::int64_t{1}});
    CHECK(compiled("consent = FALSE").binds == std::vector<Bind>{std::int64_t{0}});
    CHECK(compiled("tours >= 2").binds == std::vector<Bind>{kNow, std::int64_t{2}});

    const std::int64_t jan_2026 = 1'767'225'600'000, jun_2025 = 1'748'736'000'000;
    CHECK(compiled("active within 30d").binds == std::vector<Bind>{kNow - 30 * kDay});
    CHECK(compiled("active within 2H").binds == std::vector<Bind>{kNow - 2 * kDay / 24});
    CHECK(compiled("joined within 15m").binds == std::vector<Bind>{kNow - 15 * 60'000});
    CHECK(compiled("joined within 1w").binds == std::vector<Bind>{kNow - 7 * kDay});
    CHECK(compiled("joined before 2026-01-01").binds == std::vector<Bind>{jan_2026});
    CHECK(compiled("toured within 365d").binds == std::vector<Bind>{kNow, kNow - 365 * kDay});
    CHECK(compiled("toured after 2025-06-01").binds == std::vector<Bind>{kNow, jun_2025});
    CHECK(compiled("toured before 2025-06-01").binds == std::vector<Bind>{jun_2025});  // earlier than now
    CHECK(compiled("toured before 2027-01-01").binds == std::vector<Bind>{kNow});      // ended: before now
  }

  SECTION("keywords are case-insensitive, whitespace is free, not not cancels out") {
    CHECK(compiled("ROLE IN(tourist,guide)AND NOT Consent").where ==
          compiled("role in ( tourist , guide )\n and\tnot consent").where);
    CHECK(compiled("tours>=2").where == compiled("tours >= 2").where);
    CHECK(compiled("not not consent").where == compiled("consent").where);
    CHECK(compiled("handle = \"and\"").binds == std::vector<Bind>{"and"});
  }
}

TEST_CASE("segment: errors say what is wrong and at which column") {
  const std::string fields = "(role, language, country, tag, handle, consent, tours, toured, tour, active, joined)";
  struct Case {
    std::string text, message;
  };
  const std::vector<Case> cases = {
      // unknown field
      {"rol = tourist", "segment: at column 1: unknown field 'rol' " + fields},
      {"consent and languages = es", "segment: at column 13: unknown field 'languages' " + fields},
      {"consent and", "segment: at column 12: expected a field " + fields + ", 'not' or '('"},
      {"and consent", "segment: at column 1: expected a field " + fields + ", 'not' or '('"},
      {"\"role\" = guide", "segment: at column 1: expected a field " + fields + ", 'not' or '('"},
      // missing operator
      {"role tourist", "segment: at column 6: expected '=', '!=' or 'in' after role"},
      {"(role  tourist)", "segment: at column 8: expected '=', '!=' or 'in' after role"},
      {"consent and tours 2", "segment: at column 19: expected '=', '!=', '<', '<=', '>' or '>=' after tours"},
      {"role >= guide", "segment: at column 6: expected '=', '!=' or 'in' after role"},
      {"consent > true", "segment: at column 9: expected '=' or '!=' after consent"},
      {"active 30d", "segment: at column 8: expected 'within', 'before' or 'after' after active"},
      {"tag in vip", "segment: at column 8: expected '(' after 'in'"},
      // missing value
      {"role =", "segment: at column 7: expected a value after 'role ='"},
      {"role = and consent", "segment: at column 8: expected a value after 'role ='"},
      {"tag != )", "segment: at column 8: expected a value after 'tag !='"},
      {"tag in ()", "segment: at column 9: expected a value in the list"},
      {"tag in (a,)", "segment: at column 11: expected a value in the list"},
      {"tag in (a b)", "segment: at column 11: expected ',' or ')'"},
      {"tag in (a", "segment: at column 10: expected ',' or ')'"},
      {"consent =", "segment: at column 10: expected true or false after 'consent ='"},
      {"tours >=", "segment: at column 9: expected a non-negative integer after 'tours >='"},
      {"toured within", "segment: at column 14: expected a duration such as 30d after 'toured within'"},
      {"joined before", "segment: at column 14: expected a date YYYY-MM-DD after 'joined before'"},
      // unterminated string, and other lexical errors
      {"handle = \"abc", "segment: at column 10: unterminated string"},
      {"handle = \"abc\\", "segment: at column 10: unterminated string"},
      {"handle = \"a\\nb\"", "segment: at column 12: unknown escape in string (only \\\" and \\\\)"},
      {"handle = \"a\tb\"", "segment: at column 12: control character in string"},
      {"handle = \"a\xff\"", "segment: at column 12: invalid UTF-8 in string"},
      {"role = guide & consent", "segment: at column 14: unexpected character '&'"},
      {"role = guía", "segment: at column 10: unexpected non-ASCII character (quote values: \"...\")"},
      {"consent !true", "segment: at column 9: unexpected character '!'"},
      {"handle = \"ñandú\" x", "segment: at column 18: expected 'and', 'or' or the end of the segment"},
      // bad values
      {"country = XX", "segment: at column 11: unknown country 'XX' (an ISO 3166 alpha-2 code such as ES, MX or US)"},
      {"country in (ES, ZZ)", "segment: at column 17: unknown country 'ZZ' (an ISO 3166 alpha-2 code such as ES, MX or US)"},
      {"country = ESP", "segment: at column 11: unknown country 'ESP' (an ISO 3166 alpha-2 code such as ES, MX or US)"},
      {"role = admin", "segment: at column 8: unknown role 'admin' (tourist, guide or operator)"},
      {"role in (guide, \"Tourists\")", "segment: at column 17: unknown role 'Tourists' (tourist, guide or operator)"},
      {"language = spanish", "segment: at column 12: a language is 2 or 3 letters such as es or en (es also matches es-MX), not 'spanish'"},
      {"language = es-MX", "segment: at column 12: a language is 2 or 3 letters such as es or en (es also matches es-MX), not 'es-MX'"},
      {"tag = \"vip tour\"", "segment: at column 7: a tag is 1-64 of a-z 0-9 _ -, not 'vip tour'"},
      {"tag = " + std::string(65, 'a'), "segment: at column 7: a tag is 1-64 of a-z 0-9 _ -, not '" + std::string(40, 'a') + "...'"},
      {"handle = \"\"", "segment: at column 10: a handle cannot be empty"},
      {"tour = twelve", "segment: at column 8: a tour is its id, a non-negative integer, not 'twelve'"},
      {"consent = yes", "segment: at column 11: consent is true or false, not 'yes'"},
      {"tours >= -1", "segment: at column 10: expected a non-negative integer after 'tours >=', not '-1'"},
      {"tours > 99999999999999999999", "segment: at column 9: expected a non-negative integer after 'tours >', not '99999999999999999999'"},
      {"active within 30", "segment: at column 15: expected a duration such as 30d (a number and m, h, d or w), not '30'"},
      {"active within 30y", "segment: at column 15: expected a duration such as 30d (a number and m, h, d or w), not '30y'"},
      {"active within 0d", "segment: at column 15: a duration must be longer than 0"},
      {"active within 5300w", "segment: at column 15: a duration cannot be longer than 100 years"},
      {"joined after 2025-02-29", "segment: at column 14: no such date '2025-02-29' (from 1970-01-01 on)"},
      {"joined after 1969-12-31", "segment: at column 14: no such date '1969-12-31' (from 1970-01-01 on)"},
      {"toured before 2025-6-1", "segment: at column 15: expected a date YYYY-MM-DD, not '2025-6-1'"},
      // unbalanced parentheses, trailing junk
      {"(role = guide", "segment: at column 14: expected ')'"},
      {"((consent) or tag = vip", "segment: at column 24: expected ')'"},
      {"role = guide)", "segment: at column 13: unmatched ')'"},
      {")", "segment: at column 1: expected a field " + fields + ", 'not' or '('"},
      {"()", "segment: at column 2: expected a field " + fields + ", 'not' or '('"},
      {"consent tourist", "segment: at column 9: expected 'and', 'or' or the end of the segment"},
      {"(consent x)", "segment: at column 10: expected 'and', 'or' or ')'"},
      {"consent, tag = vip", "segment: at column 8: expected 'and', 'or' or the end of the segment"},
      // empty
      {"", "segment: empty; use role = tourist or consent or another predicate (an empty segment would select everyone)"},
      {" \t\n ", "segment: empty; use role = tourist or consent or another predicate (an empty segment would select everyone)"},
  };
  for (const auto& c : cases) {
    INFO(c.text);
    CHECK(error_of(c.text) == c.message);
  }
}

TEST_CASE("segment: limits on length, nesting, predicates and list size") {
  SECTION("nesting: 32 parentheses deep is fine, the 33rd is an error at its column") {
    CHECK(compile_segment(std::string(32, '(') + "consent" + std::string(32, ')'), kNow).ok());
    CHECK(error_of(std::string(33, '(') + "consent" + std::string(33, ')')) ==
          "segment: at column 33: parentheses nested deeper than 32");
    CHECK(error_of("consent and " + std::string(40, '(')) == "segment: at column 45: parentheses nested deeper than 32");
    // Depth counts open parentheses, not how many there were.
    std::string flat;
    for (int i = 0; i < 40; ++i) flat += (i ? " or " : "") + std::string("(consent)");
    CHECK(compile_segment(flat, kNow).ok());
  }
  SECTION("200 predicates") {
    std::string text = "consent";
    for (int i = 1; i < 200; ++i) text += " and consent";
    REQUIRE(compile_segment(text, kNow).ok());
    const std::size_t next = text.size() + 6;  // the 201st field name, 1-based
    CHECK(error_of(text + " and consent") == "segment: at column " + std::to_string(next) + ": more than 200 predicates");
  }
  SECTION("100 values in a list") {
    std::string list = "tour in (1";
    for (int i = 2; i <= 100; ++i) list += "," + std::to_string(i);
    REQUIRE(compile_segment(list + ")", kNow).ok());
    CHECK(error_of(list + ",101)") == "segment: at column " + std::to_string(list.size() + 2) + ": more than 100 values in one list");
  }
  SECTION("4096 bytes") {
    const std::string text = "consent" + std::string(4096 - 7, ' ');
    CHECK(compile_segment(text, kNow).ok());
    CHECK(error_of(text + " ") == "segment: at column 4097: longer than 4096 bytes");
  }
  SECTION("not, however often, keeps the SQL shallow") {
    std::string text;
    for (int i = 0; i < 1001; ++i) text += "not ";
    CHECK(compiled(text + "consent").where == "(NOT (u.marketing_consent = ?))");
  }
}

TEST_CASE("segment: selects the right users from a real database") {
  Db db;
  struct Case {
    std::string segment;
    Handles expected;
  };
  const std::vector<Case> cases = {
      {"consent or not consent", kEveryone},
      {"language = es and consent and not tag = noads", {"ana", "elena", "hugo"}},
      {"language = es", {"ana", "bruno", "elena", "hugo", "lena"}},  // not jon: "esu" is another language
      {"language in (en, pt)", {"carla", "gabi", "ines"}},
      {"country in (ES, MX) or tours >= 2", {"ana", "bruno", "felix", "lena"}},
      {"country = PT", {"hugo"}},
      {"country = IE", {"jon"}},
      {"country = US", {"ines"}},
      {"country != ES", {"bruno", "carla", "dmitri", "elena", "felix", "gabi", "hugo", "ines", "jon"}},
      {"toured within 365d", {"ana", "dmitri", "felix"}},
      {"toured within 1000d", {"ana", "bruno", "dmitri", "felix"}},
      {"toured before 2025-06-01", {"bruno", "felix"}},
      {"toured after 2025-12-01", {"ana", "dmitri", "felix"}},
      {"tour = 3", {"gabi"}},  // any status, but not lena: a no-show
      {"tour in (4, 6)", {"hugo", "ines"}},
      {"tour != 1", minus(kEveryone, {"ana", "felix"})},
      {"tours = 0", {"carla", "elena", "gabi", "hugo", "ines", "jon", "lena"}},
      {"tours = 1", {"bruno", "dmitri"}},
      {"tours > 2", {"felix"}},
      {"active within 30d", {"ana", "carla", "elena", "gabi", "hugo", "lena"}},
      {"not active within 30d", {"bruno", "dmitri", "felix", "ines", "jon"}},  // never seen: not active
      {"active before 2026-01-01", {"bruno"}},
      {"active after 2026-01-01", minus(kEveryone, {"bruno", "dmitri", "ines"})},
      {"joined within 7d", {"carla", "lena"}},
      {"joined before 2025-01-01", {"bruno", "elena"}},
      {"role in (guide, operator)", {"carla", "elena"}},
      {"role != tourist", {"carla", "elena"}},
      {"handle = ANA or handle = \"Jon\"", {"ana", "jon"}},
      {"consent = false", {"carla", "gabi"}},
      {"tag in (staff, noads)", {"bruno", "elena", "felix", "lena"}},
      {"tag != vip and role = tourist", {"bruno", "gabi", "hugo", "ines", "lena"}},
      {"role = guide or consent and tag = vip", {"ana", "carla", "dmitri", "felix", "jon"}},
      {"(role = guide or consent) and tag = vip", {"ana", "dmitri", "felix", "jon"}},
      {"not (country = ES or language = en)", {"bruno", "dmitri", "elena", "felix", "gabi", "hugo", "jon"}},
      {"not not role = guide", {"carla"}},
      {"handle = \"x'; DROP TABLE users; --\"", {}},
  };
  for (const auto& c : cases) {
    INFO(c.segment);
    CHECK(db.select(c.segment) == c.expected);
  }
  CHECK(db.count("SELECT COUNT(*) FROM users") == 12);

  SECTION("a or b and c is a or (b and c)") {
    CHECK(db.select("role = guide or consent and tag = vip") == db.select("role = guide or (consent and tag = vip)"));
    CHECK(db.select("tag = vip and consent or role = guide") == db.select("(tag = vip and consent) or role = guide"));
    CHECK(db.select("not role = tourist and consent") == db.select("(not role = tourist) and consent"));
  }

  SECTION("not selects exactly the others, NULL phone or last-seen included") {
    for (const std::string s : {"country = ES", "country in (ES, US)", "active within 30d", "active before 2026-01-01",
                                "language = es", "tag = vip", "tours >= 1", "toured within 365d", "tour = 3",
                                "joined after 2025-06-01", "consent and country = ES"}) {
      INFO(s);
      const Handles selected = db.select(s);
      CHECK(db.select("not (" + s + ")") == minus(kEveryone, selected));
    }
    CHECK(db.select("country != ES") == db.select("not country = ES"));
    CHECK(db.select("tag != vip") == db.select("not tag = vip"));
  }
}

}  // namespace tourbus::schedule::segment_test
