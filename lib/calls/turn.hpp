// ICE servers for call.config: STUN URLs as configured, and TURN with time-limited credentials in
// coturn's REST scheme (--use-auth-secret): username "<expiry>:<user>", password
// base64(HMAC-SHA1(secret, username)). The secret never leaves the daemon.
#pragma once

#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"

namespace tourbus::calls {

struct IceServer {
  std::vector<std::string> urls;
  std::string username, credential;  // empty for STUN
};

// `user`: the handle (what coturn logs); `now` in ms since the epoch.
std::vector<IceServer> ice_servers(const config::Config& c, std::string_view user, std::int64_t now);
// The password coturn computes for a username with the shared secret.
std::string turn_password(std::string_view secret, std::string_view username);

}  // namespace tourbus::calls
