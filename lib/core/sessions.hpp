// How operations take rights away from open sessions (WebSocket connections) at once, when a
// token is revoked, an account disabled or a role changed: implemented by realtime/ (the hub).
// Call on the daemon's event loop, before the change is written, so that no request a session
// sends after that point is carried out with the rights it is losing.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string_view>

#include "core/role.hpp"

namespace tourbus::sessions {

// The close code of a session whose rights were revoked (docs/protocol.md).
inline constexpr std::uint16_t kCloseRevoked = 4003;

class Control {
 public:
  virtual ~Control() = default;
  // Ends the user's sessions opened with this token (close code 4003, with `reason`); returns how many.
  virtual std::size_t end_token(std::int64_t user, std::int64_t token, std::string_view reason) = 0;
  // Ends every session of the user: any token, and operators acting as the user.
  virtual std::size_t end_user(std::int64_t user, std::string_view reason) = 0;
  // The user's open sessions act with `role` from now on.
  virtual std::size_t set_role(std::int64_t user, Role role) = 0;
};

}  // namespace tourbus::sessions
