// The webhook channel: a JSON POST to webhook.url for integrations, signed so the receiver can
// tell it came from this daemon: Tourbus-Signature = "sha256=" HMAC-SHA256(webhook.secret,
// TIMESTAMP "." BODY) in hex, with TIMESTAMP in Tourbus-Timestamp (Unix seconds, so receivers can
// refuse replays) and the job id in Tourbus-Delivery (delivery is at least once: dedupe on it).
#include "core/json.hpp"

#include "channels/channels.hpp"
#include "channels/http.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"

namespace tourbus::channels {
namespace {

// One integration endpoint for everyone, never chosen by "auto", never quiet.
std::vector<std::string> webhook_addresses(store::Db&, const store::User&, const config::Config& c) {
  if (c.webhook_url.empty()) return {};
  return {c.webhook_url};
}

constexpr std::string_view kWebhookKeys[] = {"webhook.url", "webhook.secret", "webhook.rate_per_second"};
const notify::Descriptor kWebhook{.name = "webhook",
                                  .interrupts = false,
                                  .auto_rank = 0,
                                  .addresses = webhook_addresses,
                                  .config_keys = kWebhookKeys};

class Webhook : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kWebhook; }
  bool configured(const config::Config& c) const override { return !c.webhook_url.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.webhook_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination&, const config::Config& c) override {
    return classify(perform(request(job, c), c));
  }

  // A thread keeps up to this many POSTs under way (a receiver that answers slowly holds a
  // connection, not a thread).
  std::size_t concurrency() const override { return 16; }

  std::vector<notify::Outcome> deliver_all(std::span<const notify::Job> jobs, const config::Config& c) override {
    std::vector<HttpRequest> reqs;
    reqs.reserve(jobs.size());
    for (const auto& job : jobs) reqs.push_back(request(job, c));
    std::vector<notify::Outcome> out;
    out.reserve(jobs.size());
    for (const auto& res : perform_all(reqs, c)) out.push_back(classify(res));
    return out;
  }

 private:
  static HttpRequest request(const notify::Job& job, const config::Config& c) {
    boost::json::object o{{"delivery", job.id},
                          {"notification", job.notification_id},
                          {"category", job.category},
                          {"user", job.handle},
                          {"subject", job.subject},
                          {"text", job.body},
                          {"created_at", timeutil::format_utc(job.created_at)}};
    if (job.idempotency_key) o["idempotency_key"] = *job.idempotency_key;
    HttpRequest req;
    req.url = c.webhook_url;
    req.body = json::dump(o);
    auto ts = std::to_string(timeutil::now_ms() / 1000);
    req.headers = {"Content-Type: application/json", "Tourbus-Delivery: " + std::to_string(job.id),
                   "Tourbus-Timestamp: " + ts,
                   "Tourbus-Signature: sha256=" + crypto::hmac_sha256_hex(c.webhook_secret, ts + "." + req.body)};
    return req;
  }
};

}  // namespace

std::unique_ptr<Channel> make_webhook() { return std::make_unique<Webhook>(); }

}  // namespace tourbus::channels
