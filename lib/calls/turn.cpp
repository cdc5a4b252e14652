#include "calls/turn.hpp"

#include "core/crypto.hpp"

namespace tourbus::calls {

std::string turn_password(std::string_view secret, std::string_view username) {
  return crypto::base64_encode(crypto::hmac_sha1(secret, username));
}

std::vector<IceServer> ice_servers(const config::Config& c, std::string_view user, std::int64_t now) {
  std::vector<IceServer> out;
  IceServer stun;
  for (auto u : config::split_list(c.calls_stun_urls)) stun.urls.emplace_back(u);
  if (!stun.urls.empty()) out.push_back(std::move(stun));
  IceServer turn;
  for (auto u : config::split_list(c.calls_turn_urls)) turn.urls.emplace_back(u);
  if (!turn.urls.empty() && !c.calls_turn_secret.empty()) {
    auto expiry = now / 1000 + c.calls_turn_ttl_seconds;
    turn.username = std::to_string(expiry) + ":" + std::string(user);
    turn.credential = turn_password(c.calls_turn_secret, turn.username);
    out.push_back(std::move(turn));
  }
  return out;
}

}  // namespace tourbus::calls
