// Small cryptographic helpers over OpenSSL.
#pragma once

#include <string>
#include <string_view>

namespace tourbus::crypto {

// n bytes from the OS CSPRNG, base64url without padding.
std::string random_token(std::size_t n);
// Lower-case hex SHA-256 of the input.
std::string sha256_hex(std::string_view data);
// Lower-case hex SHA-256 of a file's contents, read in pieces. Throws std::runtime_error.
std::string sha256_file_hex(const std::string& path);
// Lower-case hex HMAC-SHA256 of data under key.
std::string hmac_sha256_hex(std::string_view key, std::string_view data);
// Lower-case hex of bytes.
std::string hex(std::string_view bytes);

}  // namespace tourbus::crypto
