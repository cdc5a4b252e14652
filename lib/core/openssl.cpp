#include "core/openssl.hpp"

#include <array>
#include <string>

#include <openssl/err.h>

namespace tourbus::ossl {

Error last_error(std::string_view what) {
  std::string message = "OpenSSL: " + std::string(what);
  if (unsigned long e = ERR_peek_last_error(); e != 0) {
    std::array<char, 256> buf{};
    ERR_error_string_n(e, buf.data(), buf.size());
    message += ": ";
    message += buf.data();
  }
  ERR_clear_error();
  return Error(Code::internal, std::move(message));
}

}  // namespace tourbus::ossl
