// sms.inbound: the SMS provider's webhook for replies (Twilio's form and X-Twilio-Signature). A
// reply with a roll-call keyword in the sender's language answers their latest open alert
// (record_answer, as alert.answer does); the provider gets a TwiML message back saying what was
// recorded, in that language.
#include <map>

#include <boost/url/params_view.hpp>

#include "api/handlers.hpp"
#include "api/schema.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "safety/alerts.hpp"
#include "safety/rollcall.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {

using boost::json::object;

boost::asio::awaitable<Result<Reply>> sms_inbound(Context& ctx, const Caller&, const object& p) {
  auto cfg = ctx.config.get();
  auto log = logging::get("safety");
  auto twiml = [](const std::string& text) {
    std::string escaped;
    for (char c : text) {
      if (c == '<') escaped += "&lt;";
      else if (c == '>') escaped += "&gt;";
      else if (c == '&') escaped += "&amp;";
      else escaped += c;
    }
    Reply r;
    r.content_type = "text/xml; charset=utf-8";
    r.text = "<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<Response><Message>" + escaped + "</Message></Response>\n";
    return r;
  };
  if (cfg->sms_auth_token.empty())
    co_return Error(Code::unavailable, "SMS replies are not set up: sms.auth_token signs the provider's webhook");
  auto body = get_string(p, "content").value_or("");
  auto signature = get_string(p, "signature").value_or("");
  // The form's fields, decoded.
  std::map<std::string, std::string> form;
  try {
    boost::urls::params_view fields(body, boost::urls::encoding_opts(true));
    for (auto param : fields) form[param.key] = param.value;
  } catch (const std::exception&) {
    co_return Error(Code::bad_request, "the body is not a form (application/x-www-form-urlencoded)");
  }
  // Twilio's signature: HMAC-SHA1 under the auth token of the URL it posted to, followed by each
  // field's name and value in name order, Base64.
  auto base = cfg->public_url.empty() ? "http://" + ctx.stats.get_listen_address() : cfg->public_url;
  while (!base.empty() && base.back() == '/') base.pop_back();
  std::string signed_text = base + "/v1/webhooks/sms";
  for (const auto& [k, v] : form) signed_text += k + v;
  auto expected = crypto::base64_encode(crypto::hmac_sha1(cfg->sms_auth_token, signed_text));
  bool same = expected.size() == signature.size();
  unsigned char diff = 0;
  for (std::size_t i = 0; same && i < expected.size(); ++i) diff |= static_cast<unsigned char>(expected[i] ^ signature[i]);
  if (!same || diff != 0) {
    log->warn("safety.sms_refused reason=signature");
    co_return Error(Code::permission_denied, "the webhook's signature (X-Twilio-Signature) is not right");
  }
  auto from = form["From"];
  auto text = form["Body"];
  struct Found {
    std::int64_t user = 0;
    std::string language;
    std::optional<std::int64_t> alert;
  };
  auto found = ctx.reads.with([&](store::Db& db) -> std::optional<Found> {
    auto u = store::users::find_phone(db, from);
    if (!u) return std::nullopt;
    return Found{u->id, u->language, safety::alerts::latest_for(db, u->id)};
  });
  if (!found || !found->alert) {
    log->info("safety.sms_reply matched=false");
    co_return twiml(found ? "There is no alert to answer." : "We could not match this number to a traveller.");
  }
  auto answer = safety::rollcall::parse_reply(text, found->language);
  if (!answer) co_return twiml(safety::rollcall::reply_text(found->language, std::nullopt));
  std::optional<std::string> note;
  if (*answer == safety::rollcall::Answer::need_help) note = text.substr(0, 500);
  auto pending = record_answer(ctx, *found->alert, found->user, std::string(safety::rollcall::name(*answer)), "sms", "sms", note);
  auto r = co_await std::move(pending);
  if (!r) co_return twiml(r.error().message);
  co_return twiml(safety::rollcall::reply_text(found->language, answer));
}

namespace {
const Binding kBindings[] = {
    {"sms.inbound", sms_inbound},
};
}  // namespace

std::span<const Binding> sms_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
