// TLS for the TCP listener (server.tls_certificate, server.tls_key): a server context built from
// PEM files. The daemon builds a new one on every reload, so a renewed certificate is picked up by
// new connections without a restart.
#pragma once

#include <memory>
#include <string>

#include <boost/asio/ssl/context.hpp>

#include "core/error.hpp"

namespace tourbus::net {

using TlsContext = std::shared_ptr<boost::asio::ssl::context>;

// TLS 1.2 or later, the certificate chain and its private key (checked to match). Errors name
// the file and OpenSSL's reason.
Result<TlsContext> load_tls(const std::string& certificate, const std::string& key);

}  // namespace tourbus::net
