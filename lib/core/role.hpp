// The three roles, least privileged first. A RoleMask says who may call an operation.
#pragma once

#include <cstdint>
#include <optional>
#include <string_view>

namespace tourbus {

enum class Role : std::uint8_t { tourist = 1, guide = 2, operator_ = 4 };
using RoleMask = std::uint8_t;

inline constexpr RoleMask mask(Role r) { return static_cast<RoleMask>(r); }
inline constexpr RoleMask kAnyone = mask(Role::tourist) | mask(Role::guide) | mask(Role::operator_);
inline constexpr RoleMask kStaff = mask(Role::guide) | mask(Role::operator_);
inline constexpr RoleMask kOperator = mask(Role::operator_);

inline constexpr std::string_view role_name(Role r) {
  switch (r) {
    case Role::tourist: return "tourist";
    case Role::guide: return "guide";
    case Role::operator_: return "operator";
  }
  return "tourist";
}

inline std::optional<Role> role_from_name(std::string_view s) {
  if (s == "tourist") return Role::tourist;
  if (s == "guide") return Role::guide;
  if (s == "operator") return Role::operator_;
  return std::nullopt;
}

}  // namespace tourbus
