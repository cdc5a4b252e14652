// What an HTTP request means, apart from the connection it came on (http_server.cpp): who sends
// it (a token on TCP, an operator on the control socket, acting as a user with Tourbus-As), which
// operation it calls, and the answer.
#pragma once

#include <filesystem>
#include <optional>
#include <string>
#include <utility>
#include <vector>

#include <boost/beast/http/string_body.hpp>

#include "api/context.hpp"
#include "api/operation.hpp"
#include "net/stream.hpp"

namespace tourbus::net {

class Limits;

using RequestHeader = http::request_header<>;

struct Answer {
  int status = 200;
  std::string content_type;
  std::string body;
  std::filesystem::path file;   // a file to stream instead of the body
  bool keep_file = false;       // else it is removed once open
  std::string disposition;
  std::int64_t retry_after = 0;  // seconds, for 429
  std::vector<std::pair<std::string, std::string>> headers;  // more header fields (CORS)
};

Answer from_error(const Error& e);
// A 429 answer with Retry-After.
Answer too_many(const Error& e, std::int64_t retry_after_seconds);

// The answer to a request that could not be read (`ec` from reading it): headers over 16 KiB,
// a body over its limit (`too_large`), malformed HTTP; nothing when the connection closed, timed
// out or was cancelled (nobody to answer).
std::optional<Answer> unreadable(const beast::error_code& ec, const Error& too_large);

// The upgrade's own fields, checked after the token (nothing is revealed before it): version 13
// (else 426) and a well-formed key (else 400).
std::optional<Answer> upgrade_refusal(const RequestHeader& req);

// Credentials of the process at the other end of a Unix socket, for logs.
std::string peer_credentials(int fd);

// A request for an operation whose body is raw bytes (an upload): received into a file, its
// limit files.max_bytes.
bool is_upload(const RequestHeader& req);

// Who sends a request: on the control socket an operator (or the user named by Tourbus-As); on
// TCP the user of the bearer token, from the Authorization header or, for a WebSocket upgrade,
// the access_token query parameter. A failed token counts against the address (Limits).
struct Sender {
  api::Transport transport;
  std::string peer;  // for logs
  std::string ip;    // the client's address (TCP)
  std::uint64_t request_id;
};
awaitable<Result<api::Caller>> identify(api::Context& ctx, Limits& limits, const RequestHeader& req, Sender from,
                                        bool websocket);

// Routes and runs one request for an identified caller. `body_file`: an upload's body.
awaitable<Answer> run(api::Context& ctx, api::Caller caller, const RequestHeader& req, std::string_view body,
                      const std::filesystem::path* body_file = nullptr);

// A WebSocket upgrade's target must be the WebSocket path (checked after the token on TCP).
Status websocket_target(const RequestHeader& req);

}  // namespace tourbus::net
