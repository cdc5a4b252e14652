#include "channels/http.hpp"

#include <algorithm>
#include <chrono>
#include <cstdlib>

#include <curl/curl.h>

namespace tourbus::channels {

namespace {

constexpr std::size_t kKeep = 64 * 1024;

std::size_t on_body(char* data, std::size_t size, std::size_t n, void* user) {
  auto* out = static_cast<std::string*>(user);
  auto bytes = size * n;
  if (out->size() < kKeep) out->append(data, std::min(bytes, kKeep - out->size()));
  return bytes;
}

std::size_t on_header(char* data, std::size_t size, std::size_t n, void* user) {
  auto* res = static_cast<HttpResponse*>(user);
  std::string_view line(data, size * n);
  // Only Retry-After (in seconds) is used: the provider asks to wait before the next attempt.
  constexpr std::string_view kName = "retry-after:";
  if (line.size() > kName.size() && std::equal(kName.begin(), kName.end(), line.begin(), [](char a, char b) {
        return a == std::tolower(static_cast<unsigned char>(b));
      })) {
    std::string v(line.substr(kName.size()));
    char* end = nullptr;
    long secs = std::strtol(v.c_str(), &end, 10);
    while (end && (*end == ' ' || *end == '\r' || *end == '\n' || *end == '\t')) ++end;
    if (end && *end == '\0' && secs >= 0 && end != v.c_str()) res->retry_after_ms = static_cast<std::int64_t>(secs) * 1000;
  }
  return size * n;
}

struct Easy {
  CURL* h = curl_easy_init();
  ~Easy() { curl_easy_cleanup(h); }
};

}  // namespace

HttpResponse perform(const HttpRequest& req, const config::Config& c) {
  // One handle per thread: kept connections are reused by the next request to the same host.
  thread_local Easy easy;
  CURL* h = easy.h;
  curl_easy_reset(h);
  HttpResponse res;
  curl_slist* headers = nullptr;
  for (const auto& line : req.headers) headers = curl_slist_append(headers, line.c_str());
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(c.notify_timeout_seconds));
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, std::min(10L, static_cast<long>(c.notify_timeout_seconds)));
  curl_easy_setopt(h, CURLOPT_USERAGENT, "tourbusd/" TOURBUS_VERSION);
  curl_easy_setopt(h, CURLOPT_FOLLOWLOCATION, 0L);
  if (!c.notify_ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, c.notify_ca_file.c_str());
  if (req.http2) curl_easy_setopt(h, CURLOPT_HTTP_VERSION, CURL_HTTP_VERSION_2TLS);
  curl_easy_setopt(h, CURLOPT_CUSTOMREQUEST, req.method.c_str());
  if (req.method != "GET") {
    curl_easy_setopt(h, CURLOPT_POSTFIELDS, req.body.data());
    curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE_LARGE, static_cast<curl_off_t>(req.body.size()));
  }
  if (!req.basic_user.empty()) {
    curl_easy_setopt(h, CURLOPT_HTTPAUTH, CURLAUTH_BASIC);
    curl_easy_setopt(h, CURLOPT_USERNAME, req.basic_user.c_str());
    curl_easy_setopt(h, CURLOPT_PASSWORD, req.basic_password.c_str());
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, headers);
  curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
  curl_easy_setopt(h, CURLOPT_WRITEDATA, &res.body);
  curl_easy_setopt(h, CURLOPT_HEADERFUNCTION, on_header);
  curl_easy_setopt(h, CURLOPT_HEADERDATA, &res);
  auto started = std::chrono::steady_clock::now();
  auto rc = curl_easy_perform(h);
  res.duration_ms = std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now() - started).count();
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
  } else {
    res.curl_error = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
  return res;
}

notify::Outcome classify(const HttpResponse& res) {
  auto excerpt = res.body.substr(0, 300);
  if (res.status == 0) return notify::Outcome::retry(res.curl_error == "timeout" ? "timeout" : "no answer", res.curl_error);
  auto status = std::to_string(res.status);
  if (res.status >= 200 && res.status < 300) return notify::Outcome::delivered(status, excerpt);
  if (res.status == 408 || res.status == 429 || res.status >= 500) {
    auto o = notify::Outcome::retry(status, excerpt);
    o.retry_after_ms = res.retry_after_ms;
    return o;
  }
  return notify::Outcome::permanent(status, excerpt);
}

std::string url_encode(std::string_view v) {
  char* e = curl_easy_escape(nullptr, v.data(), static_cast<int>(v.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

}  // namespace tourbus::channels
