// Stable error codes shared by every part, and the Result type that carries them across parts.
// A code's name, HTTP status and CLI exit code are part of the public interface (docs/api.md).
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <utility>
#include <variant>

namespace tourbus {

enum class Code {
  bad_request,
  invalid_json,
  invalid_argument,
  unknown_field,
  unauthenticated,
  permission_denied,
  not_found,
  method_not_allowed,
  already_exists,
  conflict,
  payload_too_large,
  unsupported_media_type,
  rate_limited,
  unavailable,
  internal,
};

struct CodeInfo {
  Code code;
  std::string_view name;
  int http_status;
  int exit_code;  // tourbus(1) exit status
  std::string_view meaning;
};

// The one list of codes: name, HTTP status, CLI exit code.
const CodeInfo& info(Code code);
std::string_view code_name(Code code);
std::optional<Code> code_from_name(std::string_view name);
std::span<const CodeInfo> all_codes();

// CLI exit codes that do not come from an API error.
namespace exit_code {
inline constexpr int ok = 0;
inline constexpr int internal = 1;
inline constexpr int usage = 2;
inline constexpr int not_found = 3;
inline constexpr int invalid = 4;
inline constexpr int denied = 5;
inline constexpr int unreachable = 6;
}  // namespace exit_code

struct Error {
  Code code = Code::internal;
  std::string message;
  std::string field;  // the offending parameter, when there is one

  Error() = default;
  Error(Code c, std::string msg, std::string f = {})
      : code(c), message(std::move(msg)), field(std::move(f)) {}
};

// A value or an Error. Used at every boundary between parts; exceptions stay inside a part.
template <class T>
class [[nodiscard]] Result {
 public:
  Result(T value) : v_(std::move(value)) {}
  Result(Error error) : v_(std::move(error)) {}

  bool ok() const { return v_.index() == 0; }
  explicit operator bool() const { return ok(); }
  T& value() & { return std::get<0>(v_); }
  const T& value() const& { return std::get<0>(v_); }
  T&& value() && { return std::get<0>(std::move(v_)); }
  T& operator*() & { return value(); }
  const T& operator*() const& { return value(); }
  T* operator->() { return &value(); }
  const T* operator->() const { return &value(); }
  const Error& error() const { return std::get<1>(v_); }

 private:
  std::variant<T, Error> v_;
};

template <>
class [[nodiscard]] Result<void> {
 public:
  Result() = default;
  Result(Error error) : error_(std::move(error)) {}

  bool ok() const { return !error_; }
  explicit operator bool() const { return ok(); }
  const Error& error() const { return *error_; }

 private:
  std::optional<Error> error_;
};

using Status = Result<void>;

}  // namespace tourbus
