// Receiving one HTTP connection's requests (http_server.cpp): what its coroutine needs, and an
// upload's body streamed into a file. Internal to net/; runs on the event loop.
#pragma once

#include <unistd.h>

#include <filesystem>
#include <optional>
#include <string>

#include <boost/beast/core/flat_buffer.hpp>
#include <boost/beast/http/file_body.hpp>
#include <boost/beast/http/read.hpp>
#include <boost/beast/http/string_body.hpp>

#include "api/context.hpp"
#include "api/uploads.hpp"
#include "core/logging.hpp"
#include "net/http_request.hpp"
#include "net/limits.hpp"
#include "net/socketio_api.hpp"
#include "net/stream.hpp"
#include "realtime/hub.hpp"

namespace tourbus::net {

// What a connection's coroutine needs besides its stream.
struct Conn {
  api::Context& ctx;
  realtime::Hub& hub;
  Limits& limits;
  api::Uploads& uploads;
  api::Transport transport;
  std::string peer;  // for logs
  std::string ip;    // TCP: the client's address, for the limits
  const bool& draining;
  std::filesystem::path incoming;  // where upload bodies are received
  SocketIoApi& sio;
};

// A unique file under `dir` for one upload's body.
inline std::filesystem::path incoming_file(const std::filesystem::path& dir, std::uint64_t request_id) {
  static std::uint64_t n = 0;  // the event loop is single-threaded
  return dir / ("upload-" + std::to_string(::getpid()) + "-" + std::to_string(request_id) + "-" + std::to_string(++n));
}

// An upload: its sender is known and admitted before a byte of the body is read, then the body
// goes to a file under `incoming` (never into memory whole) and the operation runs on it. A
// refused upload's body is not read: the connection closes after the answer (`close`).
template <class S>
awaitable<Answer> receive_upload(S& stream, beast::flat_buffer& buffer, http::request_parser<http::string_body>& parser,
                                 Conn& c, std::uint64_t request_id, bool& close) {
  close = true;
  auto cfg = c.ctx.config.get();
  const auto& head = parser.get();
  auto pending = identify(c.ctx, c.limits, head, {c.transport, c.peer, c.ip, request_id}, false);
  auto caller = co_await std::move(pending);
  if (!caller) co_return from_error(caller.error());
  std::optional<std::uint64_t> length;
  if (auto l = parser.content_length()) length = *l;
  auto ticket = c.uploads.admit(*caller, length);
  if (!ticket) co_return ticket.error().code == Code::rate_limited ? too_many(ticket.error(), 60) : from_error(ticket.error());
  auto path = incoming_file(c.incoming, request_id);
  http::request_parser<http::file_body> body(std::move(parser));
  body.body_limit(static_cast<std::uint64_t>(ticket->max_bytes()));
  beast::error_code ec;
  body.get().body().open(path.c_str(), beast::file_mode::write_new, ec);
  if (ec) {
    logging::get("net")->error("net.upload_file_failed req={} error=\"{}\"", request_id, ec.message());
    co_return from_error(Error(Code::internal, "the upload could not be received; see the daemon log"));
  }
  struct Remove {
    std::filesystem::path path;
    ~Remove() {
      std::error_code ignored;
      std::filesystem::remove(path, ignored);
    }
  } remove{path};
  // A slow phone on a bus may take long for a big photo, but not stall: each piece of the body
  // must arrive within the idle timeout.
  while (!body.is_done()) {
    beast::get_lowest_layer(stream).expires_after(std::chrono::seconds(cfg->idle_timeout_seconds));
    std::tie(ec, std::ignore) = co_await http::async_read_some(stream, buffer, body, tuple_awaitable);
    if (ec) co_return unreadable(ec, c.uploads.too_large(*ticket)).value_or(Answer{0});  // 0: nobody to answer
  }
  body.get().body().close();
  close = false;
  auto running = run(c.ctx, *caller, body.get(), {}, &path);
  co_return co_await std::move(running);
}

}  // namespace tourbus::net
