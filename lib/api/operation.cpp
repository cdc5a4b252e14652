#include "api/operation.hpp"

#include "api/context.hpp"
#include "api/handlers.hpp"
#include "api/on_leader.hpp"
#include "api/schema.hpp"
#include "core/logging.hpp"

namespace tourbus::api {

boost::asio::awaitable<Result<Reply>> invoke(Context& ctx, const Operation& op, const Caller& caller,
                                             boost::json::object params, bool here) {
  if (!(op.allowed & mask(caller.role))) {
    std::string who;
    for (Role r : {Role::tourist, Role::guide, Role::operator_})
      if (op.allowed & mask(r)) who += (who.empty() ? "" : " or ") + std::string(role_name(r));
    co_return Error(Code::permission_denied, std::string(op.name) + " needs the role " + who + "; the caller is a " +
                                                 std::string(role_name(caller.role)));
  }
  if (auto st = check_params(op, params); !st) co_return st.error();
  if (!here && elsewhere(ctx, op)) {
    auto asking = ask_leader(ctx, op, caller, params);
    co_return co_await std::move(asking);
  }
  auto handler = handler_of(op);
  if (!handler) co_return Error(Code::internal, std::string(op.name) + " has no handler");
  try {
    co_return co_await handler(ctx, caller, params);
  } catch (const std::exception& e) {
    logging::get("api")->error("api.failed req={} op={} error=\"{}\"", caller.request_id, op.name, e.what());
  }
  co_return Error(Code::internal, std::string(op.name) + " failed unexpectedly; the daemon log has details");
}

}  // namespace tourbus::api
