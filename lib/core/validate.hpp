// Validation and normalisation of user-supplied values. Each returns the normalised value or an
// invalid_argument error whose message a person can act on (the caller adds the field name).
#pragma once

#include <string>
#include <string_view>

#include "core/error.hpp"

namespace tourbus::validate {

// 2..32 characters of a-z 0-9 . _ -, starting with a letter or digit; folded to lower case.
Result<std::string> handle(std::string_view text);
// The lower-case form handles are stored and compared in.
std::string fold_handle(std::string_view text);
// 1..max_chars characters of valid UTF-8 without control characters; surrounding blanks trimmed.
Result<std::string> text(std::string_view text, std::size_t max_chars);
// Multi-line text (tabs and newlines allowed), trimmed, at most max_bytes bytes of UTF-8
// (payload_too_large beyond).
Result<std::string> message_text(std::string_view text, std::size_t max_bytes);
// text() with at most 100 characters.
Result<std::string> display_name(std::string_view text);
Result<std::string> email(std::string_view text);
// E.164: "+", an assigned country calling code, 8..15 digits in all (NANP: +1 and ten digits with
// valid area and exchange codes). Spaces, dots, dashes and parentheses are dropped.
Result<std::string> phone(std::string_view text);
// BCP 47 language tag (language[-script][-region][-variant...]); case normalised ("pt-BR").
Result<std::string> language(std::string_view text);
// IANA time zone known to the OS database.
Result<std::string> time_zone(std::string_view text);

struct QuietHours {
  int start_minute = 0;  // minutes after local midnight
  int end_minute = 0;
};
// "HH:MM-HH:MM" in the user's zone; may wrap midnight ("22:00-07:00").
Result<QuietHours> quiet_hours(std::string_view text);
std::string format_quiet_hours(const QuietHours& q);

// Masks all but the last three digits of a phone number, for logs.
std::string redact_phone(std::string_view e164);

}  // namespace tourbus::validate
