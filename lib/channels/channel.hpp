// A delivery channel: one small interface, one file per channel. deliver() runs on the channel's
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

namespace tourbus::channels {

// Where one job goes, resolved from its address before delivery.
struct Destination {
  std::optional<notify::PushSubscription> subscription;  // webpush
  std::optional<notify::Device> device;                  // fcm, apns
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual std::string_view name() const = 0;
  // True when the config has what this channel needs (a provider URL, keys, ...).
  virtual bool configured(const config::Config& c) const = 0;
  // One attempt. Never throws: failures are outcomes.
  virtual notify::Outcome deliver(const notify::Job& job, const Destination& to, const config::Config& c) = 0;
  // How many attempts one thread makes at once (deliver_all); 1: one at a time.
  virtual std::size_t concurrency() const { return 1; }
  // Several attempts at once, outcomes in the order of the jobs (used when concurrency() > 1, for
  // channels whose jobs need no Destination). By default one after the other.
  virtual std::vector<notify::Outcome> deliver_all(std::span<const notify::Job> jobs, const config::Config& c) {
    std::vector<notify::Outcome> out;
    for (const auto& job : jobs) out.push_back(deliver(job, Destination{}, c));
    return out;
  }
  // Messages per second, from the config.
  virtual double rate(const config::Config& c) const = 0;
};

std::unique_ptr<Channel> make_email();
std::unique_ptr<Channel> make_sms();
std::unique_ptr<Channel> make_webhook();
std::unique_ptr<Channel> make_webpush();
std::unique_ptr<Channel> make_fcm();
std::unique_ptr<Channel> make_apns();

}  // namespace tourbus::channels
