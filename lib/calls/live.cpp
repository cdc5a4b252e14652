#include "calls/live.hpp"

#include <algorithm>

namespace tourbus::calls {

std::string score(const Sample& s, bool video) {
  bool poor = s.loss_percent >= 10 || s.rtt_ms > 400 || (video && (s.fps < 8 || s.bitrate_kbps < 60));
  if (poor) return "poor";
  bool fair = s.loss_percent >= 3 || s.rtt_ms > 250 || (video && (s.fps < 15 || s.bitrate_kbps < 150));
  return fair ? "fair" : "good";
}

void add(Quality& q, const Sample& s, bool video) {
  auto n = static_cast<double>(q.samples);
  auto mean = [&](std::optional<double>& m, double x) { m = (m.value_or(0) * n + x) / (n + 1); };
  mean(q.rtt_ms, s.rtt_ms);
  mean(q.loss_percent, s.loss_percent);
  mean(q.bitrate_kbps, s.bitrate_kbps);
  mean(q.fps, s.fps);
  q.height = s.height;
  ++q.samples;
  q.score = score(s, video);
  auto rank = [](const std::optional<std::string>& x) { return !x ? -1 : *x == "poor" ? 2 : *x == "fair" ? 1 : 0; };
  if (rank(q.score) > rank(q.worst_score)) q.worst_score = q.score;
}

LiveMember* Live::member(std::int64_t user) {
  for (auto& m : members)
    if (m.user == user) return &m;
  return nullptr;
}

LiveMember* Live::member(const std::string& handle) {
  for (auto& m : members)
    if (m.handle == handle) return &m;
  return nullptr;
}

std::size_t Live::count(const std::string& state) const {
  return static_cast<std::size_t>(std::count_if(members.begin(), members.end(), [&](const auto& m) { return m.state == state; }));
}

std::vector<std::int64_t> Live::users(const std::string& state) const {
  std::vector<std::int64_t> out;
  for (const auto& m : members)
    if (m.state == state) out.push_back(m.user);
  return out;
}

Live& Registry::add(Live call) {
  auto id = call.id;
  return calls_.insert_or_assign(id, std::move(call)).first->second;
}

Live* Registry::find(std::int64_t id) {
  auto it = calls_.find(id);
  return it == calls_.end() ? nullptr : &it->second;
}

void Registry::remove(std::int64_t id) {
  if (auto it = calls_.find(id); it != calls_.end()) {
    if (it->second.ring_timer) it->second.ring_timer->cancel();
    calls_.erase(it);
  }
}

Live* Registry::engaged(std::int64_t user, std::int64_t except) {
  for (auto& [id, c] : calls_) {
    if (id == except) continue;
    if (auto* m = c.member(user); m && m->state == "joined") return &c;
  }
  return nullptr;
}

std::vector<std::int64_t> Registry::joined_by(std::int64_t user, std::uint64_t session) {
  std::vector<std::int64_t> out;
  for (auto& [id, c] : calls_)
    if (auto* m = c.member(user); m && m->state == "joined" && m->session == session) out.push_back(id);
  return out;
}

std::size_t Registry::active() const {
  return static_cast<std::size_t>(
      std::count_if(calls_.begin(), calls_.end(), [](const auto& kv) { return kv.second.answered_at.has_value(); }));
}

}  // namespace tourbus::calls
