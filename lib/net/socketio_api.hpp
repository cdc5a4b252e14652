// The API over Socket.IO (docs/socketio.md): tourbusd's Engine.IO server at /socket.io/ and its
// default namespace, where a client authenticates at CONNECT (auth {token} or ?access_token=),
// emits operations as events (the ack gets the reply or the error) and receives every server push
// as the event of the same name, framed once per event for all Socket.IO clients.
// On the event loop; not thread-safe.
#pragma once

#include <memory>
#include <string_view>

#include "api/context.hpp"
#include "net/limits.hpp"
#include "net/ws_connection.hpp"
#include "realtime/hub.hpp"
#include "socketio/engineio.hpp"
#include "socketio/socketio.hpp"

namespace tourbus::net {

class SocketIoApi {
 public:
  SocketIoApi(asio::any_io_executor executor, api::Context& ctx, realtime::Hub& hub, Limits& limits);
  ~SocketIoApi();

  // Socket.IO is served (socketio.transports is not empty).
  bool enabled() const;
  // The request is for the Engine.IO path.
  static bool is_path(std::string_view target);
  eio::Server& engine() { return engine_; }
  // Settings of the WebSocket connections carrying sessions.
  WsSettings ws_settings() const;
  // Takes the config in force for sessions opened from now on.
  void configure();
  // Shutdown: every session is told and closed.
  void close_all();

 private:
  class Default;
  api::Context& ctx_;
  std::unique_ptr<Default> default_;
  sio::Server sio_;
  eio::Server engine_;
};

}  // namespace tourbus::net
