// Web Push message encryption (RFC 8291, RFC 8188 aes128gcm) and VAPID (RFC 8292) over OpenSSL 3.
#include "channels/webpush_crypto.hpp"

#include <algorithm>
#include <array>
#include <climits>
#include <stdexcept>

#include "core/json.hpp"
#include <boost/json/value.hpp>
#include <boost/url/parse.hpp>
#include "core/openssl.hpp"
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/kdf.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

namespace tourbus::webpush {
namespace {

using namespace tourbus::ossl;

using namespace std::string_view_literals;


constexpr std::size_t kPointBytes = 65;
constexpr std::size_t kAuthBytes = 16;
constexpr std::size_t kSaltBytes = 16;
constexpr std::size_t kTagBytes = 16;
constexpr std::size_t kMinRecordSize = 18;  // RFC 8188 section 2: one byte of data, delimiter, tag

Error invalid(std::string message, std::string field = {}) {
  return Error(Code::invalid_argument, std::move(message), std::move(field));
}

Error openssl_error(std::string_view what) { return ossl::last_error(what); }

const unsigned char* bytes(std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); }
unsigned char* bytes(std::string& s) { return reinterpret_cast<unsigned char*>(s.data()); }

// Key material, wiped when it goes out of scope on every return path.
struct Secret {
  explicit Secret(std::string s) : data(std::move(s)) {}
  Secret(Secret&&) = default;
  Secret& operator=(Secret&&) = default;
  ~Secret() { OPENSSL_cleanse(data.data(), data.size()); }
  std::string data;
};

// The subscription's p256dh as an OpenSSL public key, refusing anything not on P-256.
Result<PkeyPtr> import_ua_public(std::string_view point) {
  if (point.size() != kPointBytes || point[0] != '\x04')
    return invalid("p256dh is not a 65-byte uncompressed P-256 point");
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size()) != 1)
    return openssl_error("OSSL_PARAM_BLD_push");
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1) return openssl_error("EVP_PKEY_fromdata_init");
  EVP_PKEY* raw = nullptr;
  int imported = EVP_PKEY_fromdata(ctx.get(), &raw, EVP_PKEY_PUBLIC_KEY, params.get());
  PkeyPtr pkey(raw);
  PkeyCtxPtr check(imported == 1 ? EVP_PKEY_CTX_new_from_pkey(nullptr, pkey.get(), nullptr) : nullptr);
  if (!check || EVP_PKEY_public_check(check.get()) != 1) {
    ERR_clear_error();
    return invalid("p256dh is not a point on the P-256 curve");
  }
  return pkey;
}

Result<Secret> ecdh(const jwt::Key& own, EVP_PKEY* peer) {
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_pkey(nullptr, own.native(), nullptr));
  std::size_t len = 0;
  if (!ctx || EVP_PKEY_derive_init(ctx.get()) != 1 || EVP_PKEY_derive_set_peer(ctx.get(), peer) != 1 ||
      EVP_PKEY_derive(ctx.get(), nullptr, &len) != 1)
    return openssl_error("ECDH");
  Secret shared{std::string(len, '\0')};
  if (EVP_PKEY_derive(ctx.get(), bytes(shared.data), &len) != 1) return openssl_error("ECDH");
  shared.data.resize(len);
  return shared;
}

// HKDF-SHA-256 (RFC 5869), extract then expand.
Result<Secret> hkdf(std::string_view salt, std::string_view ikm, std::string_view info, std::size_t length) {
  KdfPtr kdf(EVP_KDF_fetch(nullptr, "HKDF", nullptr));
  KdfCtxPtr ctx(kdf ? EVP_KDF_CTX_new(kdf.get()) : nullptr);
  if (!ctx) return openssl_error("EVP_KDF_fetch HKDF");
  char digest[] = "SHA256";
  std::array params{
      OSSL_PARAM_construct_utf8_string(OSSL_KDF_PARAM_DIGEST, digest, 0),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_SALT, const_cast<char*>(salt.data()), salt.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_KEY, const_cast<char*>(ikm.data()), ikm.size()),
      OSSL_PARAM_construct_octet_string(OSSL_KDF_PARAM_INFO, const_cast<char*>(info.data()), info.size()),
      OSSL_PARAM_construct_end(),
  };
  Secret out{std::string(length, '\0')};
  if (EVP_KDF_derive(ctx.get(), bytes(out.data), length, params.data()) != 1) return openssl_error("HKDF");
  return out;
}

Result<std::string> aes128gcm_seal(std::string_view key, std::string_view nonce, std::string_view plaintext) {
  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string out(plaintext.size() + kTagBytes, '\0');
  int len = 0;
  int final_len = 0;
  if (!ctx || plaintext.size() > INT_MAX ||
      EVP_EncryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, bytes(key), bytes(nonce)) != 1 ||
      EVP_EncryptUpdate(ctx.get(), bytes(out), &len, bytes(plaintext), static_cast<int>(plaintext.size())) != 1 ||
      EVP_EncryptFinal_ex(ctx.get(), bytes(out) + len, &final_len) != 1 ||
      EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_GET_TAG, kTagBytes, bytes(out) + len + final_len) != 1)
    return openssl_error("AES-128-GCM");
  return out;
}

// The Web origin of a push endpoint (RFC 6454 serialization: lower case, default port omitted).
Result<std::string> endpoint_origin(std::string_view endpoint_url) {
  auto url = boost::urls::parse_uri(endpoint_url);
  if (!url) return invalid("the push endpoint is not a URL", "endpoint");
  bool https = url->scheme_id() == boost::urls::scheme::https;
  if (!https && url->scheme_id() != boost::urls::scheme::http)
    return invalid("the push endpoint must be an https: (or http:) URL", "endpoint");
  if (!url->has_authority() || url->encoded_host().empty() || url->has_userinfo())
    return invalid("the push endpoint must name a host and no user", "endpoint");
  std::string origin = https ? "https://" : "http://";
  for (char c : url->encoded_host()) origin += static_cast<char>(c >= 'A' && c <= 'Z' ? c - 'A' + 'a' : c);
  if (url->has_port() && !url->port().empty()) {
    // port_number() wraps values over 65535, so read the digits (the grammar allows only digits).
    unsigned long port = 0;
    for (char c : url->port()) port = std::min(port * 10 + static_cast<unsigned long>(c - '0'), 65536ul);
    if (port == 0 || port > 65535) return invalid("the push endpoint has an invalid port", "endpoint");
    if (port != (https ? 443u : 80u)) origin += ":" + std::to_string(port);
  }
  return origin;
}

}  // namespace

Result<std::string> vapid_authorization(std::string_view endpoint_url, std::string_view subject,
                                        const VapidKeys& keys, std::int64_t expires_at_unix) {
  auto aud = endpoint_origin(endpoint_url);
  if (!aud) return aud.error();
  if (!(subject.starts_with("mailto:") || subject.starts_with("https:")) || subject.size() <= 7)
    return Error(Code::invalid_argument, "the VAPID subject must be a mailto: or https: URL", "subject");
  auto key = jwt::Key::from_p256_scalar(keys.private_key);
  if (!key) return Error(Code::invalid_argument, "VAPID private key: " + key.error().message);
  auto public_point = key->p256_public_point();
  auto given_public = jwt::base64url_decode(keys.public_key);
  if (!given_public || *given_public != public_point)
    return Error(Code::invalid_argument, "the VAPID public key does not belong to the private key");

  boost::json::object claims{{"aud", *aud}, {"exp", expires_at_unix}, {"sub", subject}};
  auto token = jwt::sign_es256(R"({"typ":"JWT","alg":"ES256"})", json::dump(claims), *key);
  if (!token) return token.error();
  return "vapid t=" + *token + ", k=" + jwt::base64url_encode(public_point);
}

Result<std::string> encrypt(std::string_view plaintext, std::string_view ua_public_b64url,
                            std::string_view auth_secret_b64url, std::size_t record_size) {
  std::string salt(kSaltBytes, '\0');
  if (RAND_bytes(bytes(salt), static_cast<int>(salt.size())) != 1) return openssl_error("RAND_bytes");
  try {
    auto ephemeral = jwt::Key::generate_p256();
    return encrypt(plaintext, ua_public_b64url, auth_secret_b64url, ephemeral, salt, record_size);
  } catch (const std::runtime_error& e) {
    return Error(Code::internal, e.what());
  }
}

Result<std::string> encrypt(std::string_view plaintext, std::string_view ua_public_b64url,
                            std::string_view auth_secret_b64url, const jwt::Key& ephemeral,
                            std::string_view salt, std::size_t record_size) {
  if (ephemeral.type() != jwt::Key::Type::ec_p256) return invalid("the ephemeral key must be a P-256 key");
  if (salt.size() != kSaltBytes) return invalid("the salt must be 16 bytes");
  if (record_size < kMinRecordSize || record_size > UINT32_MAX)
    return invalid("the record size must be between 18 and 2^32-1");
  if (plaintext.size() > max_plaintext_bytes)
    return Error(Code::payload_too_large,
                 "a Web Push message holds at most " + std::to_string(max_plaintext_bytes) + " bytes, not " +
                     std::to_string(plaintext.size()));
  if (plaintext.size() + 1 + kTagBytes > record_size)
    return Error(Code::payload_too_large, "the message does not fit one record of " +
                                              std::to_string(record_size) + " bytes");

  auto ua_public = jwt::base64url_decode(ua_public_b64url);
  if (!ua_public) return invalid("p256dh: " + ua_public.error().message, "p256dh");
  auto peer = import_ua_public(*ua_public);
  if (!peer) return peer.error();
  auto decoded_auth = jwt::base64url_decode(auth_secret_b64url);
  if (!decoded_auth) return invalid("auth: " + decoded_auth.error().message, "auth");
  Secret auth{std::move(*decoded_auth)};
  if (auth.data.size() != kAuthBytes) return invalid("the auth secret must be 16 bytes", "auth");

  // RFC 8291 section 3.4: the ECDH secret, mixed with the auth secret, becomes the RFC 8188 IKM.
  std::string as_public = ephemeral.p256_public_point();
  auto shared = ecdh(ephemeral, peer->get());
  if (!shared) return shared.error();
  auto ikm = hkdf(auth.data, shared->data, std::string("WebPush: info\0"sv) + *ua_public + as_public, 32);
  if (!ikm) return ikm.error();
  auto cek = hkdf(salt, ikm->data, "Content-Encoding: aes128gcm\0"sv, 16);
  if (!cek) return cek.error();
  auto nonce = hkdf(salt, ikm->data, "Content-Encoding: nonce\0"sv, 12);
  if (!nonce) return nonce.error();

  // One record, so the sequence number is 0 and the nonce is used as derived; 0x02 marks it last.
  Secret record{std::string(plaintext) + '\x02'};
  auto sealed = aes128gcm_seal(cek->data, nonce->data, record.data);
  if (!sealed) return sealed.error();

  auto rs = static_cast<std::uint32_t>(record_size);
  std::string body(salt);
  for (int shift = 24; shift >= 0; shift -= 8) body += static_cast<char>((rs >> shift) & 0xff);
  body += static_cast<char>(kPointBytes);
  body += as_public;
  body += *sealed;
  return body;
}

}  // namespace tourbus::webpush
