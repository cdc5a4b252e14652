// Test helper: verifies a JOSE ES256 token the way a relying party would (the R||S signature back
// to DER, then EVP), independently of the code under test.
#pragma once

#include <string_view>

#include <openssl/ecdsa.h>
#include <openssl/err.h>
#include <openssl/evp.h>

#include "core/jwt.hpp"
#include "core/openssl.hpp"

namespace tourbus::test {

inline bool verify_es256(std::string_view token, EVP_PKEY* public_key) {
  auto dot = token.rfind('.');
  auto sig = jwt::base64url_decode(token.substr(dot + 1));
  if (!sig || sig->size() != 64 || !public_key) return false;
  const auto* rs = reinterpret_cast<const unsigned char*>(sig->data());
  ossl::EcdsaSigPtr ecdsa(ECDSA_SIG_new());
  ECDSA_SIG_set0(ecdsa.get(), BN_bin2bn(rs, 32, nullptr), BN_bin2bn(rs + 32, 32, nullptr));
  unsigned char* der = nullptr;
  int der_len = i2d_ECDSA_SIG(ecdsa.get(), &der);
  ossl::MdCtxPtr ctx(EVP_MD_CTX_new());
  bool ok = EVP_DigestVerifyInit_ex(ctx.get(), nullptr, "SHA256", nullptr, nullptr, public_key, nullptr) == 1 &&
            EVP_DigestVerify(ctx.get(), der, static_cast<std::size_t>(der_len),
                             reinterpret_cast<const unsigned char*>(token.data()), dot) == 1;
  OPENSSL_free(der);
  ERR_clear_error();
  return ok;
}

}  // namespace tourbus::test
