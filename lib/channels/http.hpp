// Blocking HTTP requests through libcurl for the channels, one or several at once, and how their
// answers map to outcomes.
#pragma once

#include <cstdint>
#include <optional>
#include <string>
#include <vector>

#include "core/config.hpp"
#include "notify/model.hpp"

namespace tourbus::channels {

struct HttpRequest {
  std::string method = "POST";
  std::string url;
  std::vector<std::string> headers;  // "Name: value"
  std::string body;
  std::string basic_user, basic_password;  // HTTP Basic auth when the user is set
  bool http2 = false;                      // require HTTP/2 (APNs)
  std::int64_t timeout_ms = 0;             // 0: notify.timeout_seconds
};

struct HttpResponse {
  long status = 0;             // 0: no HTTP answer (curl_error says why)
  std::string curl_error;
  std::string body;            // at most 64 KiB kept
  std::optional<std::int64_t> retry_after_ms;
  std::int64_t duration_ms = 0;
};

HttpResponse perform(const HttpRequest& req, const config::Config& c);
// Several requests at once on this thread (libcurl's multi interface), each with its own timeout;
// answers in the order of the requests.
std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& reqs, const config::Config& c);

// The usual mapping: 2xx delivered; 408, 429 and 5xx (and no answer) retried, honouring
// Retry-After; other 4xx permanent. The response excerpt goes into the attempt record.
notify::Outcome classify(const HttpResponse& res);

// Percent-encodes for a URL path segment or a form value (RFC 3986 unreserved kept).
std::string url_encode(std::string_view v);

}  // namespace tourbus::channels
