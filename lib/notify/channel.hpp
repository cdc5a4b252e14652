// A delivery channel: one small interface, declared here so that the planner and the dispatcher
// need nothing above notify. Each channel is one file in lib/channels/ that declares, in its
// Descriptor, everything else needs to know about it; the daemon hands the channels to the
// dispatcher, whose Catalog the planner and the API consult. No other file names a channel.
#pragma once

#include <memory>
#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

#include "core/config.hpp"
#include "core/events.hpp"
#include "notify/feed.hpp"
#include "notify/model.hpp"
#include "store/db.hpp"
#include "store/users.hpp"

namespace tourbus::notify {

// Where one job goes, resolved from its address just before delivery.
struct Destination {
  std::optional<PushSubscription> subscription;  // webpush
  std::optional<Device> device;                  // fcm, apns
};

// What the planner, the outbox, the dispatcher and the docs know of a channel.
struct Descriptor {
  std::string_view name;
  // It wakes a person: quiet hours defer it (emergencies excepted).
  bool interrupts = true;
  // "auto" considers channels by this rank, lowest first; 0: never chosen automatically.
  int auto_rank = 0;
  // Chosen automatically only for emergencies (SMS costs money).
  bool auto_emergencies_only = false;
  // The recipient's addresses on this channel, one job each; none: the user cannot be reached on it.
  std::vector<std::string> (*addresses)(store::Db& db, const store::User& user, const config::Config& c) = nullptr;
  // Re-checks a job's address against its recipient just before delivery and resolves it; nullopt:
  // the address is gone or someone else's now (the job goes dead with `gone`). May bring
  // job.address up to date (e-mail, SMS). Null: the channel has no personal addresses.
  std::optional<Destination> (*resolve)(store::Db& db, Job& job) = nullptr;
  // Removes an address the provider declared gone (Outcome::forget_address); null: nothing to remove.
  void (*forget)(store::Db& db, const Job& job) = nullptr;
  // Its keys in tourbus.toml (docs/config.md has a section for each).
  std::span<const std::string_view> config_keys{};
};

// What one job written in the store came to (channels delivered in the store, the in-app feed):
// its outcome, and a push to its user once the write has committed (or none).
struct Stored {
  Outcome outcome;
  events::EventPtr push;
};

class Channel {
 public:
  virtual ~Channel() = default;
  virtual const Descriptor& descriptor() const = 0;
  std::string_view name() const { return descriptor().name; }
  // True when the config has what this channel needs (a provider URL, keys, ...).
  virtual bool configured(const config::Config& c) const = 0;
  // Messages per second, from the config; 0: no limit.
  virtual double rate(const config::Config& c) const = 0;

  // Channels delivered in the store (the in-app feed) do it here, inside the writer's transaction,
  // for a batch; `online` says which jobs' users have a session now (they get a push). Network
  // channels return an empty vector and deliver on threads instead.
  virtual bool stored() const { return false; }
  virtual std::vector<Stored> store(store::Db&, std::span<const Job>, std::span<const char> /*online*/, std::int64_t /*now*/) {
    return {};
  }

  // One attempt, on the channel's own threads; may block on the network (libcurl). Reads the live
  // config on every call, so provider settings follow a reload. Never throws: failures are outcomes.
  virtual Outcome deliver(const Job&, const Destination&, const config::Config&) { return Outcome::retry("internal"); }
  // How many attempts one thread makes at once (deliver_all); 1: one at a time.
  virtual std::size_t concurrency() const { return 1; }
  // Several attempts at once, outcomes in the order of the jobs (used when concurrency() > 1, for
  // channels whose jobs need no Destination). By default one after the other.
  virtual std::vector<Outcome> deliver_all(std::span<const Job> jobs, const config::Config& c) {
    std::vector<Outcome> out;
    for (const auto& job : jobs) out.push_back(deliver(job, Destination{}, c));
    return out;
  }
};

// The channels the daemon runs, in "auto" order: what the planner and the API's validation consult.
class Catalog {
 public:
  void add(const Descriptor& d);
  const Descriptor* find(std::string_view name) const;
  // Every channel, lowest auto_rank first (never-automatic ones last, in the order added).
  std::span<const Descriptor* const> all() const { return list_; }
  // "inapp, webpush, ...": for messages.
  std::string names() const;

 private:
  std::vector<const Descriptor*> list_;
};

}  // namespace tourbus::notify
