#include <catch2/catch.hpp>

#include <memory>
#include <optional>
#include <string>

#include <boost/json/parse.hpp>
#include <openssl/bn.h>
#include <openssl/core_names.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/hmac.h>
#include <openssl/obj_mac.h>
#include <openssl/param_build.h>
#include <openssl/rand.h>

#include "channels/webpush_crypto.hpp"
#include "core/jwt.hpp"
#include "core/openssl.hpp"
#include "../es256.hpp"

using namespace tourbus;
using namespace std::string_literals;

namespace {

using namespace tourbus::ossl;

// RFC 8291 section 5 (and Appendix A): the worked example of a push message encryption.
constexpr std::string_view kPlaintext = "When I grow up, I want to be a watermelon";
constexpr std::string_view kAsPrivate = "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw";
constexpr std::string_view kUaPublic =
    "BCVxsr7N_eNgVRqvHtD0zTZsEc6-VV-JvLexhqUzORcxaOzi6-AYWXvTBHm4bjyPjs7Vd8pZGH6SRpkNtoIAiw4";
constexpr std::string_view kUaPrivate = "q1dXpw3UpT5VOmu_cf_v6ih07Aems3njxI-JWgLcM94";
constexpr std::string_view kAuthSecret = "BTBZMqHH6r4Tts7J_aSIgg";
constexpr std::string_view kSalt = "DGv6ra1nlYgDCS1FRnbzlw";
constexpr std::string_view kBody =
    "DGv6ra1nlYgDCS1FRnbzlwAAEABBBP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6Tl"
    "zAC8wEqKK6PBru3jl7A_yl95bQpu6cVPTpK4Mqgkf1CXztLVBSt2Ks3oZwbuwXPXLWyouBWLVWGNWQexSgSxsj_Qulcy4a-fN";

std::string b64d(std::string_view s) { return *jwt::base64url_decode(s); }

std::string random_bytes(std::size_t n) {
  std::string out(n, '\0');
  REQUIRE(RAND_bytes(reinterpret_cast<unsigned char*>(out.data()), static_cast<int>(n)) == 1);
  return out;
}

std::string hmac_sha256(std::string_view key, std::string_view data) {
  unsigned char md[32];
  unsigned len = 0;
  HMAC(EVP_sha256(), key.data(), static_cast<int>(key.size()), reinterpret_cast<const unsigned char*>(data.data()),
       data.size(), md, &len);
  return std::string(reinterpret_cast<char*>(md), len);
}

// ECDH by hand on the curve (x coordinate of d * P), independent of the EVP path the code uses.
std::optional<std::string> ecdh_x(std::string_view scalar, std::string_view point) {
  EcGroupPtr group(EC_GROUP_new_by_curve_name(NID_X9_62_prime256v1));
  BnCtxPtr ctx(BN_CTX_new());
  EcPointPtr p(EC_POINT_new(group.get()));
  EcPointPtr r(EC_POINT_new(group.get()));
  BnPtr d(BN_bin2bn(reinterpret_cast<const unsigned char*>(scalar.data()), static_cast<int>(scalar.size()), nullptr));
  BnPtr x(BN_new());
  if (EC_POINT_oct2point(group.get(), p.get(), reinterpret_cast<const unsigned char*>(point.data()), point.size(),
                         ctx.get()) != 1 ||
      EC_POINT_mul(group.get(), r.get(), nullptr, p.get(), d.get(), ctx.get()) != 1 ||
      EC_POINT_get_affine_coordinates(group.get(), r.get(), x.get(), nullptr, ctx.get()) != 1) {
    ERR_clear_error();
    return std::nullopt;
  }
  std::string out(32, '\0');
  BN_bn2binpad(x.get(), reinterpret_cast<unsigned char*>(out.data()), 32);
  return out;
}

// The user agent's side of RFC 8291 / RFC 8188, for one record: what a browser does on receipt.
std::optional<std::string> ua_decrypt(std::string_view body, std::string_view ua_scalar, std::string_view ua_public,
                                      std::string_view auth) {
  if (body.size() < 21 || static_cast<unsigned char>(body[20]) != 65 || body.size() < 86 + 17) return std::nullopt;
  auto salt = body.substr(0, 16);
  auto as_public = body.substr(21, 65);
  auto ciphertext = body.substr(86, body.size() - 86 - 16);
  auto tag = body.substr(body.size() - 16);
  auto shared = ecdh_x(ua_scalar, as_public);
  if (!shared) return std::nullopt;
  auto prk_key = hmac_sha256(auth, *shared);
  auto ikm = hmac_sha256(prk_key, "WebPush: info\0"s + std::string(ua_public) + std::string(as_public) + "\x01");
  auto prk = hmac_sha256(salt, ikm);
  auto cek = hmac_sha256(prk, "Content-Encoding: aes128gcm\0\x01"s).substr(0, 16);
  auto nonce = hmac_sha256(prk, "Content-Encoding: nonce\0\x01"s).substr(0, 12);

  CipherCtxPtr ctx(EVP_CIPHER_CTX_new());
  std::string plain(ciphertext.size(), '\0');
  int len = 0;
  int final_len = 0;
  auto u = [](std::string_view s) { return reinterpret_cast<const unsigned char*>(s.data()); };
  bool ok = EVP_DecryptInit_ex(ctx.get(), EVP_aes_128_gcm(), nullptr, u(cek), u(nonce)) == 1 &&
            EVP_DecryptUpdate(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()), &len, u(ciphertext),
                              static_cast<int>(ciphertext.size())) == 1 &&
            EVP_CIPHER_CTX_ctrl(ctx.get(), EVP_CTRL_GCM_SET_TAG, 16, const_cast<char*>(tag.data())) == 1 &&
            EVP_DecryptFinal_ex(ctx.get(), reinterpret_cast<unsigned char*>(plain.data()) + len, &final_len) == 1;
  ERR_clear_error();
  if (!ok) return std::nullopt;
  // RFC 8188 padding: the data, a delimiter (0x02 in the last record), then zeros.
  auto end = plain.find_last_not_of('\0');
  if (end == std::string::npos || plain[end] != '\x02') return std::nullopt;
  plain.resize(end);
  return plain;
}

PkeyPtr public_key_from_point(std::string_view point) {
  ParamBldPtr bld(OSSL_PARAM_BLD_new());
  OSSL_PARAM_BLD_push_utf8_string(bld.get(), OSSL_PKEY_PARAM_GROUP_NAME, "prime256v1", 0);
  OSSL_PARAM_BLD_push_octet_string(bld.get(), OSSL_PKEY_PARAM_PUB_KEY, point.data(), point.size());
  ParamPtr params(OSSL_PARAM_BLD_to_param(bld.get()));
  PkeyCtxPtr ctx(EVP_PKEY_CTX_new_from_name(nullptr, "EC", nullptr));
  EVP_PKEY* pkey = nullptr;
  EVP_PKEY_fromdata_init(ctx.get());
  EVP_PKEY_fromdata(ctx.get(), &pkey, EVP_PKEY_PUBLIC_KEY, params.get());
  return PkeyPtr(pkey);
}

bool verify_es256(std::string_view token, std::string_view public_point) {
  return test::verify_es256(token, public_key_from_point(public_point).get());
}

struct Vapid {
  std::string token, k;
  boost::json::object header, claims;
};

// Splits "vapid t=<jwt>, k=<key>" and decodes the JWT's JSON.
Vapid parse_vapid(const std::string& value) {
  REQUIRE(value.starts_with("vapid t="));
  auto comma = value.find(", k=");
  REQUIRE(comma != std::string::npos);
  Vapid v{value.substr(8, comma - 8), value.substr(comma + 4), {}, {}};
  auto dot1 = v.token.find('.');
  auto dot2 = v.token.find('.', dot1 + 1);
  v.header = boost::json::parse(b64d(v.token.substr(0, dot1))).as_object();
  v.claims = boost::json::parse(b64d(v.token.substr(dot1 + 1, dot2 - dot1 - 1))).as_object();
  return v;
}

}  // namespace

TEST_CASE("encryption reproduces the RFC 8291 section 5 example byte for byte") {
  auto as_key = jwt::Key::from_p256_scalar(kAsPrivate);
  REQUIRE(as_key.ok());
  auto body = webpush::encrypt(kPlaintext, kUaPublic, kAuthSecret, *as_key, b64d(kSalt));
  REQUIRE(body.ok());
  CHECK(jwt::base64url_encode(*body) == kBody);
}

TEST_CASE("the test's user-agent decryption opens the RFC 8291 example") {
  auto plain = ua_decrypt(b64d(kBody), b64d(kUaPrivate), b64d(kUaPublic), b64d(kAuthSecret));
  REQUIRE(plain);
  CHECK(*plain == kPlaintext);
}

TEST_CASE("encrypted messages round trip through a user agent and need its auth secret") {
  auto ua = jwt::Key::generate_p256();
  auto ua_public = ua.p256_public_point();
  auto auth = random_bytes(16);
  for (std::size_t n : {std::size_t{0}, std::size_t{1}, std::size_t{100}, webpush::max_plaintext_bytes}) {
    INFO(n);
    auto plaintext = random_bytes(n);
    auto body = webpush::encrypt(plaintext, jwt::base64url_encode(ua_public), jwt::base64url_encode(auth));
    REQUIRE(body.ok());
    CHECK(body->size() == 86 + n + 17);
    CHECK(body->substr(16, 5) == "\x00\x00\x10\x00\x41"s);  // rs = 4096, idlen = 65
    auto plain = ua_decrypt(*body, ua.p256_scalar(), ua_public, auth);
    REQUIRE(plain);
    CHECK(*plain == plaintext);

    auto wrong_auth = auth;
    wrong_auth[0] ^= 1;
    CHECK_FALSE(ua_decrypt(*body, ua.p256_scalar(), ua_public, wrong_auth));
    auto tampered = *body;
    tampered[90] ^= 1;
    CHECK_FALSE(ua_decrypt(tampered, ua.p256_scalar(), ua_public, auth));
  }
  CHECK(webpush::encrypt("x", jwt::base64url_encode(ua_public), jwt::base64url_encode(auth))->size() == 86 + 18);
}

TEST_CASE("every message gets a fresh salt and ephemeral key") {
  auto a = webpush::encrypt(kPlaintext, kUaPublic, kAuthSecret);
  auto b = webpush::encrypt(kPlaintext, kUaPublic, kAuthSecret);
  REQUIRE(a.ok());
  REQUIRE(b.ok());
  CHECK(a->substr(0, 16) != b->substr(0, 16));
  CHECK(a->substr(21, 65) != b->substr(21, 65));
}

TEST_CASE("messages must fit the 4096-byte Web Push body and one record") {
  auto max = webpush::encrypt(std::string(3993, 'x'), kUaPublic, kAuthSecret);
  REQUIRE(max.ok());
  CHECK(max->size() == 4096);
  auto over = webpush::encrypt(std::string(3994, 'x'), kUaPublic, kAuthSecret);
  REQUIRE_FALSE(over.ok());
  CHECK(over.error().code == Code::payload_too_large);
  CHECK_THAT(over.error().message, Catch::Contains("3993"));

  auto small = webpush::encrypt(std::string(83, 'x'), kUaPublic, kAuthSecret, 100);
  REQUIRE(small.ok());
  CHECK(small->substr(16, 4) == "\x00\x00\x00\x64"s);
  CHECK_FALSE(webpush::encrypt(std::string(84, 'x'), kUaPublic, kAuthSecret, 100).ok());
  CHECK_FALSE(webpush::encrypt("", kUaPublic, kAuthSecret, 17).ok());
}

TEST_CASE("bad subscription keys are refused") {
  auto ua_point = b64d(kUaPublic);
  auto off_curve = ua_point;
  off_curve.back() ^= 1;
  auto compressed = ua_point;
  compressed[0] = '\x02';
  for (std::string bad : {std::string("not base64!"), jwt::base64url_encode(ua_point.substr(0, 64)),
                          jwt::base64url_encode(ua_point + "x"), jwt::base64url_encode(off_curve),
                          jwt::base64url_encode(compressed), jwt::base64url_encode(std::string(65, '\0'))}) {
    INFO(bad);
    auto r = webpush::encrypt("hi", bad, kAuthSecret);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
    CHECK_THAT(r.error().message, Catch::Contains("p256dh"));
  }
  for (std::string bad : {std::string("***"), jwt::base64url_encode(std::string(15, 'a')),
                          jwt::base64url_encode(std::string(17, 'a'))}) {
    INFO(bad);
    auto r = webpush::encrypt("hi", kUaPublic, bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
  auto as_key = jwt::Key::from_p256_scalar(kAsPrivate);
  CHECK_FALSE(webpush::encrypt("hi", kUaPublic, kAuthSecret, *as_key, "short").ok());
  CHECK(ERR_peek_error() == 0);
}

TEST_CASE("generated VAPID keys are a 65-byte point and a 32-byte scalar that belong together") {
  auto keys = jwt::generate_p256_pair();
  auto pub = b64d(keys.public_key);
  CHECK(pub.size() == 65);
  CHECK(pub[0] == '\x04');
  CHECK(b64d(keys.private_key).size() == 32);
  CHECK(keys.public_key.find('=') == std::string::npos);
  CHECK(jwt::base64url_encode(jwt::Key::from_p256_scalar(keys.private_key)->p256_public_point()) == keys.public_key);
  CHECK(jwt::generate_p256_pair().private_key != keys.private_key);
}

TEST_CASE("the VAPID header carries a JWT for the endpoint's origin that verifies with k") {
  auto keys = jwt::generate_p256_pair();
  auto header = webpush::vapid_authorization("https://push.example.net:8443/wpush/abc?x=1", "mailto:ops@example.com",
                                             keys, 1700043200);
  REQUIRE(header.ok());
  auto v = parse_vapid(*header);
  CHECK(v.k == keys.public_key);
  CHECK(v.header == boost::json::object{{"typ", "JWT"}, {"alg", "ES256"}});
  CHECK(v.claims.at("aud") == "https://push.example.net:8443");
  CHECK(v.claims.at("exp") == 1700043200);
  CHECK(v.claims.at("sub") == "mailto:ops@example.com");
  CHECK(v.claims.size() == 3);
  CHECK(verify_es256(v.token, b64d(v.k)));
  CHECK_FALSE(verify_es256(v.token, b64d(jwt::generate_p256_pair().public_key)));
}

TEST_CASE("the VAPID audience is the serialized origin") {
  auto keys = jwt::generate_p256_pair();
  auto aud = [&](std::string_view endpoint) {
    auto header = webpush::vapid_authorization(endpoint, "https://tourbus.example.com/", keys, 1);
    REQUIRE(header.ok());
    return std::string(parse_vapid(*header).claims.at("aud").as_string());
  };
  CHECK(aud("https://fcm.googleapis.com/fcm/send/dQw4w9") == "https://fcm.googleapis.com");
  CHECK(aud("https://Updates.Push.Services.Mozilla.com:443/wpush/v2/gAAA") ==
        "https://updates.push.services.mozilla.com");
  CHECK(aud("http://127.0.0.1:8080/push/1") == "http://127.0.0.1:8080");
  CHECK(aud("https://[::1]:9443/p") == "https://[::1]:9443");
}

TEST_CASE("VAPID refuses bad endpoints, subjects and keys") {
  auto keys = jwt::generate_p256_pair();
  for (std::string_view endpoint : {"", "not a url", "/relative/path", "ftp://push.example.net/x", "https:///x",
                                    "https://user@push.example.net/x", "https://push.example.net:99999/x"}) {
    INFO(endpoint);
    auto r = webpush::vapid_authorization(endpoint, "mailto:ops@example.com", keys, 1);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
  for (std::string_view subject : {"", "ops@example.com", "mailto:", "http://example.com"}) {
    INFO(subject);
    CHECK_FALSE(webpush::vapid_authorization("https://push.example.net/x", subject, keys, 1).ok());
  }
  auto other = jwt::generate_p256_pair();
  auto mismatched = webpush::vapid_authorization("https://push.example.net/x", "mailto:a@example.com",
                                                 webpush::VapidKeys{other.public_key, keys.private_key}, 1);
  REQUIRE_FALSE(mismatched.ok());
  CHECK_THAT(mismatched.error().message, Catch::Contains("does not belong"));
  CHECK_FALSE(webpush::vapid_authorization("https://push.example.net/x", "mailto:a@example.com",
                                           webpush::VapidKeys{keys.public_key, "AAAA"}, 1)
                  .ok());
}
