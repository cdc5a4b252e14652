#include <catch2/catch.hpp>

#include <algorithm>
#include <memory>
#include <string>

#include <openssl/bio.h>
#include <openssl/bn.h>
#include <openssl/ec.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/pem.h>
#include <openssl/rand.h>

#include "core/jwt.hpp"
#include "core/openssl.hpp"
#include "../es256.hpp"

using namespace tourbus;

namespace {

using namespace tourbus::ossl;

// Test keys made once with the openssl command line (OpenSSL 3.0):
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out ec_p8.pem
//   openssl pkey -in ec_p8.pem -traditional -out ec_sec1.pem   (the same key as SEC1)
//   openssl pkey -in ec_p8.pem -pubout                          (its public key)
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384
//   openssl genpkey -algorithm ED25519
//   openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -aes-128-cbc -pass pass:secret
//   openssl genpkey -algorithm RSA -pkeyopt rsa_keygen_bits:2048 -out rsa.pem
//   openssl pkey -in rsa.pem -traditional                       (the same key as PKCS#1)
constexpr const char* kEcPkcs8 = R"(-----BEGIN PRIVATE KEY-----
MIGHAgEAMBMGByqGSM49AgEGCCqGSM49AwEHBG0wawIBAQQgSFdMZKLDcgUbGhMf
FH0vLQqYSQwwHdW/DLQgP9gL5HGhRANCAAQUH2gDKQgR1yETTBm8ZTvqPVgrnG3W
lnlJEo0RgxcfWrzQeruQEvh/5g5P71bUHLPimJxKWot/mZME95h/bKCn
-----END PRIVATE KEY-----
)";
constexpr const char* kEcSec1 = R"(-----BEGIN EC PRIVATE KEY-----
MHcCAQEEIEhXTGSiw3IFGxoTHxR9Ly0KmEkMMB3Vvwy0ID/YC+RxoAoGCCqGSM49
AwEHoUQDQgAEFB9oAykIEdchE0wZvGU76j1YK5xt1pZ5SRKNEYMXH1q80Hq7kBL4
f+YOT+9W1Byz4picSlqLf5mTBPeYf2ygpw==
-----END EC PRIVATE KEY-----
)";
constexpr const char* kEcPublic = R"(-----BEGIN PUBLIC KEY-----
MFkwEwYHKoZIzj0CAQYIKoZIzj0DAQcDQgAEFB9oAykIEdchE0wZvGU76j1YK5xt
1pZ5SRKNEYMXH1q80Hq7kBL4f+YOT+9W1Byz4picSlqLf5mTBPeYf2ygpw==
-----END PUBLIC KEY-----
)";
constexpr const char* kEcP384 = R"(-----BEGIN PRIVATE KEY-----
MIG2AgEAMBAGByqGSM49AgEGBSuBBAAiBIGeMIGbAgEBBDDY4TvlMzEZ5cc4bIcr
jAAMyNEgB261FXxvr2ornIKcCQKjJdC5xAwlO/WljoorclGhZANiAASsaTm73JKi
+0puHdT7lIIUI8ZQ3s9PAb0q5OqrriGH5wssLZWFpEBeg5mywteK5nBHUECYqJZn
L9XR69vK10jG4tD7GTNKhnDXJGAKejr/M66We2QxB5qQ8adPsYktuVU=
-----END PRIVATE KEY-----
)";
constexpr const char* kEd25519 = R"(-----BEGIN PRIVATE KEY-----
MC4CAQAwBQYDK2VwBCIEIBH1vyNK/1raOcQVWYLRABCzEz0nSiYFn5GLRG3GGVMn
-----END PRIVATE KEY-----
)";
constexpr const char* kEcEncrypted = R"(-----BEGIN ENCRYPTED PRIVATE KEY-----
MIHsMFcGCSqGSIb3DQEFDTBKMCkGCSqGSIb3DQEFDDAcBAg+zpZl3MniFwICCAAw
DAYIKoZIhvcNAgkFADAdBglghkgBZQMEAQIEEH/rNtU9mlN5gADtN/gSHh0EgZAm
ESu+dwObBtt8Dk7J82VzHR5ZwjWQicWYDFF5Kvoywbyv7GD4mOFpzx7i2GGn93GU
UMYrP62TOubPgF7ENc2XbRJLqmPw66/8moBKTMstsBDc2sPKCgQPMuSp95iNiqrY
qcxOv04DD/VxJxEXgLZG9q/oftMQT5hLxvnYZEUU/0Y3ojCDjrcO1qtNWeM4+nw=
-----END ENCRYPTED PRIVATE KEY-----
)";
constexpr const char* kRsaPkcs8 = R"(-----BEGIN PRIVATE KEY-----
MIIEvwIBADANBgkqhkiG9w0BAQEFAASCBKkwggSlAgEAAoIBAQCtsVy8MbSMv9qp
dPWanjxDJCGriagf/lczAorE1o7+e9MnvGyniQ3Pu56whOI7Qd810xgj36skju/w
3JUFVbAcW/htIJiNo9xPeJkkF4+EcFOxSH4dmApC6vgiFqYPi8fVV0MBOo+OA0q8
riv6gYMvR4Ckm/P2AMakjQ4mbd2qS5XQ3OguIoDZeZr428FcDKCTaUYX1jYoxfSS
z00hyLUfFeqCGQZb7+jCAQi2JpOxREbLo5eYSqfgEDH+iKCNhrsQHepukaegEI4p
hPjzG3phFqzfRoPyfNueb05t4SvMSYTUNKuClejK6TXPoB09kbKDzD/UBQqGWmFp
K6HZDbzfAgMBAAECggEAOU4I4HYtsToi9EGIPmjyTNyA101lUJjjQAsYqXR4XPGR
asy5tFR9YAnwgyB0W0SSVfm9PyiuGDOoafj8mXP51IFrZuWYLzLensGVFNlJGlLM
6fKW2UCuMgG/t89tHjfpyDMwAhnF/v6LC9ES5WURWOnoQWbKiGEdKHD5OCiLN4GJ
WRA1iXMJWQNIoAmAmZQ8+2FenRcQJGuRDvhheeg9zD5bN9Mq0U61tdYey7qgg7RV
o8vgsX3He2AheZC42sI7kVrSkFvVGkrPfgtVdGiBpIoQ0QKEyJdSIPaZby58r/Ii
4Iss2n0/F35+7DdTYcX2TO28H2sy6ZvbguyrfjHwoQKBgQDUPg1SGBCKuJFnnRV4
tDN00P2TYlXHJIXzudcfEu6BMsWBWOzzAm0Ago9vS2l0MdJ2D0cQx3fcUNBckcvs
shrLeiOVxG0RgrH3ypNLF9JeGjtN8sJMC4HfPVa1E4P6iHKhnGyqxNzeN5zbkXG5
WmhJV8oa/ys/FwdoNFpVVYX9qQKBgQDRgLOE0+0hV9wg2V6bZythO4ORMmpTda29
nWX0BBTcU5pGFtbwmyghnfNzXZp6F41czIpRMF1td4bo5JnRTAdjdHd0YZuPGqW5
MYRPHhweXzP2uJJDR20W2YWXafI1qg3u0BZ141MnK+sGREOQgqbLGaHx6Bw8VF4d
ACbrWKErRwKBgQCafJxHkBqiTpwQFkfltwzpT6HzoJUdQhl6gV/zT11pj2Ixt1+p
tq9Ourna4cJdgFJX+uDYdshpBi3T44/StwVH7JxwTCyznTUbT0mNVEaclm1qXHRO
0+Vxb/1oCk97kcwWlHyIhIjb+xDixWhI6WSVViBXLDr3TjTnBYxnJrxEGQKBgQCr
U9/7YUCMQwivCHR5C/8KzhvDMwKG7DbAWSbWTjwtDmWcqfLu40QHcd902fiJnhcp
68+1o6LT8aqvbLtp0Q49xDIoR+ZqOjWK5La56Pq/z8V0H+7k/FV3GT5J3AeK4V3x
jdTAZb5Ly3uxLUQ/usjiUT0B0nq8z5YDi2tIjbuH4wKBgQCHcRVJRbIAKUzNGXQE
cSJd/JrU7Ka1YMhDjrucgE9g85BRGYmUaSFv7eOOPYoCGjGqAq6bSPkxmHAoooVB
ICwJZxY5yvXbfie6bwTNtSxC+YBqE3xfwEJmfY9ra4DD9XLn1gH6OErKanFhWSKL
Q96STcRkMmfOpyuPC1X7wZcicw==
-----END PRIVATE KEY-----
)";
constexpr const char* kRsaPkcs1 = R"(-----BEGIN RSA PRIVATE KEY-----
MIIEpQIBAAKCAQEArbFcvDG0jL/aqXT1mp48QyQhq4moH/5XMwKKxNaO/nvTJ7xs
p4kNz7uesITiO0HfNdMYI9+rJI7v8NyVBVWwHFv4bSCYjaPcT3iZJBePhHBTsUh+
HZgKQur4IhamD4vH1VdDATqPjgNKvK4r+oGDL0eApJvz9gDGpI0OJm3dqkuV0Nzo
LiKA2Xma+NvBXAygk2lGF9Y2KMX0ks9NIci1HxXqghkGW+/owgEItiaTsURGy6OX
mEqn4BAx/oigjYa7EB3qbpGnoBCOKYT48xt6YRas30aD8nzbnm9ObeErzEmE1DSr
gpXoyuk1z6AdPZGyg8w/1AUKhlphaSuh2Q283wIDAQABAoIBADlOCOB2LbE6IvRB
iD5o8kzcgNdNZVCY40ALGKl0eFzxkWrMubRUfWAJ8IMgdFtEklX5vT8orhgzqGn4
/Jlz+dSBa2blmC8y3p7BlRTZSRpSzOnyltlArjIBv7fPbR436cgzMAIZxf7+iwvR
EuVlEVjp6EFmyohhHShw+TgoizeBiVkQNYlzCVkDSKAJgJmUPPthXp0XECRrkQ74
YXnoPcw+WzfTKtFOtbXWHsu6oIO0VaPL4LF9x3tgIXmQuNrCO5Fa0pBb1RpKz34L
VXRogaSKENEChMiXUiD2mW8ufK/yIuCLLNp9Pxd+fuw3U2HF9kztvB9rMumb24Ls
q34x8KECgYEA1D4NUhgQiriRZ50VeLQzdND9k2JVxySF87nXHxLugTLFgVjs8wJt
AIKPb0tpdDHSdg9HEMd33FDQXJHL7LIay3ojlcRtEYKx98qTSxfSXho7TfLCTAuB
3z1WtROD+ohyoZxsqsTc3jec25FxuVpoSVfKGv8rPxcHaDRaVVWF/akCgYEA0YCz
hNPtIVfcINlem2crYTuDkTJqU3WtvZ1l9AQU3FOaRhbW8JsoIZ3zc12aeheNXMyK
UTBdbXeG6OSZ0UwHY3R3dGGbjxqluTGETx4cHl8z9riSQ0dtFtmFl2nyNaoN7tAW
deNTJyvrBkRDkIKmyxmh8egcPFReHQAm61ihK0cCgYEAmnycR5Aaok6cEBZH5bcM
6U+h86CVHUIZeoFf809daY9iMbdfqbavTrq52uHCXYBSV/rg2HbIaQYt0+OP0rcF
R+yccEwss501G09JjVRGnJZtalx0TtPlcW/9aApPe5HMFpR8iISI2/sQ4sVoSOlk
lVYgVyw690405wWMZya8RBkCgYEAq1Pf+2FAjEMIrwh0eQv/Cs4bwzMChuw2wFkm
1k48LQ5lnKny7uNEB3HfdNn4iZ4XKevPtaOi0/Gqr2y7adEOPcQyKEfmajo1iuS2
uej6v8/FdB/u5PxVdxk+SdwHiuFd8Y3UwGW+S8t7sS1EP7rI4lE9AdJ6vM+WA4tr
SI27h+MCgYEAh3EVSUWyAClMzRl0BHEiXfya1OymtWDIQ467nIBPYPOQURmJlGkh
b+3jjj2KAhoxqgKum0j5MZhwKKKFQSAsCWcWOcr1234num8EzbUsQvmAahN8X8BC
Zn2Pa2uAw/Vy59YB+jhKympxYVkii0Pekk3EZDJnzqcrjwtV+8GXInM=
-----END RSA PRIVATE KEY-----
)";

// RS256 is deterministic. The expected token was made with
//   b64url() { openssl base64 -A | tr '+/' '-_' | tr -d '='; }
//   si="$(printf '%s' "$kRsHeader" | b64url).$(printf '%s' "$kRsClaims" | b64url)"
//   printf '%s' "$si" | openssl dgst -sha256 -sign rsa.pem | b64url
constexpr std::string_view kRsHeader = R"({"alg":"RS256","typ":"JWT"})";
constexpr std::string_view kRsClaims =
    R"({"iss":"tourbus-test@example.iam.gserviceaccount.com",)"
    R"("scope":"https://www.googleapis.com/auth/firebase.messaging",)"
    R"("aud":"https://oauth2.googleapis.com/token","iat":1700000000,"exp":1700003600})";
constexpr std::string_view kRsSignature =
    "EAKmr0WuS40zZZuCdACDnOmFY8NSdld8QBN31LHFgMU3KxON8oixKHeihnJT_DQ33n9SZlqVY0EL_GGfGSGyKRrhWaNcz_tY"
    "ws3pL-SRvtBgxfUJBV0MYQLMrS5dLmVgg2lzfWww9FRMfHSE8GTbCRkqqXz4Mk3WXUX59TrLdkgreOnA69fybptdY1vkXhUE"
    "y0zVKdoBSbBUJNmcQUCk_jh0bVtdCM1z9nC1xlhrkac9GN_vxG1MUwiusFQEZTvY74GbfEaZ3lECM-QatPwq-D97vIj0pGs_"
    "_wbbQVQaHC61eE1NYqS9l5ccpvNMSRh2l5T_nO4y4BxnV6ivSLQeZw";


PkeyPtr public_key_from_pem(std::string_view pem) {
  BioPtr bio(BIO_new_mem_buf(pem.data(), static_cast<int>(pem.size())));
  return PkeyPtr(PEM_read_bio_PUBKEY(bio.get(), nullptr, nullptr, nullptr));
}

using test::verify_es256;

std::string decoded_segment(const std::string& token, int index) {
  std::size_t begin = 0;
  for (int i = 0; i < index; ++i) begin = token.find('.', begin) + 1;
  auto end = token.find('.', begin);
  return *jwt::base64url_decode(token.substr(begin, end - begin));
}

std::string encode_hex(std::string_view hex) {
  std::string out;
  for (std::size_t i = 0; i < hex.size(); i += 2)
    out += static_cast<char>(std::stoi(std::string(hex.substr(i, 2)), nullptr, 16));
  return jwt::base64url_encode(out);
}

}  // namespace

TEST_CASE("base64url encodes the RFC 4648 test vectors without padding") {
  CHECK(jwt::base64url_encode("") == "");
  CHECK(jwt::base64url_encode("f") == "Zg");
  CHECK(jwt::base64url_encode("fo") == "Zm8");
  CHECK(jwt::base64url_encode("foo") == "Zm9v");
  CHECK(jwt::base64url_encode("foob") == "Zm9vYg");
  CHECK(jwt::base64url_encode("fooba") == "Zm9vYmE");
  CHECK(jwt::base64url_encode("foobar") == "Zm9vYmFy");
  CHECK(jwt::base64url_encode("\xfb\xff\xbf") == "-_-_");  // "+/+/" in the standard alphabet
}

TEST_CASE("base64url decodes with or without padding and round trips any bytes") {
  CHECK(*jwt::base64url_decode("Zm9vYmE") == "fooba");
  CHECK(*jwt::base64url_decode("Zm9vYmE=") == "fooba");
  CHECK(*jwt::base64url_decode("Zg") == "f");
  CHECK(*jwt::base64url_decode("Zg==") == "f");
  CHECK(*jwt::base64url_decode("") == "");
  CHECK(*jwt::base64url_decode("-_-_") == "\xfb\xff\xbf");
  std::string all;
  for (int i = 0; i < 256; ++i) all += static_cast<char>(i);
  for (std::size_t n = 0; n <= all.size(); ++n) {
    auto chunk = all.substr(all.size() - n);
    REQUIRE(*jwt::base64url_decode(jwt::base64url_encode(chunk)) == chunk);
  }
}

TEST_CASE("base64url refuses malformed input") {
  for (std::string_view bad : {"Zm9v+g", "Zm9v/g", "Zm9v Yg", "Zm9v\nYg", "Z", "Zm9vY", "Zg=", "Zg===", "Z=g=", "=",
                               "Zh", "Zm9=", "Zm8=Zm8="}) {
    INFO(bad);
    auto r = jwt::base64url_decode(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
  CHECK_FALSE(jwt::base64url_decode(std::string_view("Zm\0v", 4)).ok());
}

TEST_CASE("ES256 with a PKCS#8 key gives a JOSE signature that verifies") {
  auto key = jwt::Key::from_pem(kEcPkcs8);
  REQUIRE(key.ok());
  CHECK(key->type() == jwt::Key::Type::ec_p256);
  std::string header = R"({"alg":"ES256","kid":"ABC123DEFG"})";
  std::string claims = R"({"iss":"DEF123GHIJ","iat":1700000000})";
  auto token = jwt::sign_es256(header, claims, *key);
  REQUIRE(token.ok());
  CHECK(std::count(token->begin(), token->end(), '.') == 2);
  CHECK(decoded_segment(*token, 0) == header);
  CHECK(decoded_segment(*token, 1) == claims);
  CHECK(decoded_segment(*token, 2).size() == 64);  // R||S, not DER

  auto public_key = public_key_from_pem(kEcPublic);
  REQUIRE(public_key);
  CHECK(verify_es256(*token, public_key.get()));

  std::string tampered_claims = *token;
  auto first_dot = tampered_claims.find('.');
  tampered_claims.replace(first_dot + 1, tampered_claims.find('.', first_dot + 1) - first_dot - 1,
                          jwt::base64url_encode(R"({"iss":"DEF123GHIJ","iat":1700000001})"));
  CHECK_FALSE(verify_es256(tampered_claims, public_key.get()));
  std::string tampered_sig = *token;
  tampered_sig.back() = tampered_sig.back() == 'A' ? 'Q' : 'A';
  CHECK_FALSE(verify_es256(tampered_sig, public_key.get()));
}

TEST_CASE("SEC1 EC PRIVATE KEY files load the same key as PKCS#8") {
  auto pkcs8 = jwt::Key::from_pem(kEcPkcs8);
  auto sec1 = jwt::Key::from_pem(kEcSec1);
  REQUIRE(pkcs8.ok());
  REQUIRE(sec1.ok());
  CHECK(sec1->p256_public_point() == pkcs8->p256_public_point());
  CHECK(sec1->p256_scalar() == pkcs8->p256_scalar());
  auto token = jwt::sign_es256("{}", "{}", *sec1);
  REQUIRE(token.ok());
  CHECK(verify_es256(*token, public_key_from_pem(kEcPublic).get()));
}

TEST_CASE("P-256 keys load from a base64url scalar and derive the public point") {
  // RFC 8291 section 5: the application server key pair of the example.
  auto key = jwt::Key::from_p256_scalar("yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
  REQUIRE(key.ok());
  CHECK(jwt::base64url_encode(key->p256_public_point()) ==
        "BP4z9KsN6nGRTbVYI_c7VJSPQTBtkgcy27mlmlMoZIIgDll6e3vCYLocInmYWAmS6TlzAC8wEqKK6PBru3jl7A8");
  CHECK(jwt::base64url_encode(key->p256_scalar()) == "yfWPiYE-n46HLnH0KqZOF1fJJU3MYrct3AELtAQ-oRw");
  auto token = jwt::sign_es256("{}", R"({"a":1})", *key);
  REQUIRE(token.ok());
  CHECK(verify_es256(*token, key->native()));

  // A scalar with leading zero bytes keeps its 32-byte width.
  std::string small(31, '\0');
  small += '\x07';
  auto seven = jwt::Key::from_p256_scalar(jwt::base64url_encode(small));
  REQUIRE(seven.ok());
  CHECK(seven->p256_scalar() == small);
}

TEST_CASE("bad P-256 scalars are refused") {
  std::string order = "FFFFFFFF00000000FFFFFFFFFFFFFFFFBCE6FAADA7179E84F3B9CAC2FC632551";
  for (std::string bad : {std::string("not base64!"), jwt::base64url_encode(std::string(31, '\x01')),
                          jwt::base64url_encode(std::string(33, '\x01')), jwt::base64url_encode(std::string(32, '\0')),
                          encode_hex(order), encode_hex(std::string(64, 'F'))}) {
    INFO(bad);
    auto r = jwt::Key::from_p256_scalar(bad);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
  }
  auto below_order = encode_hex(order.substr(0, 63) + "0");
  CHECK(jwt::Key::from_p256_scalar(below_order).ok());
}

TEST_CASE("generated P-256 keys are fresh and sign") {
  auto a = jwt::Key::generate_p256();
  auto b = jwt::Key::generate_p256();
  CHECK(a.p256_public_point().size() == 65);
  CHECK(a.p256_public_point()[0] == '\x04');
  CHECK(a.p256_scalar().size() == 32);
  CHECK(a.p256_scalar() != b.p256_scalar());
  auto token = jwt::sign_es256("{}", "{}", a);
  REQUIRE(token.ok());
  CHECK(verify_es256(*token, a.native()));
  CHECK_FALSE(verify_es256(*token, b.native()));
  auto again = jwt::Key::from_p256_scalar(jwt::base64url_encode(a.p256_scalar()));
  REQUIRE(again.ok());
  CHECK(again->p256_public_point() == a.p256_public_point());
}

TEST_CASE("RS256 matches the signature made by the openssl command line") {
  for (const char* pem : {kRsaPkcs8, kRsaPkcs1}) {
    auto key = jwt::Key::from_pem(pem);
    REQUIRE(key.ok());
    CHECK(key->type() == jwt::Key::Type::rsa);
    CHECK(key->p256_public_point().empty());
    auto token = jwt::sign_rs256(kRsHeader, kRsClaims, *key);
    REQUIRE(token.ok());
    CHECK(*token == jwt::base64url_encode(kRsHeader) + "." + jwt::base64url_encode(kRsClaims) + "." +
                        std::string(kRsSignature));
  }
}

TEST_CASE("keys of the wrong kind are refused with a reason") {
  auto refused = [](std::string_view pem) {
    auto r = jwt::Key::from_pem(pem);
    REQUIRE_FALSE(r.ok());
    CHECK(r.error().code == Code::invalid_argument);
    return r.error().message;
  };
  CHECK_THAT(refused(kEcP384), Catch::Contains("not a P-256 key"));
  CHECK_THAT(refused(kEd25519), Catch::Contains("not an EC P-256 or RSA private key"));
  CHECK_THAT(refused(kEcEncrypted), Catch::Contains("encrypted"));
  CHECK_THAT(refused(kEcPublic), Catch::Contains("not a PEM private key"));
  CHECK_THAT(refused("hello"), Catch::Contains("not a PEM private key"));
  CHECK_THAT(refused(""), Catch::Contains("not a PEM private key"));
  CHECK_THAT(refused("-----BEGIN PRIVATE KEY-----\nAAAA\n-----END PRIVATE KEY-----\n"),
             Catch::Contains("not a PEM private key"));
  CHECK(ERR_peek_error() == 0);  // no stale OpenSSL errors left behind

  auto ec = jwt::Key::from_pem(kEcPkcs8);
  auto rsa = jwt::Key::from_pem(kRsaPkcs8);
  REQUIRE(ec.ok());
  REQUIRE(rsa.ok());
  CHECK(jwt::sign_rs256("{}", "{}", *ec).error().code == Code::invalid_argument);
  CHECK(jwt::sign_es256("{}", "{}", *rsa).error().code == Code::invalid_argument);
}
