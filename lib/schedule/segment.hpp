// The segment language of marketing campaigns: a small boolean language that selects users,
// compiled to an SQL WHERE clause whose values are all bound parameters, never SQL text.
//
// Grammar (keywords and field names are case-insensitive; whitespace is free):
//
//   segment   := or_expr
//   or_expr   := and_expr { "or" and_expr }
//   and_expr  := unary { "and" unary }
//   unary     := "not" unary | "(" or_expr ")" | predicate
//   predicate := set_field ( ("=" | "!=") value | "in" "(" value { "," value } ")" )
//              | "consent" [ ("=" | "!=") ("true" | "false") ]
//              | "tours" ("=" | "!=" | "<" | "<=" | ">" | ">=") number
//              | time_field ( "within" duration | "before" date | "after" date )
//   set_field  := "role" | "language" | "country" | "tag" | "handle" | "tour"
//   time_field := "toured" | "active" | "joined"
//   value     := bare word of [A-Za-z0-9_.+-] (not "and", "or", "not")
//              | "double-quoted string" with \" and \\ as its only escapes
//   number    := decimal digits;  duration := number then m (minutes), h, d or w: 30d
//   date      := YYYY-MM-DD, read as 00:00 UTC of that day
//
// Fields (a != b always means exactly not (a = b); "in" matches any of its values):
//   role = tourist|guide|operator
//   language = es      "es" and every region variant "es-XX"; 2-3 letters
//   country = ES       ISO 3166 alpha-2, read from the E.164 calling code of the phone number;
//                      countries sharing a code cannot be told apart (US matches every +1 number,
//                      CA too; RU and KZ every +7); users without a phone match no country
//   tag = vip          has the tag (1-64 of a-z 0-9 _ -); != has not; in: has any
//   handle = maria     any string; compared in lower case, as handles are stored
//   tour = 12          took part in tour 12 (any tour status) and was not marked no_show
//   consent            gave marketing consent (consent = true); consent = false
//   tours >= 2         tours taken: not cancelled, ended before now, not marked no_show
//   toured within 365d took a tour (as above) that ended in the last 365 days;
//                      toured before/after DATE: one that ended before DATE / on or after DATE
//   active within 30d  last seen in the window; before/after DATE too; never-seen users are
//                      never active (so they match "not active within 30d")
//   joined within 7d   created in the window; before/after DATE too
// Role, language, country and tag values are case-insensitive. "before D" is strictly before
// D 00:00 UTC and "after D" is from D 00:00 UTC on, so the two split time exactly.
//
// Limits: 4096 bytes of text, parentheses nested 32 deep, 200 predicates, 100 values in one
// "in" list. An empty segment is an error: nobody sends to everyone by accident.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace tourbus::schedule {

using Bind = std::variant<std::int64_t, std::string>;

struct SegmentSql {
  // A parenthesised boolean SQL expression over the users table aliased `u`, with ? placeholders.
  // Standard SQL (runs on SQLite and PostgreSQL); it reads users, tours, tour_participants and
  // user_tags and is never NULL for any user, so NOT and AND around it behave as two-valued logic.
  std::string where;
  std::vector<Bind> binds;  // one per placeholder, in placeholder order
};

// Parses and compiles `text`; `now` (UTC ms) fixes the "within" windows and which tours count as
// taken. Pure and thread-safe.
// Errors: Code::invalid_argument, field "segment", message "segment: at column N: <what>" where N is
// the 1-based column (in characters) of the offending token, or the end of the text; an empty
// text says "segment: empty; ...".
Result<SegmentSql> compile_segment(std::string_view text, std::int64_t now);

}  // namespace tourbus::schedule
