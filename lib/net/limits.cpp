#include "net/limits.hpp"

#include <algorithm>
#include <cmath>

namespace tourbus::net {

namespace {

// Requests may come in bursts of twice the rate a second.
double burst_of(std::int64_t per_second) { return std::max<double>(2.0 * static_cast<double>(per_second), 1.0); }

}  // namespace

std::string address_key(const boost::asio::ip::address& a) {
  if (a.is_v4()) return a.to_string();
  auto v6 = a.to_v6();
  if (v6.is_v4_mapped()) return boost::asio::ip::make_address_v4(boost::asio::ip::v4_mapped, v6).to_string();
  auto bytes = v6.to_bytes();
  std::fill(bytes.begin() + 8, bytes.end(), 0);
  return boost::asio::ip::address_v6(bytes).to_string() + "/64";
}

Limits::PerIp& Limits::ip_entry(const std::string& ip) {
  if (++calls_ % 4096 == 0) prune();
  auto cfg = ctx_.config.get();
  auto it = ips_.find(ip);
  if (it == ips_.end())
    it = ips_.emplace(ip, PerIp{0, TokenBucket(burst_of(cfg->requests_per_second_per_ip)),
                                TokenBucket(static_cast<double>(cfg->auth_failures_per_minute))})
             .first;
  return it->second;
}

Limits::PerToken& Limits::token_entry(std::int64_t id) {
  if (++calls_ % 4096 == 0) prune();
  auto it = tokens_.find(id);
  if (it == tokens_.end())
    it = tokens_.emplace(id, PerToken{0, TokenBucket(burst_of(ctx_.config.get()->requests_per_second_per_token))}).first;
  return it->second;
}

bool Limits::open_connection(const std::string& ip) {
  auto max = ctx_.config.get()->max_connections_per_ip;
  auto& e = ip_entry(ip);
  if (max > 0 && e.connections >= max) {
    ctx_.stats.count(api::Limit::connections_per_ip);
    return false;
  }
  ++e.connections;
  return true;
}

void Limits::close_connection(const std::string& ip) {
  if (auto it = ips_.find(ip); it != ips_.end() && it->second.connections > 0) --it->second.connections;
}

bool Limits::request_from(const std::string& ip) {
  auto rate = ctx_.config.get()->requests_per_second_per_ip;
  if (rate == 0) return true;
  if (ip_entry(ip).requests.take(static_cast<double>(rate), burst_of(rate))) return true;
  ctx_.stats.count(api::Limit::requests_per_ip);
  return false;
}

std::int64_t Limits::auth_wait(const std::string& ip) {
  auto per_minute = ctx_.config.get()->auth_failures_per_minute;
  if (per_minute == 0) return 0;
  auto it = ips_.find(ip);
  if (it == ips_.end()) return 0;
  auto wait = it->second.auth.wait(static_cast<double>(per_minute) / 60.0);
  if (wait <= 0) return 0;
  ctx_.stats.count(api::Limit::auth_failures);
  return static_cast<std::int64_t>(std::ceil(wait));
}

void Limits::auth_failed(const std::string& ip) {
  auto per_minute = ctx_.config.get()->auth_failures_per_minute;
  if (per_minute == 0) return;
  ip_entry(ip).auth.take(static_cast<double>(per_minute) / 60.0, static_cast<double>(per_minute));
}

bool Limits::request_by_token(std::int64_t token_id) {
  auto rate = ctx_.config.get()->requests_per_second_per_token;
  if (rate == 0 || token_id == 0) return true;
  if (token_entry(token_id).requests.take(static_cast<double>(rate), burst_of(rate))) return true;
  ctx_.stats.count(api::Limit::requests_per_token);
  return false;
}

bool Limits::open_websocket(std::int64_t token_id) {
  auto max = ctx_.config.get()->max_websockets_per_token;
  if (token_id == 0) return true;
  auto& e = token_entry(token_id);
  if (max > 0 && e.websockets >= max) {
    ctx_.stats.count(api::Limit::websockets_per_token);
    return false;
  }
  ++e.websockets;
  return true;
}

void Limits::close_websocket(std::int64_t token_id) {
  if (auto it = tokens_.find(token_id); it != tokens_.end() && it->second.websockets > 0) --it->second.websockets;
}

void Limits::prune() {
  auto cfg = ctx_.config.get();
  auto now = TokenBucket::Clock::now();
  auto ip_rate = static_cast<double>(cfg->requests_per_second_per_ip);
  auto auth_rate = static_cast<double>(cfg->auth_failures_per_minute) / 60.0;
  auto token_rate = static_cast<double>(cfg->requests_per_second_per_token);
  std::erase_if(ips_, [&](const auto& kv) {
    const auto& e = kv.second;
    return e.connections == 0 && (ip_rate == 0 || e.requests.full(ip_rate, burst_of(cfg->requests_per_second_per_ip), now)) &&
           (auth_rate == 0 || e.auth.full(auth_rate, static_cast<double>(cfg->auth_failures_per_minute), now));
  });
  std::erase_if(tokens_, [&](const auto& kv) {
    const auto& e = kv.second;
    return e.websockets == 0 && (token_rate == 0 || e.requests.full(token_rate, burst_of(cfg->requests_per_second_per_token), now));
  });
}

}  // namespace tourbus::net
