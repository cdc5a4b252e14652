// Calls and previews on air across nodes (docs/scaling.md, "Calls and previews on several
// nodes"): their live state (calls::Registry, calls::PreviewRegistry) is on one node, the leader.
// A node that does not lead asks the leader to run those operations (over NATS, realtime::Relay)
// and answers its caller with the leader's answer, codes and all. Sessions are numbered apart on
// each node, so the leader's pushes to a session reach it wherever it is; a session that closes
// anywhere, or every session of a node that is gone, leaves its calls and previews on the leader.
// A node that takes the lead ends as failed the calls and previews still open in the store that
// are not its own (their leader is gone, and their state with it). Without NATS each node keeps
// its own calls, as on one node. On the daemon's event loop.
#pragma once

#include <cstdint>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>

#include "api/context.hpp"
#include "api/operation.hpp"

namespace tourbus::api {

// The operations that run where calls and previews live (the leader).
bool runs_on_leader(std::string_view operation);
// Whether `op` must be asked of the leader: a cluster with NATS, and this node does not lead.
bool elsewhere(const Context& ctx, const Operation& op);
// Runs `op` on the leader for `caller` (checked here already) and returns its answer; unavailable
// when no node leads or the leader does not answer in time.
boost::asio::awaitable<Result<Reply>> ask_leader(Context& ctx, const Operation& op, const Caller& caller,
                                                 const boost::json::object& params);
// Answers what other nodes ask of this one, and hears of their sessions that closed (on the relay).
void serve_other_nodes(Context& ctx);
// A WebSocket or Socket.IO session of this node closed: it leaves its calls and previews, here
// and on the leader.
void session_closed(Context& ctx, std::int64_t user, std::uint64_t session);
// This node took the lead (`on`) or lost it: taking it, it ends the calls and previews left open
// by the leader before; losing it, it lets go of its own (the new leader ends them).
void lead_changed(Context& ctx, bool on);

}  // namespace tourbus::api
