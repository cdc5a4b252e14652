#include "core/links.hpp"

#include <charconv>
#include <vector>

#include <openssl/crypto.h>

#include "core/crypto.hpp"

namespace tourbus::links {
namespace {

// 128 bits of the HMAC: enough against forgery, short enough for an SMS.
constexpr std::size_t kSignatureHex = 32;

std::string body(const Link& l) {
  return std::string(1, static_cast<char>(l.kind)) + "." + std::to_string(l.user) + "." + std::to_string(l.subject) + "." +
         std::to_string(l.expires);
}

std::optional<std::int64_t> number(std::string_view s) {
  std::int64_t v = 0;
  auto [end, ec] = std::from_chars(s.data(), s.data() + s.size(), v);
  if (ec != std::errc() || end != s.data() + s.size() || s.empty() || v < 0) return std::nullopt;
  return v;
}

}  // namespace

std::string sign(std::string_view key, const Link& link) {
  auto b = body(link);
  return b + "." + crypto::hmac_sha256_hex(key, b).substr(0, kSignatureHex);
}

std::string url(std::string_view base, std::string_view key, const Link& link) {
  while (!base.empty() && base.back() == '/') base.remove_suffix(1);
  return std::string(base) + std::string(kPath) + sign(key, link);
}

std::optional<Link> verify(std::string_view key, std::string_view token, std::int64_t now) {
  if (token.size() > 120) return std::nullopt;
  std::vector<std::string_view> parts;
  std::size_t start = 0;
  for (;;) {
    auto dot = token.find('.', start);
    parts.push_back(token.substr(start, dot == std::string_view::npos ? std::string_view::npos : dot - start));
    if (dot == std::string_view::npos) break;
    start = dot + 1;
  }
  if (parts.size() != 5 || parts[0].size() != 1) return std::nullopt;
  Link l;
  if (parts[0][0] == 'u') l.kind = Kind::unsubscribe;
  else if (parts[0][0] == 'r') l.kind = Kind::review;
  else if (parts[0][0] == 'c') l.kind = Kind::click;
  else if (parts[0][0] == 's') l.kind = Kind::safe;
  else if (parts[0][0] == 'h') l.kind = Kind::help;
  else return std::nullopt;
  auto user = number(parts[1]), subject = number(parts[2]), expires = number(parts[3]);
  if (!user || !subject || !expires) return std::nullopt;
  l.user = *user;
  l.subject = *subject;
  l.expires = *expires;
  // Recomputed from the parsed values, so "007" and "7" cannot both be valid.
  auto expected = crypto::hmac_sha256_hex(key, body(l)).substr(0, kSignatureHex);
  if (parts[4].size() != expected.size() || CRYPTO_memcmp(parts[4].data(), expected.data(), expected.size()) != 0)
    return std::nullopt;
  if (l.expires != 0 && now > l.expires) return std::nullopt;
  return l;
}

}  // namespace tourbus::links
