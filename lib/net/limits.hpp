// Abuse limits of the TCP listener, kept per client address and per token: open connections,
// WebSockets, request rates and failed authentications (docs/config.md, "Abuse limits"). The
// control socket is not limited. Each refusal is counted in /metrics (api::Limit). Runs on the
// event loop; not thread-safe.
#pragma once

#include <chrono>
#include <cstdint>
#include <string>
#include <unordered_map>

#include <boost/asio/ip/address.hpp>

#include "api/context.hpp"
#include "core/rate.hpp"

namespace tourbus::net {

// The key a client address is limited under: an IPv4 address as it is (also when it arrives
// IPv4-mapped, ::ffff:a.b.c.d), an IPv6 address by its /64, since one host or home usually holds
// a whole /64 and could otherwise take a new address for every connection.
std::string address_key(const boost::asio::ip::address& a);

class Limits {
 public:
  explicit Limits(api::Context& ctx) : ctx_(ctx) {}

  // A TCP connection from `ip` opens; false (and counted) beyond server.max_connections_per_ip.
  bool open_connection(const std::string& ip);
  void close_connection(const std::string& ip);
  // A request from `ip`; false (and counted) beyond server.requests_per_second_per_ip.
  bool request_from(const std::string& ip);
  // Seconds `ip` must wait before it may try a token again (0: it may now). While it waits, its
  // requests are refused before any token is looked at (server.auth_failures_per_minute).
  std::int64_t auth_wait(const std::string& ip);
  void auth_failed(const std::string& ip);
  // An authenticated HTTP request; false (and counted) beyond server.requests_per_second_per_token.
  bool request_by_token(std::int64_t token_id);
  // A WebSocket session opens on a token; false (and counted) beyond server.max_websockets_per_token.
  bool open_websocket(std::int64_t token_id);
  void close_websocket(std::int64_t token_id);

 private:
  struct PerIp {
    std::int64_t connections = 0;
    TokenBucket requests, auth;
  };
  struct PerToken {
    std::int64_t websockets = 0;
    TokenBucket requests;
  };
  PerIp& ip_entry(const std::string& ip);
  PerToken& token_entry(std::int64_t id);
  // Forgets addresses and tokens that hold nothing any more (every few thousand calls).
  void prune();

  api::Context& ctx_;
  std::unordered_map<std::string, PerIp> ips_;
  std::unordered_map<std::int64_t, PerToken> tokens_;
  std::uint64_t calls_ = 0;
};

}  // namespace tourbus::net
