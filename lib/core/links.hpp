// Signed links the daemon serves to people who have no token: unsubscribing from marketing,
// telling us a review was written, and (when tracking is on) a campaign's link. A link names its action, user and subject (a campaign or a
// tour) and an expiry, signed with HMAC-SHA256 under the daemon's own key; nothing else in it is
// trusted. Token form: "<kind>.<user>.<subject>.<expires>.<signature>", URL-safe as it stands.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <string_view>

namespace tourbus::links {

// safe, help: a roll-call answer to an alert (the subject).
enum class Kind : char { unsubscribe = 'u', review = 'r', click = 'c', safe = 's', help = 'h' };

struct Link {
  Kind kind = Kind::unsubscribe;
  std::int64_t user = 0;
  std::int64_t subject = 0;  // unsubscribe, click: the campaign (0: none); review: the tour
  std::int64_t expires = 0;  // ms since the epoch; 0: never
};

// Where links are served, below the daemon's public URL.
inline constexpr std::string_view kPath = "/v1/links/";

std::string sign(std::string_view key, const Link& link);
// The full URL of a link: base (the daemon's public URL, no trailing slash needed) + kPath + token.
std::string url(std::string_view base, std::string_view key, const Link& link);
// The link, when the token is well formed, its signature right and it has not expired.
std::optional<Link> verify(std::string_view key, std::string_view token, std::int64_t now);

}  // namespace tourbus::links
