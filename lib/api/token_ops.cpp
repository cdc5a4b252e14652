// token.* operations. A token's secret is returned once, by token.issue; only its hash is stored.
#include "api/auth.hpp"
#include "api/handlers.hpp"
#include "api/json_out.hpp"
#include "api/schema.hpp"
#include "core/crypto.hpp"
#include "core/logging.hpp"
#include "core/time.hpp"
#include "core/validate.hpp"

namespace tourbus::api::handlers {

using boost::json::object;

boost::asio::awaitable<Result<Reply>> token_issue(Context& ctx, const Caller&, const object& p) {
  auto handle = *get_string(p, "user");
  std::string label;
  if (auto text = get_string(p, "label"); text && !text->empty()) {
    auto checked = validate::text(*text, 100);
    if (!checked) co_return field_error("label", checked.error());
    label = *checked;
  }
  auto ttl = get_int(p, "ttl_days").value_or(ctx.config.get()->token_ttl_days);
  if (ttl < 0 || ttl > 3650) co_return Error(Code::invalid_argument, "ttl_days: must be 0 to 3650", "ttl_days");

  std::string secret = std::string(kTokenPrefix) + crypto::random_token(32);
  std::string hash = crypto::sha256_hex(secret);
  std::int64_t now = timeutil::now_ms();
  store::Token t;
  t.label = label;
  t.prefix = secret.substr(0, 8);
  t.created_at = now;
  if (ttl > 0) t.expires_at = now + ttl * 86'400'000;

  auto pending = ctx.writer.run<store::Token>([t, hash, handle](store::Db& db) mutable -> Result<store::Token> {
    auto u = store::users::find(db, handle);
    if (!u) return Error(Code::not_found, "no user with handle '" + handle + "'", "user");
    if (u->disabled) return Error(Code::conflict, "the account '" + handle + "' is disabled", "user");
    t.user_id = u->id;
    t.user_handle = u->handle;
    return store::tokens::insert(db, t, hash);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.token_issued id={} user={} prefix={}", r->id, r->user_handle, r->prefix);
  auto out = to_json(*r, now);
  out["token"] = secret;
  co_return Reply::created(std::move(out));
}

boost::asio::awaitable<Result<Reply>> token_list(Context& ctx, const Caller&, const object& p) {
  auto now = timeutil::now_ms();
  auto handle = get_string(p, "user");
  bool all = get_bool(p, "all").value_or(false);
  auto result = ctx.reads.with([&](store::Db& db) -> Result<std::vector<store::Token>> {
    std::int64_t user_id = 0;
    if (handle) {
      auto u = store::users::find(db, *handle);
      if (!u) return Error(Code::not_found, "no user with handle '" + *handle + "'", "user");
      user_id = u->id;
    }
    return store::tokens::list(db, user_id, !all, now);
  });
  if (!result) co_return result.error();
  boost::json::array out;
  for (const auto& t : *result) out.push_back(to_json(t, now));
  co_return Reply::ok(object{{"tokens", std::move(out)}});
}

boost::asio::awaitable<Result<Reply>> token_revoke(Context& ctx, const Caller&, const object& p) {
  auto id = *get_int(p, "id");
  auto now = timeutil::now_ms();
  // Open sessions lose the token first: nothing they send from now on is carried out.
  auto token = ctx.reads.with([id](store::Db& db) { return store::tokens::find(db, id); });
  if (token && !token->revoked_at) ctx.sessions.end_token(token->user_id, id, "the token was revoked");
  auto pending = ctx.writer.run<store::Token>([id, now](store::Db& db) -> Result<store::Token> {
    if (!store::tokens::find(db, id)) return Error(Code::not_found, "no token with id " + std::to_string(id), "id");
    store::tokens::revoke(db, id, now);
    return *store::tokens::find(db, id);
  });
  auto r = co_await std::move(pending);
  if (!r) co_return r.error();
  logging::get("api")->info("api.token_revoked id={} user={}", r->id, r->user_handle);
  co_return Reply::ok(to_json(*r, now));
}

namespace {
const Binding kBindings[] = {
    {"token.issue", token_issue},
    {"token.list", token_list},
    {"token.revoke", token_revoke},
};
}  // namespace

std::span<const Binding> token_handlers() { return kBindings; }

}  // namespace tourbus::api::handlers
