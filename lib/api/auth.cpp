#include "api/auth.hpp"

#include "core/crypto.hpp"
#include "core/time.hpp"
#include "store/tokens.hpp"
#include "store/users.hpp"

namespace tourbus::api {

boost::asio::awaitable<Result<Caller>> authenticate(Context& ctx, std::string_view secret, std::string peer) {
  if (!secret.starts_with(kTokenPrefix) || secret.size() > 256)
    co_return Error(Code::unauthenticated, "the bearer token is not a tourbus token");
  auto hash = crypto::sha256_hex(secret);
  auto found = ctx.reads.with([&](store::Db& db) { return store::tokens::find_by_hash(db, hash); });
  if (!found) co_return Error(Code::unauthenticated, "unknown token");
  auto& [token, user] = *found;
  auto now = timeutil::now_ms();
  if (token.revoked_at) co_return Error(Code::unauthenticated, "this token was revoked");
  if (token.expires_at && *token.expires_at <= now) co_return Error(Code::unauthenticated, "this token has expired");
  if (user.disabled) co_return Error(Code::unauthenticated, "the account '" + user.handle + "' is disabled");
  // Bookkeeping, not waited for: a connection does not wait for a commit to be let in.
  if (!token.last_used_at || now - *token.last_used_at > 60'000)
    ctx.writer.submit_detached([id = token.id, now](store::Db& db) { store::tokens::touch(db, id, now); });
  Caller c;
  c.role = role_from_name(user.role).value_or(Role::tourist);
  c.user_id = user.id;
  c.handle = user.handle;
  c.transport = Transport::tcp;
  c.peer = std::move(peer);
  c.token_id = token.id;
  c.token_expires_at = token.expires_at;
  co_return c;
}

Result<Caller> act_as(Context& ctx, const Caller& operator_caller, std::string_view handle) {
  auto user = ctx.reads.with([&](store::Db& db) { return store::users::find(db, handle); });
  if (!user) return Error(Code::not_found, std::string(kActAsHeader) + ": no user with handle '" + std::string(handle) + "'");
  if (user->disabled) return Error(Code::permission_denied, "the account '" + user->handle + "' is disabled");
  Caller c = operator_caller;
  c.role = role_from_name(user->role).value_or(Role::tourist);
  c.user_id = user->id;
  c.handle = user->handle;
  c.peer += " as=" + user->handle;
  return c;
}

}  // namespace tourbus::api
