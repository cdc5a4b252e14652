#include "channels/http.hpp"

#include <algorithm>
#include <cstdlib>
#include <memory>

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

// Sets every option of one request on a handle (reset first, so nothing leaks from the last
// request). The returned header list must outlive the transfer.
curl_slist* prepare(CURL* h, const HttpRequest& req, HttpResponse& res, const config::Config& c) {
  curl_easy_reset(h);
  curl_slist* headers = nullptr;
  for (const auto& line : req.headers) headers = curl_slist_append(headers, line.c_str());
  curl_easy_setopt(h, CURLOPT_URL, req.url.c_str());
  curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "http,https");
  curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
  long timeout_ms = req.timeout_ms > 0 ? static_cast<long>(req.timeout_ms) : static_cast<long>(c.notify_timeout_seconds) * 1000;
  curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, timeout_ms);
  curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT_MS, std::min(10'000L, timeout_ms));
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
  return headers;
}

// The transfer's result into the response; releases the header list.
void conclude(CURL* h, CURLcode rc, HttpResponse& res, curl_slist* headers) {
  curl_off_t us = 0;
  curl_easy_getinfo(h, CURLINFO_TOTAL_TIME_T, &us);
  res.duration_ms = static_cast<std::int64_t>(us / 1000);
  if (rc == CURLE_OK) {
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &res.status);
  } else {
    res.curl_error = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc);
  }
  curl_easy_setopt(h, CURLOPT_HTTPHEADER, nullptr);
  curl_slist_free_all(headers);
}

struct Multi {
  CURLM* m = curl_multi_init();
  std::vector<std::unique_ptr<Easy>> easy;  // one per concurrent request, kept for their connections
  ~Multi() {
    easy.clear();
    curl_multi_cleanup(m);
  }
};

}  // namespace

HttpResponse perform(const HttpRequest& req, const config::Config& c) {
  // One handle per thread: kept connections are reused by the next request to the same host.
  thread_local Easy easy;
  HttpResponse res;
  auto* headers = prepare(easy.h, req, res, c);
  auto rc = curl_easy_perform(easy.h);
  conclude(easy.h, rc, res, headers);
  return res;
}

std::vector<HttpResponse> perform_all(const std::vector<HttpRequest>& reqs, const config::Config& c) {
  // One multi handle per thread; its connections are kept for the next batch.
  thread_local Multi multi;
  while (multi.easy.size() < reqs.size()) multi.easy.push_back(std::make_unique<Easy>());
  std::vector<HttpResponse> out(reqs.size());
  std::vector<curl_slist*> headers(reqs.size());
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    CURL* h = multi.easy[i]->h;
    headers[i] = prepare(h, reqs[i], out[i], c);
    curl_easy_setopt(h, CURLOPT_PRIVATE, reinterpret_cast<void*>(i));
    curl_multi_add_handle(multi.m, h);
  }
  int running = static_cast<int>(reqs.size());
  while (running > 0) {
    if (curl_multi_perform(multi.m, &running) != CURLM_OK) break;
    int queued = 0;
    while (CURLMsg* msg = curl_multi_info_read(multi.m, &queued)) {
      if (msg->msg != CURLMSG_DONE) continue;
      void* priv = nullptr;
      curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, &priv);
      auto i = reinterpret_cast<std::size_t>(priv);
      auto* h = msg->easy_handle;
      auto rc = msg->data.result;
      curl_multi_remove_handle(multi.m, h);
      conclude(h, rc, out[i], headers[i]);
      headers[i] = nullptr;
    }
    if (running > 0) curl_multi_poll(multi.m, nullptr, 0, 1000, nullptr);
  }
  // Anything the multi handle gave up on (it failed as a whole) ends as no answer.
  for (std::size_t i = 0; i < reqs.size(); ++i) {
    if (!headers[i]) continue;
    curl_multi_remove_handle(multi.m, multi.easy[i]->h);
    conclude(multi.easy[i]->h, CURLE_FAILED_INIT, out[i], headers[i]);
  }
  return out;
}

notify::Outcome classify(const HttpResponse& res) {
  auto excerpt = res.body.substr(0, 300);
  auto status = std::to_string(res.status);
  notify::Outcome o;
  if (res.status == 0) {
    o = notify::Outcome::retry(res.curl_error == "timeout" ? "timeout" : "no answer", res.curl_error);
  } else if (res.status >= 200 && res.status < 300) {
    o = notify::Outcome::delivered(status, excerpt);
  } else if (res.status == 408 || res.status == 429 || res.status >= 500) {
    o = notify::Outcome::retry(status, excerpt);
    o.retry_after_ms = res.retry_after_ms;
  } else {
    o = notify::Outcome::permanent(status, excerpt);
  }
  o.duration_ms = res.duration_ms;
  return o;
}

std::string url_encode(std::string_view v) {
  char* e = curl_easy_escape(nullptr, v.data(), static_cast<int>(v.size()));
  std::string out = e ? e : "";
  curl_free(e);
  return out;
}

}  // namespace tourbus::channels
