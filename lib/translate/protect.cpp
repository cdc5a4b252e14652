#include "translate/protect.hpp"

#include <algorithm>
#include <cctype>

namespace tourbus::translate {
namespace {

struct Span {
  std::size_t begin, end;
};

bool is_space(unsigned char c) { return std::isspace(c) != 0; }
bool is_word(unsigned char c) { return std::isalnum(c) || c == '_' || c >= 0x80; }

// The code point at i and its length in bytes (a bad byte counts as one byte, code point 0).
std::pair<char32_t, std::size_t> decode(std::string_view s, std::size_t i) {
  auto c = static_cast<unsigned char>(s[i]);
  std::size_t n = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
  if (n == 0 || i + n > s.size()) return {0, 1};
  char32_t cp = n == 1 ? c : n == 2 ? (c & 0x1F) : n == 3 ? (c & 0x0F) : (c & 0x07);
  for (std::size_t k = 1; k < n; ++k) {
    auto b = static_cast<unsigned char>(s[i + k]);
    if ((b >> 6) != 2) return {0, 1};
    cp = (cp << 6) | (b & 0x3F);
  }
  return {cp, n};
}

bool emoji(char32_t cp) {
  return (cp >= 0x1F000 && cp <= 0x1FAFF) || (cp >= 0x2600 && cp <= 0x27BF) || (cp >= 0x2B00 && cp <= 0x2BFF) ||
         (cp >= 0x2190 && cp <= 0x21FF) || cp == 0x203C || cp == 0x2049 || cp == 0x2122 || cp == 0x2139 ||
         (cp >= 0x231A && cp <= 0x23FF) || cp == 0x3030 || cp == 0x303D || cp == 0x3297 || cp == 0x3299;
}
// Joiners and modifiers that continue an emoji sequence.
bool emoji_part(char32_t cp) {
  return cp == 0x200D || cp == 0xFE0F || cp == 0x20E3 || (cp >= 0x1F3FB && cp <= 0x1F3FF) || (cp >= 0xE0020 && cp <= 0xE007F);
}

std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// Trailing punctuation belongs to the sentence, not to the URL or address.
std::size_t trim_trailing(std::string_view s, std::size_t begin, std::size_t end) {
  while (end > begin && std::string_view(".,;:!?)]}\"'").find(s[end - 1]) != std::string_view::npos) --end;
  return end;
}

void find_urls_and_addresses(std::string_view s, std::vector<Span>& out) {
  std::size_t i = 0;
  while (i < s.size()) {
    if (is_space(static_cast<unsigned char>(s[i]))) {
      ++i;
      continue;
    }
    auto start = i;
    while (i < s.size() && !is_space(static_cast<unsigned char>(s[i]))) ++i;
    auto token = s.substr(start, i - start);
    auto low = lower(token);
    bool url = low.starts_with("http://") || low.starts_with("https://") || low.starts_with("www.");
    auto at = token.find('@');
    bool address = !url && at != std::string_view::npos && at > 0 && token.find('.', at) != std::string_view::npos &&
                   token.find('@', at + 1) == std::string_view::npos;
    if (url || address) {
      // An address may follow an opening bracket or quote.
      auto b = start;
      while (b < i && std::string_view("([{\"'<").find(s[b]) != std::string_view::npos) ++b;
      auto e = trim_trailing(s, b, i);
      if (e > b) out.push_back({b, e});
    }
  }
}

void find_mentions(std::string_view s, std::vector<Span>& out) {
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (s[i] != '@' || (i > 0 && is_word(static_cast<unsigned char>(s[i - 1])))) continue;
    auto e = i + 1;
    while (e < s.size() && (std::isalnum(static_cast<unsigned char>(s[e])) || s[e] == '_' || s[e] == '.' || s[e] == '-')) ++e;
    e = trim_trailing(s, i + 1, e);
    if (e > i + 1) out.push_back({i, e});
  }
}

// Digits with the separators of times, dates, prices and phone numbers between them: 9:30,
// 12/05/2026, 15.50, 1,200, +34 600 123 456 is several numbers (each kept).
void find_numbers(std::string_view s, std::vector<Span>& out) {
  auto digit = [&](std::size_t k) { return k < s.size() && std::isdigit(static_cast<unsigned char>(s[k])); };
  for (std::size_t i = 0; i < s.size();) {
    if (!digit(i)) {
      ++i;
      continue;
    }
    auto b = i;
    if (b > 0 && (s[b - 1] == '+' || s[b - 1] == '-') && (b == 1 || !is_word(static_cast<unsigned char>(s[b - 2])))) --b;
    while (digit(i) || (i + 1 < s.size() && std::string_view(".,:/-").find(s[i]) != std::string_view::npos && digit(i + 1) &&
                        digit(i - 1)))
      ++i;
    out.push_back({b, i});
  }
}

void find_emoji(std::string_view s, std::vector<Span>& out) {
  for (std::size_t i = 0; i < s.size();) {
    auto [cp, n] = decode(s, i);
    if (!emoji(cp)) {
      i += n;
      continue;
    }
    auto b = i;
    i += n;
    while (i < s.size()) {
      auto [next, m] = decode(s, i);
      if (!emoji_part(next) && !emoji(next)) break;  // a run of emoji is one piece
      i += m;
    }
    out.push_back({b, i});
  }
}

// Text that already reads like a placeholder ("[[2]]") is kept as it is, so it cannot be confused
// with one.
void find_placeholders(std::string_view s, std::vector<Span>& out) {
  for (auto at = s.find("[["); at != std::string_view::npos; at = s.find("[[", at + 2)) {
    auto e = at + 2;
    while (e < s.size() && std::isdigit(static_cast<unsigned char>(s[e]))) ++e;
    if (e > at + 2 && s.substr(e, 2) == "]]") out.push_back({at, e + 2});
  }
}

void find_terms(std::string_view s, std::span<const std::string> terms, std::vector<Span>& out) {
  std::vector<std::string> sorted(terms.begin(), terms.end());
  std::sort(sorted.begin(), sorted.end(), [](const auto& a, const auto& b) { return a.size() > b.size(); });
  auto low = lower(s);
  for (const auto& term : sorted) {
    if (term.empty()) continue;
    auto t = lower(term);
    for (auto at = low.find(t); at != std::string::npos; at = low.find(t, at + 1)) {
      auto end = at + t.size();
      bool starts = at == 0 || !is_word(static_cast<unsigned char>(s[at - 1])) || !is_word(static_cast<unsigned char>(t[0]));
      bool ends = end == s.size() || !is_word(static_cast<unsigned char>(s[end])) ||
                  !is_word(static_cast<unsigned char>(t.back()));
      if (starts && ends) out.push_back({at, end});
    }
  }
}

}  // namespace

// "[[1]]": the engines take it for punctuation, so it neither bends the grammar around it nor
// gets marked as an unknown word, and it comes back byte for byte (Apertium, LibreTranslate, DeepL).
std::string placeholder(std::size_t i) { return "[[" + std::to_string(i + 1) + "]]"; }

Protected protect(std::string_view text, std::span<const std::string> terms) {
  std::vector<Span> found;
  // Earlier finders win an overlap: a URL's digits are part of the URL, a term's of the term.
  find_placeholders(text, found);
  find_urls_and_addresses(text, found);
  find_terms(text, terms, found);
  find_mentions(text, found);
  find_emoji(text, found);
  find_numbers(text, found);
  std::vector<Span> kept;
  for (const auto& f : found) {
    bool overlaps = std::any_of(kept.begin(), kept.end(), [&](const Span& k) { return f.begin < k.end && k.begin < f.end; });
    if (!overlaps) kept.push_back(f);
  }
  std::sort(kept.begin(), kept.end(), [](const Span& a, const Span& b) { return a.begin < b.begin; });
  Protected p;
  std::size_t at = 0;
  for (const auto& k : kept) {
    p.text.append(text.substr(at, k.begin - at));
    p.text += placeholder(p.spans.size());
    p.spans.emplace_back(text.substr(k.begin, k.end - k.begin));
    at = k.end;
  }
  p.text.append(text.substr(at));
  return p;
}

std::optional<std::string> restore(std::string_view translated, const std::vector<std::string>& spans) {
  // One pass over the engine's text: each placeholder replaced by its span (never looked at again,
  // so a span that itself reads "[[1]]" cannot be taken for one); each must appear exactly once.
  std::string out;
  std::vector<int> seen(spans.size(), 0);
  std::size_t at = 0;
  while (at < translated.size()) {
    auto open = translated.find("[[", at);
    if (open == std::string_view::npos) break;
    auto e = open + 2;
    while (e < translated.size() && std::isdigit(static_cast<unsigned char>(translated[e]))) ++e;
    std::size_t n = 0;
    bool ok = e > open + 2 && e - open < 10 && translated.substr(e, 2) == "]]";
    if (ok) {
      n = std::stoul(std::string(translated.substr(open + 2, e - open - 2)));
      ok = n >= 1 && n <= spans.size();
    }
    if (!ok) {  // not a placeholder here; one may start at the next bracket ("[[[1]]")
      out.append(translated.substr(at, open + 1 - at));
      at = open + 1;
      continue;
    }
    out.append(translated.substr(at, open - at));
    out += spans[n - 1];
    ++seen[n - 1];
    at = e + 2;
  }
  out.append(translated.substr(at));
  if (std::any_of(seen.begin(), seen.end(), [](int k) { return k != 1; })) return std::nullopt;
  // An engine that dropped a leading pronoun leaves the space before it.
  auto b = out.find_first_not_of(' ');
  auto e = out.find_last_not_of(' ');
  return b == std::string::npos ? std::string() : out.substr(b, e - b + 1);
}

}  // namespace tourbus::translate
