// The cryptography of Web Push: VAPID authorization (RFC 8292) and message encryption (RFC 8291
// with the aes128gcm content coding of RFC 8188). Pure functions; safe from any thread.
#pragma once

#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>

#include "core/error.hpp"
#include "core/jwt.hpp"

namespace tourbus::webpush {

// The application server's VAPID key pair (jwt::generate_p256_pair makes one).
using VapidKeys = jwt::P256KeyPair;

// The Authorization header value "vapid t=<JWT>, k=<public key>" for a push to endpoint_url: an
// ES256 JWT with aud = the endpoint's origin (scheme://host[:port], default port omitted), exp
// and sub. subject must be a mailto: or https: URL; RFC 8292 asks that exp be at most 24 hours
// ahead, which is the caller's to choose. invalid_argument for a bad endpoint, subject or keys
// (including a public key that does not belong to the private key).
Result<std::string> vapid_authorization(std::string_view endpoint_url, std::string_view subject,
                                        const VapidKeys& keys, std::int64_t expires_at_unix);

// Push services must accept bodies up to 4096 bytes; with the 86-byte header, the 16-byte tag and
// the padding delimiter, that leaves this much plaintext.
inline constexpr std::size_t max_plaintext_bytes = 4096 - 86 - 16 - 1;

// The encrypted body for Content-Encoding: aes128gcm, as one record: salt(16) || rs(4, big
// endian) || idlen(1) = 65 || ephemeral public key(65) || AES-128-GCM(plaintext || 0x02) || tag.
// ua_public_b64url is the subscription's p256dh (a 65-byte uncompressed P-256 point) and
// auth_secret_b64url its 16-byte auth. A fresh ephemeral key and salt are drawn for every call.
// invalid_argument for bad subscription keys, a record_size below 18 or a plaintext longer than
// max_plaintext_bytes (or than one record); internal if OpenSSL fails.
Result<std::string> encrypt(std::string_view plaintext, std::string_view ua_public_b64url,
                            std::string_view auth_secret_b64url, std::size_t record_size = 4096);

// The same with the ephemeral key and the 16-byte salt given, so the output is reproducible (the
// RFC 8291 example). Never reuse either for real messages.
Result<std::string> encrypt(std::string_view plaintext, std::string_view ua_public_b64url,
                            std::string_view auth_secret_b64url, const jwt::Key& ephemeral,
                            std::string_view salt, std::size_t record_size = 4096);

}  // namespace tourbus::webpush
