// The one API: every operation declared once (name, HTTP method and route, who may call it,
// parameters, summary). The HTTP router, the CLI's help and docs/api.md all follow this table.
#pragma once

#include <filesystem>
#include <optional>
#include <span>
#include <string>
#include <string_view>

#include <boost/asio/awaitable.hpp>
#include <boost/json/object.hpp>
#include <boost/json/value.hpp>

#include "core/error.hpp"
#include "core/role.hpp"

namespace tourbus::api {

struct Context;

enum class Transport { unix_socket, tcp, websocket };

// Every access token's secret starts so.
inline constexpr std::string_view kTokenPrefix = "tb_";
// Where the API is served over WebSocket (docs/protocol.md).
inline constexpr std::string_view kWebSocketPath = "/v1/ws";
// Where providers post their webhooks (sms.inbound): no token, the provider's signature is the
// authority; the body is handed over as it came (parameter "content").
inline constexpr std::string_view kWebhookPath = "/v1/webhooks/";
// The header by which an operator on the control socket acts as a user (tourbus --as HANDLE).
inline constexpr std::string_view kActAsHeader = "Tourbus-As";

// Who is calling. Control-socket callers are operators identified by their peer credentials.
struct Caller {
  Role role = Role::tourist;
  std::int64_t user_id = 0;  // 0 for the control socket
  std::string handle;        // empty for the control socket
  Transport transport = Transport::tcp;
  std::string peer;          // "uid=0 pid=1234" or "127.0.0.1:5555", for logs
  std::uint64_t request_id = 0;  // ties log lines of one request together
  std::uint64_t session = 0;     // the WebSocket session the request came on (0: HTTP)
  std::int64_t token_id = 0;     // the bearer token it authenticated with (0: the control socket)
  std::optional<std::int64_t> token_expires_at;  // ms since the epoch; a session ends then
  // An upload's body, received into this file by the transport (file.upload); valid during the
  // call. The handler moves it into the blob store or leaves it for the transport to remove.
  const std::filesystem::path* body_file = nullptr;
  bool is_operator() const { return role == Role::operator_; }
};

enum class Type { string, integer, number, boolean, string_list, string_map };
std::string_view type_name(Type t);

struct Param {
  std::string_view name;
  Type type;
  bool required = false;
  std::string_view help;
  bool nullable = false;  // null is accepted and means "clear it"
};

// An operation's answer: JSON by default; text (metrics) or a file to stream (backup).
struct Reply {
  int status = 200;
  boost::json::value json;
  std::string content_type = "application/json";
  std::string text;
  std::filesystem::path file;  // streamed, then removed unless keep_file
  bool keep_file = false;
  std::string disposition;     // Content-Disposition of a file answer
  std::string location;        // a redirect's target (Location)

  static Reply ok(boost::json::value v) { return Reply{200, std::move(v)}; }
  static Reply created(boost::json::value v) { return Reply{201, std::move(v)}; }
};

struct Operation {
  std::string_view name;    // "user.create": also the WebSocket event name
  std::string_view method;  // "GET", "POST", "PATCH", "DELETE"
  std::string_view route;   // "/v1/users/{handle}"; {x} segments become parameters
  RoleMask allowed;
  std::span<const Param> params;
  std::string_view summary;
  bool websocket = true;  // also served as a WebSocket event (not for file or text answers)
  // HTTP only: the request body is raw bytes (an upload), passed as the string parameter
  // "content"; its size limit is files.max_bytes instead of server.max_body_bytes.
  bool raw_body = false;
  // HTTP only, without a token: the signed link in the route is the authority (unsubscribe and
  // review links in messages; any request body is ignored: one-click unsubscribe posts a form),
  // or, under kWebhookPath, the provider's signature over the body.
  bool public_link = false;
};

std::span<const Operation> operations();
const Operation* find_operation(std::string_view name);
const Param* find_param(const Operation& op, std::string_view name);

// Checks the caller's role and the parameters against the operation's schema, then runs it: on
// the leader for calls and previews on a cluster (api/on_leader.hpp), unless `here` (asked by
// another node). Never throws: unexpected failures become `internal` (and are logged).
boost::asio::awaitable<Result<Reply>> invoke(Context& ctx, const Operation& op, const Caller& caller,
                                             boost::json::object params, bool here = false);

}  // namespace tourbus::api
