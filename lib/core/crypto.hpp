// Small cryptographic helpers over OpenSSL.
#pragma once

#include <optional>
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
// HMAC-SHA1, raw bytes (webhook signatures of SMS providers: Twilio's X-Twilio-Signature).
std::string hmac_sha1(std::string_view key, std::string_view data);
// Lower-case hex of bytes.
std::string hex(std::string_view bytes);
// Standard base64 (RFC 4648 section 4) with padding.
std::string base64_encode(std::string_view bytes);
// Its inverse; nothing for text that is not padded base64.
std::optional<std::string> base64_decode(std::string_view text);

}  // namespace tourbus::crypto
