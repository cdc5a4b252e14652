// JWS signing over OpenSSL 3 EVP; only non-deprecated APIs, every OpenSSL object owned by RAII.
#include "core/jwt.hpp"

#include <array>
#include <climits>
#include <stdexcept>

#include "core/openssl.hpp"
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/crypto.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/pem.h>

namespace tourbus::jwt {
namespace {

using namespace tourbus::ossl;


constexpr std::size_t kP256Bytes = 32;

Error invalid(std::string message) { return Error(Code::invalid_argument, std::move(message)); }

Error openssl_error(std::string_view what) { return ossl::last_error(what); }

constexpr std::string_view kAlphabet = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

constexpr std::array<signed char, 256> kDecode = [] {
  std::array<signed char, 256> t{};
  t.fill(-1);
  for (std::size_t i = 0; i < kAlphabet.size(); ++i)
    t[static_cast<unsigned char>(kAlphabet[i])] = static_cast<signed char>(i);
  return t;
}();

std::string bn_to_bytes(const BIGNUM* bn, std::size_t width) {
  std::string out(width, '\0');
  if (BN_bn2binpad(bn, reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(width)) < 0)
    return {};
  return out;
}

// PEM_read_bio_PrivateKey would otherwise prompt on the terminal for a passphrase.
int refuse_passphrase(char*, int, int, void* asked) {
  *static_cast<bool*>(asked) = true;
  return -1;
}

bool is_p256(EVP_PKEY* pkey) {
  std::array<char, 64> group{};
  std::size_t len = 0;
  if (EVP_PKEY_get_utf8_string_param(pkey, OSSL_PKEY_PARAM_GROUP_NAME, group.data(), group.size(), &len) != 1) {
    ERR_clear_error();
    return false;
  }
  std::string_view name(group.data(), len);
  return name == SN_X9_62_prime256v1 || name == "P-256";
}

// ECDSA signatures come out of OpenSSL as DER SEQUENCE { r, s }; JOSE wants fixed-width r || s.
Result<std::string> der_to_jose(const std::string& der) {
  const auto* p = reinterpret_cast<const unsigned char*>(der.data());
  EcdsaSigPtr sig(d2i_ECDSA_SIG(nullptr, &p, static_cast<long>(der.size())));
  if (!sig) return openssl_error("d2i_ECDSA_SIG");
  const BIGNUM* r = nullptr;
  const BIGNUM* s = nullptr;
  ECDSA_SIG_get0(sig.get(), &r, &s);
  std::string out = bn_to_bytes(r, kP256Bytes) + bn_to_bytes(s, kP256Bytes);
  if (out.size() != 2 * kP256Bytes) return openssl_error("BN_bn2binpad");
  return out;
}

Result<std::string> sign(std::string_view header_json, std::string_view claims_json, const Key& key) {
  std::string input = base64url_encode(header_json) + "." + base64url_encode(claims_json);
  MdCtxPtr ctx(EVP_MD_CTX_new());
  if (!ctx || EVP_DigestSignInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, key.native(), nullptr) != 1)
    return openssl_error("EVP_DigestSignInit_ex");
  const auto* data = reinterpret_cast<const unsigned char*>(input.data());
  std::size_t len = 0;
  if (EVP_DigestSign(ctx.get(), nullptr, &len, data, input.size()) != 1) return openssl_error("EVP_DigestSign");
  std::string sig(len, '\0');
  if (EVP_DigestSign(ctx.get(), reinterpret_cast<unsigned char*>(sig.data()), &len, data, input.size()) != 1)
    return openssl_error("EVP_DigestSign");
  sig.resize(len);
  if (key.type() == Key::Type::ec_p256) {
    auto jose = der_to_jose(sig);
    if (!jose) return jose.error();
    sig = std::move(*jose);
  }
  return input + "." + base64url_encode(sig);
}

}  // namespace

std::string base64url_encode(std::string_view bytes) {
  std::string out;
  out.reserve((bytes.size() * 4 + 2) / 3);
  unsigned acc = 0;
  int bits = 0;
  for (unsigned char b : bytes) {
    acc = (acc << 8) | b;
    bits += 8;
    while (bits >= 6) {
      bits -= 6;
      out += kAlphabet[(acc >> bits) & 0x3f];
    }
  }
  if (bits > 0) out += kAlphabet[(acc << (6 - bits)) & 0x3f];
  return out;
}

Result<std::string> base64url_decode(std::string_view text) {
  if (auto pad = text.find('='); pad != std::string_view::npos) {
    // Padding is optional, but when present it must be the correct amount at the very end.
    std::string_view tail = text.substr(pad);
    if (text.size() % 4 != 0 || tail.size() > 2 || tail.find_first_not_of('=') != std::string_view::npos)
      return invalid("not valid base64url: misplaced '=' padding");
    text = text.substr(0, pad);
  }
  if (text.size() % 4 == 1) return invalid("not valid base64url: impossible length");
  std::string out;
  out.reserve(text.size() * 3 / 4);
  unsigned acc = 0;
  int bits = 0;
  for (char c : text) {
    int v = kDecode[static_cast<unsigned char>(c)];
    if (v < 0) return invalid("not valid base64url: unexpected character");
    acc = (acc << 6) | static_cast<unsigned>(v);
    bits += 6;
    if (bits >= 8) {
      bits -= 8;
      out += static_cast<char>((acc >> bits) & 0xff);
    }
  }
  if ((acc & ((1u << bits) - 1)) != 0) return invalid("not valid base64url: non-zero trailing bits");
  return out;
}

Result<Key> Key::from_pem(std::string_view pem) {
  if (pem.size() > INT_MAX) return invalid("not a PEM private key");
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  if (!bio) return openssl_error("BIO_new_mem_buf");
  bool asked_passphrase = false;
  PkeyPtr pkey(PEM_read_bio_PrivateKey(bio.get(), nullptr, refuse_passphrase, &asked_passphrase));
  ERR_clear_error();
  if (!pkey) {
    if (asked_passphrase || pem.find("-----BEGIN ENCRYPTED PRIVATE KEY-----") != std::string_view::npos)
      return invalid("the PEM private key is encrypted; store it without a passphrase");
    return invalid("not a PEM private key");
  }
  if (EVP_PKEY_is_a(pkey.get(), "EC")) {
    if (!is_p256(pkey.get())) return invalid("not a P-256 key: ES256 needs an EC key on the P-256 curve");
    return Key(std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free), Type::ec_p256);
  }
  if (EVP_PKEY_is_a(pkey.get(), "RSA")) {
    if (EVP_PKEY_get_bits(pkey.get()) < 2048) return invalid("RSA key shorter than 2048 bits");
    return Key(std::shared_ptr<EVP_PKEY>(pkey.release(), EVP_PKEY_free), Type::rsa);
  }
  return invalid("not an EC P-256 or RSA private key");
}

Result<Key> Key::from_p256_scalar(std::string_view d_base64url) {
  auto raw = base64url_decode(d_base64url);
  if (!raw) return invalid("P-256 private key: " + raw.error().message);
  std::string& d_bytes = *raw;
  if (d_bytes.size() != kP256Bytes) {
    OPENSSL_cleanse(d_bytes.data(), d_bytes.size());
    return invalid("not a P-256 private key: expected 32 bytes, got " + std::to_string(d_bytes.size()));
  }
  BnPtr d(BN_secure_new());
  bool converted = d && BN_bin2bn(reinterpret_cast<const unsigned char*>(d_bytes.data()), kP256Bytes, d.get());
  OPENSSL_cleanse(d_bytes.data(), d_bytes.size());
  if (!converted) return openssl_error("BN_bin2bn");

  // OpenSSL does not derive the public key on import, so compute Q = d*G here.
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnCtxPtr bn_ctx(BN_CTX_secure_new());
  if (!group || !bn_ctx) return openssl_error("EC_GROUP_new_by_curve_name");
  if (BN_is_zero(d.get()) || BN_cmp(d.get(), EC_GROUP_get0_order(group.get())) >= 0)
    return invalid("not a P-256 private key: the scalar is out of range");
  EcPointPtr q(EC_POINT_new(group.get()));
  std::array<unsigned char, 1 + 2 * kP256Bytes> q_bytes{};
  if (!q || EC_POINT_mul(group.get(), q.get(), d.get(), nullptr, nullptr, bn_ctx.get()) != 1 ||
      EC_POINT_point2oct(group.get(), q.get(), POINT_CONVERSION_UNCOMPRESSED, q_bytes.data(), q_bytes.size(),
                         bn_ctx.get()) != q_bytes.size())
    return openssl_error("EC_POINT_mul");

  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  if (!bld || OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, SN_X9_62_prime256v1, 0) != 1 ||
      OSSL_PARAM_BLD_push_BN(bld.get(), OSSL_PKEY_PARAM_PRIV_KEY, d.get()) != 1 ||
      OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, q_bytes.data(), q_bytes.size()) != 1)
    return openssl_error("OSSL_PARAM_BLD_push");
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* out = nullptr;
  if (!params || !ctx || EVP_PKEY_fromdata_init(ctx.get()) != 1 ||
      EVP_PKEY_fromdata(ctx.get(), &out, EVP_PKEY_KEYPAIR, params.get()) != 1)
    return openssl_error("EVP_PKEY_fromdata");
  return Key(std::shared_ptr<EVP_PKEY>(out, EVP_PKEY_free), Type::ec_p256);
}

P256KeyPair generate_p256_pair() {
  auto key = Key::generate_p256();
  auto d = key.p256_scalar();
  P256KeyPair pair{base64url_encode(key.p256_public_point()), base64url_encode(d)};
  OPENSSL_cleanse(d.data(), d.size());
  return pair;
}

Key Key::generate_p256() {
  EVP_PKEY* pkey = EVP_PKEY_Q_keygen(nullptr, nullptr, "EC", SN_X9_62_prime256v1);
  if (!pkey) throw std::runtime_error(openssl_error("EVP_PKEY_Q_keygen").message);
  return Key(std::shared_ptr<EVP_PKEY>(pkey, EVP_PKEY_free), Type::ec_p256);
}

std::string Key::p256_public_point() const {
  if (type_ != Type::ec_p256) return {};
  BIGNUM* x = nullptr;
  BIGNUM* y = nullptr;
  int got_x = EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_X, &x);
  BnPtr x_owned(x);
  int got_y = EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_EC_PUB_Y, &y);
  BnPtr y_owned(y);
  if (got_x != 1 || got_y != 1) throw std::runtime_error(openssl_error("EVP_PKEY_get_bn_param").message);
  return '\x04' + bn_to_bytes(x, kP256Bytes) + bn_to_bytes(y, kP256Bytes);
}

std::string Key::p256_scalar() const {
  if (type_ != Type::ec_p256) return {};
  BIGNUM* d = nullptr;
  if (EVP_PKEY_get_bn_param(pkey_.get(), OSSL_PKEY_PARAM_PRIV_KEY, &d) != 1)
    throw std::runtime_error(openssl_error("EVP_PKEY_get_bn_param").message);
  BnPtr d_owned(d);
  return bn_to_bytes(d, kP256Bytes);
}

Result<std::string> sign_es256(std::string_view header_json, std::string_view claims_json, const Key& key) {
  if (key.type() != Key::Type::ec_p256) return invalid("ES256 needs an EC P-256 key");
  return sign(header_json, claims_json, key);
}

Result<std::string> sign_rs256(std::string_view header_json, std::string_view claims_json, const Key& key) {
  if (key.type() != Key::Type::rsa) return invalid("RS256 needs an RSA key");
  return sign(header_json, claims_json, key);
}

}  // namespace tourbus::jwt
