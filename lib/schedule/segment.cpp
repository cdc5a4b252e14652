// Compiles the segment language (grammar in segment.hpp) to SQL: a tokenizer, a recursive-descent
// parser, and one table that says how each field's values are read and what SQL they become.
#include "schedule/segment.hpp"

#include <algorithm>
#include <array>
#include <limits>
#include <optional>

namespace tourbus::schedule {
namespace {

constexpr std::size_t kMaxBytes = 4096;
constexpr int kMaxDepth = 32;
constexpr int kMaxPredicates = 200;
constexpr std::size_t kMaxValues = 100;
constexpr std::int64_t kMinuteMs = 60'000;
constexpr std::int64_t kDayMs = 24 * 60 * kMinuteMs;
constexpr std::int64_t kMaxDurationMs = 36'525 * kDayMs;  // 100 years: anything longer is a typo

// ---------------------------------------------------------------------------------------------
// Countries: ISO 3166 alpha-2 -> E.164 country calling code, sorted by alpha-2. A country is
// matched by the calling code its users' phone numbers start with, so countries that share a code
// (the +1 of the NANP, the +7 of RU and KZ, +44 of GB and UK) select the same users.
struct Country {
  std::string_view alpha2;
  std::string_view code;
};

constexpr std::array kCountries{
    Country{"AD", "376"}, Country{"AE", "971"}, Country{"AL", "355"}, Country{"AR", "54"},
    Country{"AT", "43"},  Country{"AU", "61"},  Country{"BA", "387"}, Country{"BD", "880"},
    Country{"BE", "32"},  Country{"BG", "359"}, Country{"BO", "591"}, Country{"BR", "55"},
    Country{"BY", "375"}, Country{"CA", "1"},   Country{"CH", "41"},  Country{"CL", "56"},
    Country{"CN", "86"},  Country{"CO", "57"},  Country{"CR", "506"}, Country{"CY", "357"},
    Country{"CZ", "420"}, Country{"DE", "49"},  Country{"DK", "45"},  Country{"DO", "1"},
    Country{"DZ", "213"}, Country{"EC", "593"}, Country{"EE", "372"}, Country{"EG", "20"},
    Country{"ES", "34"},  Country{"FI", "358"}, Country{"FR", "33"},  Country{"GB", "44"},
    Country{"GE", "995"}, Country{"GR", "30"},  Country{"GT", "502"}, Country{"HK", "852"},
    Country{"HR", "385"}, Country{"HU", "36"},  Country{"ID", "62"},  Country{"IE", "353"},
    Country{"IL", "972"}, Country{"IN", "91"},  Country{"IS", "354"}, Country{"IT", "39"},
    Country{"JO", "962"}, Country{"JP", "81"},  Country{"KE", "254"}, Country{"KR", "82"},
    Country{"KW", "965"}, Country{"KZ", "7"},   Country{"LB", "961"}, Country{"LI", "423"},
    Country{"LK", "94"},  Country{"LT", "370"}, Country{"LU", "352"}, Country{"LV", "371"},
    Country{"MA", "212"}, Country{"MC", "377"}, Country{"MD", "373"}, Country{"ME", "382"},
    Country{"MK", "389"}, Country{"MT", "356"}, Country{"MX", "52"},  Country{"MY", "60"},
    Country{"NG", "234"}, Country{"NL", "31"},  Country{"NO", "47"},  Country{"NZ", "64"},
    Country{"OM", "968"}, Country{"PA", "507"}, Country{"PE", "51"},  Country{"PH", "63"},
    Country{"PK", "92"},  Country{"PL", "48"},  Country{"PR", "1"},   Country{"PT", "351"},
    Country{"PY", "595"}, Country{"QA", "974"}, Country{"RO", "40"},  Country{"RS", "381"},
    Country{"RU", "7"},   Country{"SA", "966"}, Country{"SE", "46"},  Country{"SG", "65"},
    Country{"SI", "386"}, Country{"SK", "421"}, Country{"SM", "378"}, Country{"TH", "66"},
    Country{"TN", "216"}, Country{"TR", "90"},  Country{"TW", "886"}, Country{"UA", "380"},
    Country{"UK", "44"},  Country{"US", "1"},   Country{"UY", "598"}, Country{"VE", "58"},
    Country{"VN", "84"},  Country{"ZA", "27"},
};

// Sorted for the binary search; and no code is a proper prefix of another, or '+<code>%' would
// also match the longer code's numbers (E.164 codes are prefix-free; a typo here would not be).
static_assert([] {
  for (std::size_t i = 0; i < kCountries.size(); ++i) {
    if (i > 0 && !(kCountries[i - 1].alpha2 < kCountries[i].alpha2)) return false;
    for (const auto& other : kCountries)
      if (other.code != kCountries[i].code && other.code.starts_with(kCountries[i].code)) return false;
  }
  return true;
}());

const Country* find_country(std::string_view alpha2) {
  auto it = std::lower_bound(kCountries.begin(), kCountries.end(), alpha2,
                             [](const Country& c, std::string_view a) { return c.alpha2 < a; });
  return it != kCountries.end() && it->alpha2 == alpha2 ? &*it : nullptr;
}

// ---------------------------------------------------------------------------------------------
// Text helpers. ASCII only on purpose: the locale must not change what a segment means.
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_letter(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
bool is_word_char(char c) { return is_letter(c) || is_digit(c) || c == '_' || c == '.' || c == '+' || c == '-'; }
bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v'; }
char lower(char c) { return c >= 'A' && c <= 'Z' ? static_cast<char>(c - 'A' + 'a') : c; }
char upper(char c) { return c >= 'a' && c <= 'z' ? static_cast<char>(c - 'a' + 'A') : c; }

std::string lowered(std::string_view s) {
  std::string out(s);
  std::transform(out.begin(), out.end(), out.begin(), lower);
  return out;
}

bool iequals(std::string_view a, std::string_view b) {
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [](char x, char y) { return lower(x) == lower(y); });
}

bool is_continuation(char c) { return (static_cast<unsigned char>(c) & 0xC0) == 0x80; }

// A value as quoted in an error message: cut after 40 characters so a message stays a line.
std::string shown(std::string_view s) {
  std::size_t chars = 0, i = 0;
  for (; i < s.size(); ++i) {
    if (!is_continuation(s[i]) && ++chars > 40) return "'" + std::string(s.substr(0, i)) + "...'";
  }
  return "'" + std::string(s) + "'";
}

// Length of the valid UTF-8 sequence at the start of `s` (no overlongs, surrogates or values
// beyond U+10FFFF), or 0.
std::size_t utf8_length(std::string_view s) {
  const auto c0 = static_cast<unsigned char>(s[0]);
  std::size_t n = 0;
  std::uint32_t cp = 0;
  if (c0 < 0x80) return 1;
  if ((c0 & 0xE0) == 0xC0) {
    n = 2, cp = c0 & 0x1F;
  } else if ((c0 & 0xF0) == 0xE0) {
    n = 3, cp = c0 & 0x0F;
  } else if ((c0 & 0xF8) == 0xF0) {
    n = 4, cp = c0 & 0x07;
  } else {
    return 0;
  }
  if (s.size() < n) return 0;
  for (std::size_t k = 1; k < n; ++k) {
    if (!is_continuation(s[k])) return 0;
    cp = (cp << 6) | (static_cast<unsigned char>(s[k]) & 0x3F);
  }
  constexpr std::uint32_t kMin[] = {0, 0, 0x80, 0x800, 0x10000};
  if (cp < kMin[n] || cp > 0x10FFFF || (cp >= 0xD800 && cp <= 0xDFFF)) return 0;
  return n;
}

// 1..18 decimal digits (so it always fits an int64).
std::optional<std::int64_t> parse_natural(std::string_view s) {
  if (s.empty() || s.size() > 18 || !std::all_of(s.begin(), s.end(), is_digit)) return std::nullopt;
  std::int64_t n = 0;
  for (char c : s) n = n * 10 + (c - '0');
  return n;
}

// Days since 1970-01-01 of a proleptic Gregorian date (H. Hinnant's days_from_civil).
constexpr std::int64_t days_from_civil(int y, int m, int d) {
  y -= m <= 2;
  const int era = (y >= 0 ? y : y - 399) / 400;
  const int yoe = y - era * 400;
  const int doy = (153 * (m > 2 ? m - 3 : m + 9) + 2) / 5 + d - 1;
  const int doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
  return std::int64_t{era} * 146097 + doe - 719468;
}
static_assert(days_from_civil(1970, 1, 1) == 0 && days_from_civil(2000, 3, 1) == 11017);

// A mistake at a byte offset of the text. Thrown only inside this file: compile_segment turns it
// into an Error, so the recursive descent needs no error plumbing.
struct Mistake {
  std::size_t offset;
  std::string what;
};

// ---------------------------------------------------------------------------------------------
// Tokens.
enum class Kind { word, string, open, close, comma, op, end };

struct Token {
  Kind kind = Kind::end;
  std::size_t offset = 0;  // in bytes
  std::string text;        // a word as written, a string unescaped, an operator
};

// At text[i] == '"'; leaves i after the closing quote.
Token read_string(std::string_view text, std::size_t& i) {
  Token t{Kind::string, i, {}};
  for (++i;;) {
    if (i >= text.size()) throw Mistake{t.offset, "unterminated string"};
    const char c = text[i];
    if (c == '"') {
      ++i;
      return t;
    }
    if (c == '\\') {
      if (i + 1 >= text.size()) throw Mistake{t.offset, "unterminated string"};
      if (text[i + 1] != '"' && text[i + 1] != '\\') throw Mistake{i, "unknown escape in string (only \\\" and \\\\)"};
      t.text += text[i + 1];
      i += 2;
    } else if (static_cast<unsigned char>(c) < 0x20 || c == 0x7F) {
      throw Mistake{i, "control character in string"};
    } else {
      const std::size_t n = utf8_length(text.substr(i));
      if (n == 0) throw Mistake{i, "invalid UTF-8 in string"};
      t.text += text.substr(i, n);
      i += n;
    }
  }
}

std::vector<Token> tokenize(std::string_view text) {
  std::vector<Token> out;
  std::size_t i = 0;
  for (;;) {
    while (i < text.size() && is_space(text[i])) ++i;
    if (i == text.size()) break;
    const std::size_t start = i;
    const char c = text[i];
    const char next = i + 1 < text.size() ? text[i + 1] : '\0';
    if (c == '(' || c == ')' || c == ',') {
      out.push_back({c == '(' ? Kind::open : c == ')' ? Kind::close : Kind::comma, start, std::string(1, c)});
      ++i;
    } else if (c == '=' || (c == '!' && next == '=') || c == '<' || c == '>') {
      const std::size_t n = (c != '=' && next == '=') ? 2 : 1;
      out.push_back({Kind::op, start, std::string(text.substr(i, n))});
      i += n;
    } else if (c == '"') {
      out.push_back(read_string(text, i));
    } else if (is_word_char(c)) {
      while (i < text.size() && is_word_char(text[i])) ++i;
      out.push_back({Kind::word, start, std::string(text.substr(start, i - start))});
    } else if (c > 0x20 && c < 0x7F) {
      throw Mistake{start, std::string("unexpected character '") + c + "'"};
    } else {
      throw Mistake{start, static_cast<unsigned char>(c) >= 0x80 ? "unexpected non-ASCII character (quote values: \"...\")"
                                                                  : "unexpected control character"};
    }
  }
  out.push_back({Kind::end, text.size(), {}});
  return out;
}

// ---------------------------------------------------------------------------------------------
// Fields: how each one's values are read and what SQL a predicate on it becomes.

enum class Shape {
  set,    // = value, != value, in (values)
  flag,   // bare, or = / != true|false
  count,  // compared with a number
  time,   // within DURATION, before DATE, after DATE
};

// What one predicate asks for, once read.
struct Ask {
  std::vector<Bind> values;                 // set and flag fields, already normalised
  std::string_view op;                      // count fields: the SQL comparison
  std::int64_t number = 0;                  // count fields
  std::optional<std::int64_t> from, until;  // time fields: [from, until) in UTC ms
  std::int64_t now = 0;
};

using Binds = std::vector<Bind>;

Error invalid(std::string message) { return Error{Code::invalid_argument, std::move(message)}; }

Result<Bind> read_role(std::string_view v) {
  std::string r = lowered(v);
  if (r == "tourist" || r == "guide" || r == "operator") return Bind{std::move(r)};
  return invalid("unknown role " + shown(v) + " (tourist, guide or operator)");
}

Result<Bind> read_language(std::string_view v) {
  if (v.size() < 2 || v.size() > 3 || !std::all_of(v.begin(), v.end(), is_letter))
    return invalid("a language is 2 or 3 letters such as es or en (es also matches es-MX), not " + shown(v));
  return Bind{lowered(v)};
}

// The bound value is the LIKE pattern of the country's calling code.
Result<Bind> read_country(std::string_view v) {
  std::string a(v);
  std::transform(a.begin(), a.end(), a.begin(), upper);
  const Country* c = a.size() == 2 ? find_country(a) : nullptr;
  if (!c) return invalid("unknown country " + shown(v) + " (an ISO 3166 alpha-2 code such as ES, MX or US)");
  return Bind{"+" + std::string(c->code) + "%"};
}

Result<Bind> read_tag(std::string_view v) {
  std::string t = lowered(v);
  const bool ok = !t.empty() && t.size() <= 64 && std::all_of(t.begin(), t.end(), [](char c) {
    return (c >= 'a' && c <= 'z') || is_digit(c) || c == '_' || c == '-';
  });
  if (!ok) return invalid("a tag is 1-64 of a-z 0-9 _ -, not " + shown(v));
  return Bind{std::move(t)};
}

// Handles are stored folded to lower case (validate::fold_handle); anything else simply matches nobody.
Result<Bind> read_handle(std::string_view v) {
  if (v.empty()) return invalid("a handle cannot be empty");
  return Bind{lowered(v)};
}

Result<Bind> read_tour(std::string_view v) {
  if (auto n = parse_natural(v)) return Bind{*n};
  return invalid("a tour is its id, a non-negative integer, not " + shown(v));
}

Result<Bind> read_consent(std::string_view v) {
  if (iequals(v, "true")) return Bind{std::int64_t{1}};
  if (iequals(v, "false")) return Bind{std::int64_t{0}};
  return invalid("consent is true or false, not " + shown(v));
}

// "col = ?" for one value, "col IN (?, ?, ...)" for more.
std::string any_of(std::string_view column, std::size_t n) {
  std::string s(column);
  if (n == 1) return s + " = ?";
  s += " IN (?";
  for (std::size_t i = 1; i < n; ++i) s += ", ?";
  return s + ")";
}

void append(Binds& b, const std::vector<Bind>& values) { b.insert(b.end(), values.begin(), values.end()); }

// "col >= ? AND col < ?", for the bounds the window has.
std::string window(std::string_view column, const Ask& a, Binds& b) {
  std::string s;
  if (a.from) {
    s += std::string(column) + " >= ?";
    b.push_back(*a.from);
  }
  if (a.until) {
    s += (s.empty() ? "" : " AND ") + std::string(column) + " < ?";
    b.push_back(*a.until);
  }
  return s;
}

// The tours a user has taken: not cancelled, over (ended before the bound time), not a no-show.
constexpr std::string_view kTaken =
    "FROM tour_participants tp JOIN tours tr ON tr.id = tp.tour_id WHERE tp.user_id = u.id AND tp.no_show = 0 "
    "AND tr.status <> 'cancelled' AND tr.ends_at < ?";

std::string role_sql(const Ask& a, Binds& b) {
  append(b, a.values);
  return "(" + any_of("u.role", a.values.size()) + ")";
}

std::string handle_sql(const Ask& a, Binds& b) {
  append(b, a.values);
  return "(" + any_of("u.handle", a.values.size()) + ")";
}

// Standard LIKE rather than a prefix function; the values are letters, so nothing needs escaping.
std::string language_sql(const Ask& a, Binds& b) {
  std::string s;
  for (const auto& v : a.values) {
    s += s.empty() ? "(" : " OR ";
    s += "u.language = ? OR lower(u.language) LIKE ?";  // LIKE ignores case in SQLite only
    b.push_back(v);
    b.push_back(std::get<std::string>(v) + "-%");
  }
  return s + ")";
}

// IS NOT NULL keeps the result two-valued, so "not country = ES" matches users without a phone.
std::string country_sql(const Ask& a, Binds& b) {
  std::string s;
  for (const auto& v : a.values) {
    s += s.empty() ? "(u.phone IS NOT NULL AND (" : " OR ";
    s += "u.phone LIKE ?";
    b.push_back(v);
  }
  return s + "))";
}

std::string tag_sql(const Ask& a, Binds& b) {
  append(b, a.values);
  return "(EXISTS (SELECT 1 FROM user_tags ut WHERE ut.user_id = u.id AND " + any_of("ut.tag", a.values.size()) + "))";
}

std::string tour_sql(const Ask& a, Binds& b) {
  append(b, a.values);
  return "(EXISTS (SELECT 1 FROM tour_participants tp WHERE tp.user_id = u.id AND tp.no_show = 0 AND " +
         any_of("tp.tour_id", a.values.size()) + "))";
}

std::string consent_sql(const Ask& a, Binds& b) {
  append(b, a.values);
  return "(u.marketing_consent = ?)";
}

std::string tours_sql(const Ask& a, Binds& b) {
  b.push_back(a.now);
  b.push_back(a.number);
  return "((SELECT COUNT(*) " + std::string(kTaken) + ") " + std::string(a.op) + " ?)";
}

std::string toured_sql(const Ask& a, Binds& b) {
  b.push_back(std::min(a.now, a.until.value_or(a.now)));
  std::string s = "(EXISTS (SELECT 1 " + std::string(kTaken);
  if (a.from) {
    s += " AND tr.ends_at >= ?";
    b.push_back(*a.from);
  }
  return s + "))";
}

// Never-seen users (NULL) are not active in any window, and the result stays two-valued.
std::string active_sql(const Ask& a, Binds& b) {
  return "(u.last_seen_at IS NOT NULL AND " + window("u.last_seen_at", a, b) + ")";
}

std::string joined_sql(const Ask& a, Binds& b) { return "(" + window("u.created_at", a, b) + ")"; }

struct Field {
  std::string_view name;
  Shape shape;
  Result<Bind> (*read)(std::string_view value);  // set and flag fields: checks and normalises a value
  std::string (*sql)(const Ask& ask, Binds& binds);  // true for the users who match; appends its binds
};

// The order is the one error messages list the fields in.
constexpr std::array kFields{
    Field{"role", Shape::set, read_role, role_sql},
    Field{"language", Shape::set, read_language, language_sql},
    Field{"country", Shape::set, read_country, country_sql},
    Field{"tag", Shape::set, read_tag, tag_sql},
    Field{"handle", Shape::set, read_handle, handle_sql},
    Field{"consent", Shape::flag, read_consent, consent_sql},
    Field{"tours", Shape::count, nullptr, tours_sql},
    Field{"toured", Shape::time, nullptr, toured_sql},
    Field{"tour", Shape::set, read_tour, tour_sql},
    Field{"active", Shape::time, nullptr, active_sql},
    Field{"joined", Shape::time, nullptr, joined_sql},
};

const std::string& field_names() {
  static const std::string names = [] {
    std::string s;
    for (const auto& f : kFields) s += (s.empty() ? "" : ", ") + std::string(f.name);
    return s;
  }();
  return names;
}

const Field* find_field(std::string_view name) {
  for (const auto& f : kFields)
    if (iequals(f.name, name)) return &f;
  return nullptr;
}

Result<std::int64_t> parse_duration(std::string_view v) {
  const std::string_view digits = v.substr(0, v.empty() ? 0 : v.size() - 1);
  const char unit = v.empty() ? '\0' : lower(v.back());
  constexpr std::string_view kUnits = "mhdw";
  constexpr std::int64_t kUnitMs[] = {kMinuteMs, 60 * kMinuteMs, kDayMs, 7 * kDayMs};
  const auto n = digits.size() <= 9 ? parse_natural(digits) : std::nullopt;
  const auto u = kUnits.find(unit);
  if (!n || unit == '\0' || u == std::string_view::npos)
    return invalid("expected a duration such as 30d (a number and m, h, d or w), not " + shown(v));
  if (*n == 0) return invalid("a duration must be longer than 0");
  if (*n * kUnitMs[u] > kMaxDurationMs) return invalid("a duration cannot be longer than 100 years");
  return *n * kUnitMs[u];
}

// YYYY-MM-DD as 00:00 UTC of that day.
Result<std::int64_t> parse_date(std::string_view v) {
  const bool shape = v.size() == 10 && v[4] == '-' && v[7] == '-' &&
                     std::all_of(v.begin(), v.begin() + 4, is_digit) && is_digit(v[5]) && is_digit(v[6]) &&
                     is_digit(v[8]) && is_digit(v[9]);
  if (!shape) return invalid("expected a date YYYY-MM-DD, not " + shown(v));
  const int y = static_cast<int>(*parse_natural(v.substr(0, 4)));
  const int m = static_cast<int>(*parse_natural(v.substr(5, 2)));
  const int d = static_cast<int>(*parse_natural(v.substr(8, 2)));
  const bool leap = (y % 4 == 0 && y % 100 != 0) || y % 400 == 0;
  constexpr int kDays[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  if (y < 1970 || m < 1 || m > 12 || d < 1 || d > kDays[m - 1] + (m == 2 && leap))
    return invalid("no such date " + shown(v) + " (from 1970-01-01 on)");
  return days_from_civil(y, m, d) * kDayMs;
}

// ---------------------------------------------------------------------------------------------
// The parser writes SQL as it reads: binds are appended in reading order, which is the order of
// their placeholders, since SQL fragments are only ever concatenated left to right.
class Parser {
 public:
  Parser(std::vector<Token> tokens, std::int64_t now) : tokens_(std::move(tokens)), now_(now) {}

  SegmentSql compile() {
    std::string where = or_expr();
    const Token& t = peek();
    if (t.kind == Kind::close) throw Mistake{t.offset, "unmatched ')'"};
    if (t.kind != Kind::end) throw Mistake{t.offset, "expected 'and', 'or' or the end of the segment"};
    return {std::move(where), std::move(binds_)};
  }

 private:
  const Token& peek() const { return tokens_[next_]; }
  const Token& take() {
    const Token& t = tokens_[next_];
    if (t.kind != Kind::end) ++next_;
    return t;
  }
  bool at_keyword(std::string_view k) const { return peek().kind == Kind::word && iequals(peek().text, k); }
  bool at_op(std::string_view op) const { return peek().kind == Kind::op && peek().text == op; }
  static bool reserved(const Token& t) {
    return t.kind == Kind::word && (iequals(t.text, "and") || iequals(t.text, "or") || iequals(t.text, "not"));
  }

  std::string or_expr() {
    std::string sql = and_expr();
    if (!at_keyword("or")) return sql;
    while (at_keyword("or")) {
      take();
      sql += " OR " + and_expr();
    }
    return "(" + sql + ")";
  }

  std::string and_expr() {
    std::string sql = unary();
    if (!at_keyword("and")) return sql;
    while (at_keyword("and")) {
      take();
      sql += " AND " + unary();
    }
    return "(" + sql + ")";
  }

  std::string unary() {
    bool negate = false;
    while (at_keyword("not")) {  // "not not x" is x: the SQL stays shallow
      take();
      negate = !negate;
    }
    std::string sql;
    if (peek().kind == Kind::open) {
      if (++depth_ > kMaxDepth) throw Mistake{peek().offset, "parentheses nested deeper than 32"};
      take();
      sql = or_expr();
      const Token& t = peek();
      if (t.kind == Kind::end) throw Mistake{t.offset, "expected ')'"};
      if (t.kind != Kind::close) throw Mistake{t.offset, "expected 'and', 'or' or ')'"};
      take();
      --depth_;
    } else {
      sql = predicate();
    }
    return negate ? "(NOT " + sql + ")" : sql;
  }

  std::string predicate() {
    const Token& name = peek();
    if (name.kind != Kind::word || reserved(name))
      throw Mistake{name.offset, "expected a field (" + field_names() + "), 'not' or '('"};
    const Field* field = find_field(name.text);
    if (!field) throw Mistake{name.offset, "unknown field " + shown(name.text) + " (" + field_names() + ")"};
    if (++predicates_ > kMaxPredicates) throw Mistake{name.offset, "more than 200 predicates"};
    take();
    Ask ask;
    ask.now = now_;
    bool negate = false;
    switch (field->shape) {
      case Shape::set: negate = read_set(*field, ask); break;
      case Shape::flag: negate = read_flag(*field, ask); break;
      case Shape::count: read_count(*field, ask); break;
      case Shape::time: read_time(*field, ask); break;
    }
    std::string sql = field->sql(ask, binds_);
    return negate ? "(NOT " + sql + ")" : sql;
  }

  // The text of the next token when it can be a value; `expected` says what should have been there.
  const Token& value_token(const std::string& expected) {
    const Token& t = peek();
    if (t.kind != Kind::string && (t.kind != Kind::word || reserved(t))) throw Mistake{t.offset, "expected " + expected};
    return take();
  }

  Bind read_value(const Field& f, const std::string& expected) {
    const Token& t = value_token(expected);
    auto v = f.read(t.text);
    if (!v) throw Mistake{t.offset, v.error().message};
    return std::move(v).value();
  }

  // Returns whether the predicate is negated (!=).
  bool read_set(const Field& f, Ask& ask) {
    const std::string name(f.name);
    if (at_op("=") || at_op("!=")) {
      const Token& op = take();
      ask.values.push_back(read_value(f, "a value after '" + name + " " + op.text + "'"));
      return op.text == "!=";
    }
    if (!at_keyword("in")) throw Mistake{peek().offset, "expected '=', '!=' or 'in' after " + name};
    take();
    if (peek().kind != Kind::open) throw Mistake{peek().offset, "expected '(' after 'in'"};
    take();
    for (;;) {
      if (ask.values.size() == kMaxValues) throw Mistake{peek().offset, "more than 100 values in one list"};
      ask.values.push_back(read_value(f, "a value in the list"));
      const Token& t = peek();
      if (t.kind != Kind::comma && t.kind != Kind::close) throw Mistake{t.offset, "expected ',' or ')'"};
      if (take().kind == Kind::close) return false;
    }
  }

  bool read_flag(const Field& f, Ask& ask) {
    const std::string name(f.name);
    if (at_op("=") || at_op("!=")) {
      const Token& op = take();
      ask.values.push_back(read_value(f, "true or false after '" + name + " " + op.text + "'"));
      return op.text == "!=";
    }
    if (peek().kind == Kind::op) throw Mistake{peek().offset, "expected '=' or '!=' after " + name};
    ask.values.push_back(f.read("true").value());
    return false;
  }

  void read_count(const Field& f, Ask& ask) {
    const std::string name(f.name);
    if (peek().kind != Kind::op) throw Mistake{peek().offset, "expected '=', '!=', '<', '<=', '>' or '>=' after " + name};
    const Token& op = take();
    ask.op = op.text == "!=" ? std::string_view("<>") : std::string_view(op.text);
    const std::string expected = "a non-negative integer after '" + name + " " + op.text + "'";
    const Token& t = value_token(expected);
    const auto n = parse_natural(t.text);
    if (!n) throw Mistake{t.offset, "expected " + expected + ", not " + shown(t.text)};
    ask.number = *n;
  }

  void read_time(const Field& f, Ask& ask) {
    const std::string name(f.name);
    if (at_keyword("within")) {
      take();
      const Token& t = value_token("a duration such as 30d after '" + name + " within'");
      const auto d = parse_duration(t.text);
      if (!d) throw Mistake{t.offset, d.error().message};
      ask.from = now_ < std::numeric_limits<std::int64_t>::min() + *d ? std::numeric_limits<std::int64_t>::min() : now_ - *d;
      return;
    }
    const bool before = at_keyword("before");
    if (!before && !at_keyword("after")) throw Mistake{peek().offset, "expected 'within', 'before' or 'after' after " + name};
    const Token& keyword = take();
    const Token& t = value_token("a date YYYY-MM-DD after '" + name + " " + lowered(keyword.text) + "'");
    const auto date = parse_date(t.text);
    if (!date) throw Mistake{t.offset, date.error().message};
    (before ? ask.until : ask.from) = *date;
  }

  std::vector<Token> tokens_;
  std::size_t next_ = 0;
  std::int64_t now_;
  int depth_ = 0;
  int predicates_ = 0;
  Binds binds_;
};

// 1-based, in characters (UTF-8 continuation bytes do not count).
std::size_t column(std::string_view text, std::size_t offset) {
  const auto head = text.substr(0, offset);
  return 1 + static_cast<std::size_t>(std::count_if(head.begin(), head.end(), [](char c) { return !is_continuation(c); }));
}

}  // namespace

Result<SegmentSql> compile_segment(std::string_view text, std::int64_t now) {
  try {
    if (text.size() > kMaxBytes) throw Mistake{kMaxBytes, "longer than 4096 bytes"};
    auto tokens = tokenize(text);
    if (tokens.size() == 1)
      return Error{Code::invalid_argument,
                   "segment: empty; use role = tourist or consent or another predicate (an empty segment would select everyone)",
                   "segment"};
    return Parser(std::move(tokens), now).compile();
  } catch (const Mistake& m) {
    return Error{Code::invalid_argument, "segment: at column " + std::to_string(column(text, m.offset)) + ": " + m.what, "segment"};
  }
}

}  // namespace tourbus::schedule
