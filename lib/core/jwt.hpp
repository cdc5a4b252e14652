// JSON Web Tokens signed by the daemon for push providers: ES256 (APNs .p8 keys, Web Push VAPID)
// and RS256 (Google service accounts, RFC 7523), plus the base64url coding they are built from.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "core/error.hpp"

struct evp_pkey_st;  // OpenSSL's EVP_PKEY

namespace tourbus::jwt {

// base64url (RFC 4648 section 5) without padding.
std::string base64url_encode(std::string_view bytes);
// Accepts input with or without '=' padding; refuses characters outside the URL alphabet, a
// misplaced '=', an impossible length and non-zero trailing bits (invalid_argument).
Result<std::string> base64url_decode(std::string_view text);

// A private signing key: EC P-256 or RSA (2048 bits or more). Immutable once loaded; copies share
// the key, and one Key may sign from several threads at once.
// A P-256 key pair, both base64url without padding: the 65-byte uncompressed public point (what
// browsers take as a VAPID applicationServerKey) and the 32-byte private scalar.
struct P256KeyPair {
  std::string public_key;
  std::string private_key;
};

// A fresh pair from the OS CSPRNG (tourbus push vapid-keys). Throws std::runtime_error if OpenSSL fails.
P256KeyPair generate_p256_pair();

class Key {
 public:
  enum class Type { ec_p256, rsa };

  // A PEM private key: PKCS#8 "PRIVATE KEY" (Apple .p8 files, Google service accounts), SEC1
  // "EC PRIVATE KEY" or PKCS#1 "RSA PRIVATE KEY". Encrypted keys and other curves or algorithms
  // are refused with invalid_argument.
  static Result<Key> from_pem(std::string_view pem);
  // A P-256 private key from its 32-byte scalar in base64url (how VAPID private keys are kept).
  static Result<Key> from_p256_scalar(std::string_view d_base64url);
  // A fresh P-256 key from the OS CSPRNG. Throws std::runtime_error if OpenSSL fails.
  static Key generate_p256();

  Type type() const { return type_; }
  // P-256 only (empty for RSA): the public key as a 65-byte uncompressed point 0x04||X||Y, and
  // the private scalar as 32 big-endian bytes.
  std::string p256_public_point() const;
  std::string p256_scalar() const;
  // The OpenSSL key, owned by this Key, for callers that need other EVP operations (ECDH).
  evp_pkey_st* native() const { return pkey_.get(); }

 private:
  Key(std::shared_ptr<evp_pkey_st> pkey, Type type) : pkey_(std::move(pkey)), type_(type) {}

  std::shared_ptr<evp_pkey_st> pkey_;
  Type type_;
};

// JWS compact serialization base64url(header).base64url(claims).base64url(signature). The JSON
// texts are used as given (the caller builds them). ES256 gives the 64-byte R||S signature of
// RFC 7518 section 3.4; RS256 is RSASSA-PKCS1-v1_5 with SHA-256. A key of the wrong type is
// invalid_argument; an OpenSSL failure is internal.
Result<std::string> sign_es256(std::string_view header_json, std::string_view claims_json, const Key& key);
Result<std::string> sign_rs256(std::string_view header_json, std::string_view claims_json, const Key& key);

}  // namespace tourbus::jwt
