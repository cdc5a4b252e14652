// link.open and link.confirm: the signed links in messages, for people without a token. An
// unsubscribe link shows a page asking to confirm (mail scanners fetch links; only a POST acts),
// and a POST, also RFC 8058's one-click from the mail client, withdraws marketing consent at
// once: the person's queued marketing messages are cancelled with it. A review link records
// that the person is reviewing (their nudges stop) and sends them on to review.url. A tracked
// campaign link (campaign.tracking) counts the click and leads on to the campaign's url. A
// roll-call link (safe, need help) shows a page whose button records the answer.
#include "api/handlers.hpp"
#include "api/schema.hpp"
#include "core/links.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "notify/outbox.hpp"
#include "schedule/campaigns.hpp"
#include "schedule/schedules.hpp"
#include "store/users.hpp"

namespace tourbus::api::handlers {
namespace {

using boost::json::object;

Reply page(int status, std::string_view title, std::string_view body_html) {
  Reply r;
  r.status = status;
  r.content_type = "text/html; charset=utf-8";
  r.text = "<!doctype html>\n<html><head><meta charset=\"utf-8\"><meta name=\"viewport\" content=\"width=device-width\">"
           "<title>" + std::string(title) + "</title></head>\n<body><h1>" + std::string(title) + "</h1>\n" +
           std::string(body_html) + "\n</body></html>\n";
  return r;
}

Reply invalid() {
  return page(404, "Link not valid", "<p>This link is not valid or has expired.</p>");
}

// Percent-encodes a value for a URL's query.
std::string url_value(std::string_view v) {
  static const char* hex = "0123456789ABCDEF";
  std::string out;
  for (unsigned char c : v) {
    if (std::isalnum(c) || c == '-' || c == '_' || c == '.' || c == '~') out += static_cast<char>(c);
    else {
      out += '%';
      out += hex[c >> 4];
      out += hex[c & 15];
    }
  }
  return out;
}

struct Done {
  bool changed = false;  // false: it had been done already
  std::string handle;
};

boost::asio::awaitable<Result<Reply>> act(Context& ctx, const links::Link& l, bool confirmed) {
  auto now = timeutil::now_ms();
  auto log = logging::get("schedule");
  if (l.kind == links::Kind::unsubscribe) {
    if (!confirmed)
      co_return page(200, "Unsubscribe",
                     "<p>You will no longer get offers and news from us. Messages about your bookings, tours and "
                     "safety still reach you.</p>\n<form method=\"post\"><button type=\"submit\">Unsubscribe</button></form>");
    auto pending = ctx.writer.run<Done>([l, now](store::Db& db) -> Result<Done> {
      auto u = store::users::find_id(db, l.user);
      if (!u) return Error(Code::not_found, "no such user");
      Done d{u->marketing_consent, u->handle};
      if (u->marketing_consent) {
        u->marketing_consent = false;
        u->marketing_consent_at = now;
        u->updated_at = now;
        store::users::update(db, *u);
        schedule::campaigns::record_unsubscribe(db, u->id, l.subject, "link", now);
      }
      // Whatever marketing is still queued for them goes now, mid-campaign or not.
      notify::outbox::cancel_queued(db, notify::JobFilter{.user_id = u->id}, std::string("marketing"), now);
      return d;
    });
    auto d = co_await std::move(pending);
    if (!d) co_return invalid();
    log->info("schedule.unsubscribed user={} campaign={} changed={}", d->handle, l.subject, d->changed);
    co_return page(200, "Unsubscribed", "<p>Done: you will get no more offers from us.</p>");
  }
  if (l.kind == links::Kind::safe || l.kind == links::Kind::help) {  // a roll-call answer
    bool safe = l.kind == links::Kind::safe;
    if (!confirmed)
      co_return page(200, safe ? "I am safe" : "I need help",
                     safe ? "<p>Tell us you are safe.</p>\n<form method=\"post\"><button type=\"submit\">I am safe</button></form>"
                          : "<p>Tell us you need help: your guide and our operators will be told at once.</p>\n"
                            "<form method=\"post\"><button type=\"submit\">I need help</button></form>");
    auto pending = record_answer(ctx, l.subject, l.user, safe ? std::string("safe") : std::string("need_help"),
                                 std::string("link"), std::string("link"), std::nullopt);
    auto r = co_await std::move(pending);
    if (!r) co_return page(r.error().code == Code::conflict ? 409 : 404, "Not recorded", "<p>" + r.error().message + "</p>");
    co_return page(200, "Thank you",
                   r->answer == "safe" ? "<p>You are marked safe.</p>"
                                       : "<p>Help is on the way: your guide and our operators have been told.</p>");
  }
  if (l.kind == links::Kind::click) {  // a tracked campaign link: counted, then on to the offer
    auto pending = ctx.writer.run<std::string>([l, now](store::Db& db) -> Result<std::string> {
      auto c = schedule::campaigns::find(db, l.subject);
      if (!c || !c->vars.contains("url")) return Error(Code::not_found, "no such campaign");
      schedule::campaigns::record_click(db, c->id, l.user, now);
      return c->vars.at("url");
    });
    auto target = co_await std::move(pending);
    if (!target) co_return invalid();
    Reply r = page(302, "Continue", "<p>Continue to the offer.</p>");
    r.location = *target;
    co_return r;
  }
  // A review link: the person is writing their review.
  auto pending = ctx.writer.run<Done>([l, now](store::Db& db) -> Result<Done> {
    auto u = store::users::find_id(db, l.user);
    if (!u) return Error(Code::not_found, "no such user");
    return Done{schedule::reviews::record(db, l.subject, l.user, "link", now), u->handle};
  });
  auto d = co_await std::move(pending);
  if (!d) co_return invalid();
  if (d->changed) log->info("schedule.review_recorded tour={} user={} source=link", l.subject, d->handle);
  auto target = ctx.config.get()->review_url;
  if (target.empty()) co_return page(200, "Thank you", "<p>Thank you for telling us about your tour.</p>");
  for (auto [key, value] : {std::pair<std::string, std::string>{"{{tour_id}}", std::to_string(l.subject)},
                            std::pair<std::string, std::string>{"{{handle}}", url_value(d->handle)}})
    for (auto at = target.find(key); at != std::string::npos; at = target.find(key, at + value.size()))
      target.replace(at, key.size(), value);
  Reply r = page(302, "Thank you", "<p>Thank you. Continue to the review page.</p>");
  r.location = target;
  co_return r;
}

}  // namespace

boost::asio::awaitable<Result<Reply>> link_open(Context& ctx, const Caller&, const object& p) {
  auto l = links::verify(ctx.link_key, *get_string(p, "token"), timeutil::now_ms());
  if (!l) co_return invalid();
  // Links that change something someone relies on ask first: mail scanners follow links.
  bool asks = l->kind == links::Kind::unsubscribe || l->kind == links::Kind::safe || l->kind == links::Kind::help;
  auto r = act(ctx, *l, !asks);
  co_return co_await std::move(r);
}

boost::asio::awaitable<Result<Reply>> link_confirm(Context& ctx, const Caller&, const object& p) {
  auto l = links::verify(ctx.link_key, *get_string(p, "token"), timeutil::now_ms());
  if (!l) co_return invalid();
  auto r = act(ctx, *l, true);
  co_return co_await std::move(r);
}

namespace {
const Binding kBindings[] = {
    {"link.open", link_open},
    {"link.confirm", link_confirm},
};
}  // namespace

std::span<const Binding> link_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
