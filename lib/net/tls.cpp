#include "net/tls.hpp"

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>

namespace tourbus::net {

namespace ssl = boost::asio::ssl;

Result<TlsContext> load_tls(const std::string& certificate, const std::string& key) {
  auto mismatch = [&] {
    return Error(Code::invalid_argument, "server.tls_key: " + key + " is not the key of the certificate in " + certificate,
                 "server.tls_key");
  };
  auto ctx = std::make_shared<ssl::context>(ssl::context::tls_server);
  ctx->set_options(ssl::context::default_workarounds | ssl::context::no_sslv2 | ssl::context::no_sslv3 |
                   ssl::context::no_tlsv1 | ssl::context::no_tlsv1_1 | ssl::context::single_dh_use);
  boost::system::error_code ec;
  ctx->use_certificate_chain_file(certificate, ec);
  if (ec)
    return Error(Code::invalid_argument,
                 "server.tls_certificate: cannot use " + certificate + " (" + ec.message() + "); expected a PEM certificate chain",
                 "server.tls_certificate");
  ctx->use_private_key_file(key, ssl::context::pem, ec);
  if (ec && ERR_GET_REASON(static_cast<unsigned long>(ec.value())) == X509_R_KEY_VALUES_MISMATCH)
    return mismatch();
  if (ec)
    return Error(Code::invalid_argument, "server.tls_key: cannot use " + key + " (" + ec.message() + "); expected a PEM private key",
                 "server.tls_key");
  if (SSL_CTX_check_private_key(ctx->native_handle()) != 1) {
    ERR_clear_error();
    return mismatch();
  }
  return ctx;
}

}  // namespace tourbus::net
