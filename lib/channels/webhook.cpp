// The webhook channel: a JSON POST to webhook.url for integrations, signed so the receiver can
// tell it came from this daemon: Tourbus-Signature = "sha256=" HMAC-SHA256(webhook.secret,
// TIMESTAMP "." BODY) in hex, with TIMESTAMP in Tourbus-Timestamp (Unix seconds, so receivers can
// refuse replays) and the job id in Tourbus-Delivery (delivery is at least once: dedupe on it).
#include <boost/json/serialize.hpp>

#include "channels/channel.hpp"
#include "channels/http.hpp"
#include "core/crypto.hpp"
#include "core/time.hpp"

namespace tourbus::channels {
namespace {

class Webhook : public Channel {
 public:
  std::string_view name() const override { return "webhook"; }
  bool configured(const config::Config& c) const override { return !c.webhook_url.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.webhook_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination&, const config::Config& c) override {
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
    req.body = boost::json::serialize(o);
    auto ts = std::to_string(timeutil::now_ms() / 1000);
    req.headers = {"Content-Type: application/json", "Tourbus-Delivery: " + std::to_string(job.id),
                   "Tourbus-Timestamp: " + ts,
                   "Tourbus-Signature: sha256=" + crypto::hmac_sha256_hex(c.webhook_secret, ts + "." + req.body)};
    return classify(perform(req, c));
  }
};

}  // namespace

std::unique_ptr<Channel> make_webhook() { return std::make_unique<Webhook>(); }

}  // namespace tourbus::channels
