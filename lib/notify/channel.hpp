// A delivery channel: one small interface, declared here so the dispatcher needs nothing above
// notify; each channel is one file in lib/channels/ (channels/channels.hpp makes them). deliver() runs on the channel's
// own threads and may block on the network (libcurl); it reads the live config on every call, so
// provider settings follow a reload.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "notify/feed.hpp"
#include "notify/model.hpp"

namespace tourbus::notify {

// Where one job goes, resolved from its address before delivery.
struct Destination {
  std::optional<PushSubscription> subscription;  // webpush
  std::optional<Device> device;                  // fcm, apns
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string_view name() const = 0;
  // True when the config has what this channel needs (a provider URL, keys, ...).
  virtual bool configured(const config::Config& c) const = 0;
  // One attempt. Never throws: failures are outcomes.
  virtual Outcome deliver(const Job& job, const Destination& to, const config::Config& c) = 0;
  // How many attempts one thread makes at once (deliver_all); 1: one at a time.
  virtual std::size_t concurrency() const { return 1; }
  // Several attempts at once, outcomes in the order of the jobs (used when concurrency() > 1, for
  // channels whose jobs need no Destination). By default one after the other.
  virtual std::vector<Outcome> deliver_all(std::span<const Job> jobs, const config::Config& c) {
    std::vector<Outcome> out;
    for (const auto& job : jobs) out.push_back(deliver(job, Destination{}, c));
    return out;
  }
  // Messages per second, from the config.
  virtual double rate(const config::Config& c) const = 0;
};


}  // namespace tourbus::notify
