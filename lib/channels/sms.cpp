// The SMS channel: a Twilio-compatible Messages API (form POST with Basic auth) or a generic JSON
// webhook. Numbers must be E.164. Each message's encoding and segment count (GSM-7: 160 septets,
// 153 per part; UCS-2: 70 UTF-16 units, 67 per part) are recorded with the attempt.
#include "core/json.hpp"

#include "channels/channels.hpp"
#include "channels/http.hpp"
#include "channels/sms_segments.hpp"

namespace tourbus::channels {
namespace {

bool is_e164(std::string_view n) {
  if (n.size() < 3 || n.size() > 16 || n[0] != '+' || n[1] < '1' || n[1] > '9') return false;
  for (char ch : n.substr(1))
    if (ch < '0' || ch > '9') return false;
  return true;
}

constexpr std::string_view kSmsKeys[] = {"sms.provider", "sms.url",  "sms.account_sid", "sms.auth_token",
                                         "sms.from",     "sms.rate_per_second"};
// SMS costs money: chosen automatically for emergencies only.
const notify::Descriptor kSms{.name = "sms",
                              .interrupts = true,
                              .auto_rank = 6,
                              .auto_emergencies_only = true,
                              .addresses = contact_addresses<&store::User::phone>,
                              .resolve = contact_resolve<&store::User::phone>,
                              .config_keys = kSmsKeys};

class Sms : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kSms; }
  bool configured(const config::Config& c) const override { return !c.sms_provider.empty(); }
  double rate(const config::Config& c) const override { return static_cast<double>(c.sms_rate); }

  notify::Outcome deliver(const notify::Job& job, const Destination&, const config::Config& c) override {
    if (!is_e164(job.address)) return notify::Outcome::permanent("invalid_number", "'" + job.address + "' is not an E.164 number");
    auto seg = count_segments(job.body);
    auto counted = "encoding=" + std::string(seg.ucs2 ? "UCS-2" : "GSM-7") + " segments=" + std::to_string(seg.segments);
    HttpRequest req;
    if (c.sms_provider == "twilio") {
      auto base = c.sms_url;
      while (!base.empty() && base.back() == '/') base.pop_back();
      req.url = base + "/2010-04-01/Accounts/" + url_encode(c.sms_account_sid) + "/Messages.json";
      req.basic_user = c.sms_account_sid;
      req.basic_password = c.sms_auth_token;
      req.headers = {"Content-Type: application/x-www-form-urlencoded"};
      req.body = "To=" + url_encode(job.address) + "&From=" + url_encode(c.sms_from) + "&Body=" + url_encode(job.body);
    } else {
      req.url = c.sms_url;
      req.headers = {"Content-Type: application/json"};
      if (!c.sms_auth_token.empty()) req.headers.push_back("Authorization: Bearer " + c.sms_auth_token);
      req.body = json::dump(boost::json::object{{"to", job.address},
                                                            {"from", c.sms_from},
                                                            {"text", job.body},
                                                            {"encoding", seg.ucs2 ? "UCS-2" : "GSM-7"},
                                                            {"segments", seg.segments},
                                                            {"delivery", job.id}});
    }
    auto o = classify(perform(req, c));
    o.response = counted + (o.response.empty() ? "" : " " + o.response);
    return o;
  }
};

}  // namespace

std::unique_ptr<Channel> make_sms() { return std::make_unique<Sms>(); }

}  // namespace tourbus::channels
