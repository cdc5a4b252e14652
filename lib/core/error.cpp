#include "core/error.hpp"

#include <array>

namespace tourbus {
namespace {

constexpr std::array kCodes{
    CodeInfo{Code::bad_request, "bad_request", 400, exit_code::invalid, "the HTTP request itself is malformed"},
    CodeInfo{Code::invalid_json, "invalid_json", 400, exit_code::invalid, "the request body is not valid JSON or not an object"},
    CodeInfo{Code::invalid_argument, "invalid_argument", 400, exit_code::invalid, "a parameter is missing, of the wrong type or fails validation"},
    CodeInfo{Code::unknown_field, "unknown_field", 400, exit_code::invalid, "the request names a parameter the operation does not take"},
    CodeInfo{Code::unauthenticated, "unauthenticated", 401, exit_code::denied, "no valid token (missing, unknown, expired, revoked or disabled user)"},
    CodeInfo{Code::permission_denied, "permission_denied", 403, exit_code::denied, "the caller's role may not perform this operation"},
    CodeInfo{Code::not_found, "not_found", 404, exit_code::not_found, "no such route, user, token or tour"},
    CodeInfo{Code::method_not_allowed, "method_not_allowed", 405, exit_code::usage, "the route exists but not with this HTTP method"},
    CodeInfo{Code::already_exists, "already_exists", 409, exit_code::invalid, "a unique value (such as a handle) is already taken"},
    CodeInfo{Code::conflict, "conflict", 409, exit_code::invalid, "the request conflicts with the current state (such as cancelling a finished tour)"},
    CodeInfo{Code::payload_too_large, "payload_too_large", 413, exit_code::invalid, "the request body exceeds server.max_body_bytes"},
    CodeInfo{Code::unsupported_media_type, "unsupported_media_type", 415, exit_code::invalid, "the request body is not application/json"},
    CodeInfo{Code::rate_limited, "rate_limited", 429, exit_code::unreachable, "too many requests or connections; retry later"},
    CodeInfo{Code::unavailable, "unavailable", 503, exit_code::unreachable, "the daemon is shutting down or overloaded; retry later"},
    CodeInfo{Code::internal, "internal", 500, exit_code::internal, "an unexpected failure; the daemon log has details"},
};

}  // namespace

const CodeInfo& info(Code code) { return kCodes[static_cast<std::size_t>(code)]; }

std::string_view code_name(Code code) { return info(code).name; }

std::optional<Code> code_from_name(std::string_view name) {
  for (const auto& c : kCodes) {
    if (c.name == name) return c.code;
  }
  return std::nullopt;
}

std::span<const CodeInfo> all_codes() { return kCodes; }

}  // namespace tourbus

namespace tourbus {
static_assert([] {
  for (std::size_t i = 0; i < kCodes.size(); ++i)
    if (static_cast<std::size_t>(kCodes[i].code) != i) return false;
  return true;
}(), "kCodes must list the codes in the order of enum Code");
}  // namespace tourbus
