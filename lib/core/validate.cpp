#include "core/validate.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <cstdio>
#include <iterator>
#include <regex>

#include "core/time.hpp"

namespace tourbus::validate {
namespace {

Error invalid(std::string msg) { return Error(Code::invalid_argument, std::move(msg)); }

std::string_view trim(std::string_view s) {
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.front()))) s.remove_prefix(1);
  while (!s.empty() && std::isspace(static_cast<unsigned char>(s.back()))) s.remove_suffix(1);
  return s;
}

// ITU-T E.164 assigned country calling codes (geographic and global services).
constexpr int kCountryCodes[] = {
    1,   7,   20,  27,  30,  31,  32,  33,  34,  36,  39,  40,  41,  43,  44,  45,  46,  47,  48,  49,
    51,  52,  53,  54,  55,  56,  57,  58,  60,  61,  62,  63,  64,  65,  66,  81,  82,  84,  86,  90,
    91,  92,  93,  94,  95,  98,  211, 212, 213, 216, 218, 220, 221, 222, 223, 224, 225, 226, 227, 228,
    229, 230, 231, 232, 233, 234, 235, 236, 237, 238, 239, 240, 241, 242, 243, 244, 245, 246, 247, 248,
    249, 250, 251, 252, 253, 254, 255, 256, 257, 258, 260, 261, 262, 263, 264, 265, 266, 267, 268, 269,
    290, 291, 297, 298, 299, 350, 351, 352, 353, 354, 355, 356, 357, 358, 359, 370, 371, 372, 373, 374,
    375, 376, 377, 378, 379, 380, 381, 382, 383, 385, 386, 387, 389, 420, 421, 423, 500, 501, 502, 503,
    504, 505, 506, 507, 508, 509, 590, 591, 592, 593, 594, 595, 596, 597, 598, 599, 670, 672, 673, 674,
    675, 676, 677, 678, 679, 680, 681, 682, 683, 685, 686, 687, 688, 689, 690, 691, 692, 800, 808, 850,
    852, 853, 855, 856, 870, 878, 880, 881, 882, 883, 886, 888, 960, 961, 962, 963, 964, 965, 966, 967,
    968, 970, 971, 972, 973, 974, 975, 976, 977, 979, 992, 993, 994, 995, 996, 998,
};

int country_code_length(std::string_view digits) {
  for (int len = 1; len <= 3 && len <= static_cast<int>(digits.size()); ++len) {
    int cc = std::stoi(std::string(digits.substr(0, len)));
    if (std::find(std::begin(kCountryCodes), std::end(kCountryCodes), cc) != std::end(kCountryCodes)) return len;
  }
  return 0;
}

}  // namespace

std::string fold_handle(std::string_view text) {
  std::string h(trim(text));
  std::transform(h.begin(), h.end(), h.begin(), [](unsigned char c) { return std::tolower(c); });
  return h;
}

Result<std::string> handle(std::string_view text) {
  auto h = fold_handle(text);
  static const std::regex re("^[a-z0-9][a-z0-9._-]{1,31}$");
  if (!std::regex_match(h, re))
    return invalid("'" + std::string(text) + "' is not a valid handle: use 2-32 of a-z 0-9 . _ - starting with a letter or digit");
  return h;
}

Result<std::string> display_name(std::string_view text) { return validate::text(text, 100); }

namespace {

// Counts the characters of valid UTF-8 without control characters (tab and newline allowed in
// multi-line text); an error says what is wrong.
Result<std::size_t> count_chars(std::string_view t, bool multi_line) {
  std::size_t chars = 0;
  for (std::size_t i = 0; i < t.size();) {
    auto c = static_cast<unsigned char>(t[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 0x6 ? 2 : (c >> 4) == 0xe ? 3 : (c >> 3) == 0x1e ? 4 : 0;
    if (len == 0 || i + len > t.size()) return invalid("is not valid UTF-8");
    for (int k = 1; k < len; ++k)
      if ((static_cast<unsigned char>(t[i + k]) & 0xc0) != 0x80) return invalid("is not valid UTF-8");
    bool allowed = multi_line && (c == '\n' || c == '\t');
    if (len == 1 && (c < 0x20 || c == 0x7f) && !allowed) return invalid("must not contain control characters");
    i += len;
    ++chars;
  }
  return chars;
}

}  // namespace

Result<std::string> text(std::string_view text, std::size_t max_chars) {
  auto t = trim(text);
  auto chars = count_chars(t, false);
  if (!chars) return chars.error();
  if (*chars == 0 || *chars > max_chars) return invalid("must be 1 to " + std::to_string(max_chars) + " characters");
  return std::string(t);
}

Result<std::string> message_text(std::string_view text, std::size_t max_bytes) {
  auto t = trim(text);
  if (t.size() > max_bytes)
    return Error(Code::payload_too_large, "is " + std::to_string(t.size()) + " bytes; the limit is " + std::to_string(max_bytes));
  auto chars = count_chars(t, true);
  if (!chars) return chars.error();
  if (*chars == 0) return invalid("must not be empty");
  return std::string(t);
}

Result<std::string> email(std::string_view text) {
  std::string e(trim(text));
  static const std::regex re(R"(^[A-Za-z0-9.!#$%&'*+/=?^_`{|}~-]+@[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?(?:\.[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?)+$)");
  if (e.size() > 254 || !std::regex_match(e, re))
    return invalid("'" + std::string(text) + "' is not an email address (name@example.com)");
  return e;
}

Result<std::string> phone(std::string_view text) {
  auto t = trim(text);
  std::string digits;
  bool plus = false;
  for (std::size_t i = 0; i < t.size(); ++i) {
    char c = t[i];
    if (c == '+' && i == 0) plus = true;
    else if (std::isdigit(static_cast<unsigned char>(c))) digits += c;
    else if (c == ' ' || c == '-' || c == '.' || c == '(' || c == ')') continue;
    else return invalid("'" + std::string(text) + "' is not a phone number: use E.164, like +393331234567");
  }
  if (!plus) return invalid("'" + std::string(text) + "' lacks the international prefix: use E.164, like +393331234567");
  if (digits.empty() || digits[0] == '0') return invalid("'" + std::string(text) + "' has no valid country code");
  int cc = country_code_length(digits);
  if (cc == 0) return invalid("'" + std::string(text) + "' starts with an unassigned country code");
  if (digits.size() < 8 || digits.size() > 15)
    return invalid("'" + std::string(text) + "' has " + std::to_string(digits.size()) + " digits; E.164 numbers have 8 to 15");
  if (digits[0] == '1') {
    // NANP: NXX-NXX-XXXX.
    if (digits.size() != 11 || digits[1] < '2' || digits[4] < '2')
      return invalid("'" + std::string(text) + "' is not a possible North American number (+1 NXX NXX XXXX)");
  }
  return "+" + digits;
}

Result<std::string> language(std::string_view text) {
  std::string t(trim(text));
  static const std::regex re(
      "^([A-Za-z]{2,3})(-[A-Za-z]{4})?(-(?:[A-Za-z]{2}|[0-9]{3}))?((?:-(?:[A-Za-z0-9]{5,8}|[0-9][A-Za-z0-9]{3}))*)$");
  std::smatch m;
  if (t.size() > 35 || !std::regex_match(t, m, re))
    return invalid("'" + std::string(text) + "' is not a BCP 47 language tag (en, it, pt-BR, zh-Hant-TW)");
  auto lower = [](std::string s) { for (auto& c : s) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c))); return s; };
  auto upper = [](std::string s) { for (auto& c : s) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c))); return s; };
  std::string out = lower(m[1]);
  if (m[2].matched) {
    auto s = lower(m[2]);
    s[1] = static_cast<char>(std::toupper(static_cast<unsigned char>(s[1])));
    out += s;
  }
  if (m[3].matched) out += upper(m[3]);
  out += lower(m[4]);
  return out;
}

Result<std::string> time_zone(std::string_view text) {
  std::string z(trim(text));
  if (!timeutil::valid_zone(z)) return invalid("'" + std::string(text) + "' is not a known IANA time zone (like Europe/Rome)");
  return z;
}

Result<QuietHours> quiet_hours(std::string_view text) {
  std::string t(trim(text));
  static const std::regex re("^([01][0-9]|2[0-3]):([0-5][0-9])-([01][0-9]|2[0-3]):([0-5][0-9])$");
  std::smatch m;
  if (!std::regex_match(t, m, re)) return invalid("'" + std::string(text) + "' is not HH:MM-HH:MM (like 22:00-07:00)");
  QuietHours q{std::stoi(m[1]) * 60 + std::stoi(m[2]), std::stoi(m[3]) * 60 + std::stoi(m[4])};
  if (q.start_minute == q.end_minute) return invalid("'" + std::string(text) + "' starts and ends at the same minute");
  return q;
}

std::string format_quiet_hours(const QuietHours& q) {
  char buf[32];
  std::snprintf(buf, sizeof buf, "%02d:%02d-%02d:%02d", q.start_minute / 60, q.start_minute % 60, q.end_minute / 60,
                q.end_minute % 60);
  return buf;
}

std::string redact_phone(std::string_view e164) {
  if (e164.size() <= 4) return std::string(e164.size(), '*');
  return std::string(e164.size() - 3, '*') + std::string(e164.substr(e164.size() - 3));
}

}  // namespace tourbus::validate
