// The e-mail channel: SMTP through libcurl (smtp:// with STARTTLS, or smtps://; AUTH when a user is
// configured). Messages are MIME (RFC 5322, 2045-2047): multipart/alternative with a text and an
// HTML part in UTF-8 (base64), non-ASCII subjects and names as RFC 2047 encoded words, and
// List-Unsubscribe (RFC 2369, one-click per RFC 8058) on marketing mail.
#include <curl/curl.h>
#include <openssl/evp.h>

#include <chrono>
#include <cstring>
#include <string>
#include <vector>

#include "channels/channels.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"

namespace tourbus::channels {
namespace {

std::string base64(std::string_view in) {
  std::string out(4 * ((in.size() + 2) / 3), '\0');
  auto n = EVP_EncodeBlock(reinterpret_cast<unsigned char*>(out.data()), reinterpret_cast<const unsigned char*>(in.data()),
                           static_cast<int>(in.size()));
  out.resize(static_cast<std::size_t>(n));
  return out;
}

bool plain_ascii(std::string_view s) {
  for (unsigned char c : s)
    if (c < 0x20 || c > 0x7E) return false;
  return true;
}

// RFC 2047 encoded words ("=?UTF-8?B?...?="), at most 75 characters each, split on UTF-8 boundaries.
std::string encoded_words(std::string_view s) {
  std::string out;
  while (!s.empty()) {
    std::size_t take = std::min<std::size_t>(45, s.size());
    while (take < s.size() && take > 0 && (static_cast<unsigned char>(s[take]) & 0xC0) == 0x80) --take;
    if (!out.empty()) out += "\r\n ";
    out += "=?UTF-8?B?" + base64(s.substr(0, take)) + "?=";
    s.remove_prefix(take);
  }
  return out;
}

// A header value: as is when printable ASCII, encoded words otherwise. CR and LF never pass.
std::string header_text(std::string_view s) {
  std::string clean;
  for (char c : s) clean += (c == '\r' || c == '\n') ? ' ' : c;
  return plain_ascii(clean) ? clean : encoded_words(clean);
}

// "Display Name <addr>" with the name quoted or encoded as needed.
std::string mailbox(std::string_view name, std::string_view addr) {
  if (name.empty()) return "<" + std::string(addr) + ">";
  std::string clean;
  for (char c : name)
    if (c != '\r' && c != '\n') clean += c;
  if (!plain_ascii(clean)) return encoded_words(clean) + " <" + std::string(addr) + ">";
  std::string quoted = "\"";
  for (char c : clean) {
    if (c == '"' || c == '\\') quoted += '\\';
    quoted += c;
  }
  return quoted + "\" <" + std::string(addr) + ">";
}

// The address inside "Name <addr>", or the whole text.
std::string address_of(std::string_view from) {
  auto lt = from.rfind('<'), gt = from.rfind('>');
  if (lt != std::string_view::npos && gt != std::string_view::npos && gt > lt) return std::string(from.substr(lt + 1, gt - lt - 1));
  return std::string(from);
}

std::string base64_lines(std::string_view body) {
  auto b = base64(body);
  std::string out;
  for (std::size_t i = 0; i < b.size(); i += 76) out += b.substr(i, 76) + "\r\n";
  return out;
}

std::string rfc5322_date(std::int64_t ms) {
  // "Tue, 24 Nov 2026 08:00:00 +0000"
  std::time_t t = static_cast<std::time_t>(ms / 1000);
  std::tm tm{};
  gmtime_r(&t, &tm);
  char buf[64];
  std::strftime(buf, sizeof buf, "%a, %d %b %Y %H:%M:%S +0000", &tm);
  return buf;
}

struct Upload {
  std::string data;
  std::size_t at = 0;
};

std::size_t read_upload(char* buf, std::size_t size, std::size_t n, void* user) {
  auto* u = static_cast<Upload*>(user);
  auto len = std::min(size * n, u->data.size() - u->at);
  std::memcpy(buf, u->data.data() + u->at, len);
  u->at += len;
  return len;
}

std::size_t discard(char*, std::size_t size, std::size_t n, void*) { return size * n; }

// The server's reply lines ("451 4.3.0 Try again later"); the one with the final reply code is
// kept as the attempt's response: it says more than libcurl's error text. Only what the server
// sent is read (never our AUTH lines).
struct Replies {
  std::vector<std::string> lines;  // the last few
  std::string with_code(long code) const {
    auto prefix = std::to_string(code);
    for (auto it = lines.rbegin(); it != lines.rend(); ++it)
      if (it->starts_with(prefix)) return *it;
    return {};
  }
};

int on_reply(CURL*, curl_infotype type, char* data, std::size_t size, void* user) {
  if (type != CURLINFO_HEADER_IN) return 0;
  std::string_view line(data, size);
  while (!line.empty() && (line.back() == '\n' || line.back() == '\r')) line.remove_suffix(1);
  if (line.empty()) return 0;
  auto& lines = static_cast<Replies*>(user)->lines;
  if (lines.size() == 8) lines.erase(lines.begin());
  auto& out = lines.emplace_back(line.substr(0, 200));
  for (auto& c : out)
    if (static_cast<unsigned char>(c) < 0x20 || c == 0x7f) c = ' ';
  return 0;
}

constexpr std::string_view kEmailKeys[] = {"email.smtp_url", "email.starttls", "email.username", "email.password",
                                           "email.from", "email.unsubscribe_url", "email.rate_per_second"};
const notify::Descriptor kEmail{.name = "email",
                                .interrupts = true,
                                .auto_rank = 5,
                                .addresses = contact_addresses<&store::User::email>,
                                .resolve = contact_resolve<&store::User::email>,
                                .config_keys = kEmailKeys};

class Email : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kEmail; }
  bool configured(const config::Config& c) const override { return !c.email_smtp_url.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.email_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination&, const config::Config& c) override {
    if (job.address.find_first_of("\r\n<> ") != std::string::npos || job.address.find('@') == std::string::npos)
      return notify::Outcome::permanent("invalid_address", "'" + job.address + "' is not an e-mail address");
    auto from_addr = address_of(c.email_from);
    auto domain = from_addr.substr(from_addr.find('@') + 1);
    Upload msg;
    msg.data = message(job, c, from_addr, domain);

    CURL* h = curl_easy_init();
    if (!h) return notify::Outcome::retry("internal", "curl_easy_init failed");
    curl_slist* rcpt = curl_slist_append(nullptr, ("<" + job.address + ">").c_str());
    curl_easy_setopt(h, CURLOPT_URL, c.email_smtp_url.c_str());
    curl_easy_setopt(h, CURLOPT_PROTOCOLS_STR, "smtp,smtps");
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT, static_cast<long>(c.notify_timeout_seconds));
    curl_easy_setopt(h, CURLOPT_CONNECTTIMEOUT, std::min(10L, static_cast<long>(c.notify_timeout_seconds)));
    if (c.email_smtp_url.starts_with("smtp://"))
      curl_easy_setopt(h, CURLOPT_USE_SSL, c.email_starttls == "required" ? CURLUSESSL_ALL : CURLUSESSL_NONE);
    if (!c.notify_ca_file.empty()) curl_easy_setopt(h, CURLOPT_CAINFO, c.notify_ca_file.c_str());
    if (!c.email_username.empty()) {
      curl_easy_setopt(h, CURLOPT_USERNAME, c.email_username.c_str());
      curl_easy_setopt(h, CURLOPT_PASSWORD, c.email_password.c_str());
    }
    curl_easy_setopt(h, CURLOPT_MAIL_FROM, ("<" + from_addr + ">").c_str());
    curl_easy_setopt(h, CURLOPT_MAIL_RCPT, rcpt);
    curl_easy_setopt(h, CURLOPT_UPLOAD, 1L);
    curl_easy_setopt(h, CURLOPT_READFUNCTION, read_upload);
    curl_easy_setopt(h, CURLOPT_READDATA, &msg);
    curl_easy_setopt(h, CURLOPT_INFILESIZE_LARGE, static_cast<curl_off_t>(msg.data.size()));
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, discard);
    Replies replies;
    curl_easy_setopt(h, CURLOPT_DEBUGFUNCTION, on_reply);
    curl_easy_setopt(h, CURLOPT_DEBUGDATA, &replies);
    curl_easy_setopt(h, CURLOPT_VERBOSE, 1L);
    auto rc = curl_easy_perform(h);
    long code = 0;
    curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &code);
    curl_slist_free_all(rcpt);
    curl_easy_cleanup(h);
    auto reply = replies.with_code(code);

    if (rc == CURLE_OK) return notify::Outcome::delivered(code ? std::to_string(code) : "250", reply);
    // The server refused STARTTLS (or does not offer it) while email.starttls is "required": its
    // last reply is a 2xx (to EHLO) or a 4xx/5xx to STARTTLS; either way the mail was not sent.
    if (rc == CURLE_USE_SSL_FAILED)
      return notify::Outcome::retry("starttls_refused", "the server refused STARTTLS" + (code >= 400 && !reply.empty() ? ": " + reply : std::string(" (not offered)")));
    std::string why = rc == CURLE_OPERATION_TIMEDOUT ? "timeout" : curl_easy_strerror(rc);
    bool refused = code >= 400 && code < 600;  // a server reply refused the mail: it says why
    if (refused && !reply.empty()) why = reply;
    // 5xx from the server (no such mailbox, refused): permanent. Login, TLS and connection
    // problems and 4xx replies: try again later (an operator may be fixing the config).
    if (code >= 500 && code < 600 && rc != CURLE_LOGIN_DENIED) return notify::Outcome::permanent(std::to_string(code), why);
    return notify::Outcome::retry(refused ? std::to_string(code) : why == "timeout" ? "timeout" : "no answer", why);
  }

 private:
  static std::string message(const notify::Job& job, const config::Config& c, const std::string& from_addr,
                             const std::string& domain) {
    auto boundary = "tourbus-" + crypto::random_token(18);
    std::string m;
    auto from_name = c.email_from.find('<') != std::string::npos ? c.email_from.substr(0, c.email_from.find('<')) : "";
    while (!from_name.empty() && from_name.back() == ' ') from_name.pop_back();
    if (from_name.size() >= 2 && from_name.front() == '"' && from_name.back() == '"') from_name = from_name.substr(1, from_name.size() - 2);
    m += "From: " + mailbox(from_name, from_addr) + "\r\n";
    m += "To: " + mailbox(job.display_name, job.address) + "\r\n";
    m += "Subject: " + header_text(job.subject) + "\r\n";
    m += "Date: " + rfc5322_date(timeutil::now_ms()) + "\r\n";
    m += "Message-ID: <" + std::to_string(job.id) + "." + crypto::random_token(9) + "@" + domain + ">\r\n";
    m += "MIME-Version: 1.0\r\n";
    m += "Auto-Submitted: auto-generated\r\n";
    // The platform's own unsubscribe page when configured, else the daemon's signed link.
    if (job.category == "marketing" && (job.unsubscribe_url || !c.email_unsubscribe_url.empty())) {
      auto url = c.email_unsubscribe_url.empty() ? *job.unsubscribe_url : c.email_unsubscribe_url;
      if (auto at = url.find("{{handle}}"); at != std::string::npos) url.replace(at, 10, job.handle);
      m += "List-Unsubscribe: <" + url + ">\r\n";
      m += "List-Unsubscribe-Post: List-Unsubscribe=One-Click\r\n";
    }
    auto text_part = "Content-Type: text/plain; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" + base64_lines(job.body);
    if (!job.html || job.html->empty()) return m + text_part;
    m += "Content-Type: multipart/alternative; boundary=\"" + boundary + "\"\r\n\r\n";
    m += "--" + boundary + "\r\n" + text_part;
    m += "--" + boundary + "\r\nContent-Type: text/html; charset=utf-8\r\nContent-Transfer-Encoding: base64\r\n\r\n" +
         base64_lines(*job.html);
    m += "--" + boundary + "--\r\n";
    return m;
  }
};

}  // namespace

std::unique_ptr<Channel> make_email() { return std::make_unique<Email>(); }

}  // namespace tourbus::channels
