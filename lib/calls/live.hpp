// Calls under way, on the daemon's event loop: who is ringing, who joined with which session
// (device), the ring timer, and the running quality summary. The store keeps the record; this
// keeps what only matters while the call lasts (sessions are not worth storing: a restart ends
// every call, records::fail_open). Not thread-safe.
#pragma once

#include <cstdint>
#include <map>
#include <memory>
#include <optional>
#include <string>
#include <vector>

#include <boost/asio/steady_timer.hpp>

#include "calls/records.hpp"

namespace tourbus::calls {

// One getStats() summary from a member (call.stats).
struct Sample {
  double rtt_ms = 0, loss_percent = 0, bitrate_kbps = 0, fps = 0;
  std::int64_t height = 0;
};

// good, fair or poor for one sample: poor when a tenth of packets is lost, the round trip is over
// 400 ms, or video runs under 8 fps or 60 kbit/s; fair from 3% loss, over 250 ms, under 15 fps
// or under 150 kbit/s (a small phone picture still moves well above that); good otherwise.
// (Audio-only calls look at loss and round trip alone.)
std::string score(const Sample& s, bool video);
// Adds a sample to a summary: running means, the latest score and the worst so far.
void add(Quality& q, const Sample& s, bool video);

struct LiveMember {
  std::int64_t user = 0;
  std::string handle;
  std::string state;          // invited, joined, declined, busy, missed, left, cancelled
  std::uint64_t session = 0;  // the device that joined
  bool rang = false;          // a device said it is ringing
  std::int64_t last_stats = 0;
};

struct Live {
  std::int64_t id = 0, conversation = 0, caller = 0;
  std::string caller_handle, conversation_title;
  bool video = true;
  // An SOS's video call to the operators on duty: the first to answer takes it, the others stop
  // ringing; unanswered, the SOS rings again at once.
  std::optional<std::int64_t> sos;
  std::int64_t started_at = 0;
  std::optional<std::int64_t> answered_at;
  std::vector<LiveMember> members;  // the caller first
  std::shared_ptr<boost::asio::steady_timer> ring_timer;
  Quality quality;

  LiveMember* member(std::int64_t user);
  LiveMember* member(const std::string& handle);
  std::size_t count(const std::string& state) const;
  std::vector<std::int64_t> users(const std::string& state) const;
};

class Registry {
 public:
  Live& add(Live call);
  Live* find(std::int64_t id);
  void remove(std::int64_t id);
  // The call the user is in (joined), other than `except`: they are busy.
  Live* engaged(std::int64_t user, std::int64_t except = 0);
  // The calls a session joined.
  std::vector<std::int64_t> joined_by(std::int64_t user, std::uint64_t session);
  std::size_t size() const { return calls_.size(); }
  const std::map<std::int64_t, Live>& all() const { return calls_; }
  std::size_t active() const;

 private:
  std::map<std::int64_t, Live> calls_;
};

}  // namespace tourbus::calls
