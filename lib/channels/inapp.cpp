// The in-app channel: a notification becomes an item in the user's feed (feed.list), written in
// the store with the attempt, in one transaction for a whole batch, then pushed as a
// `notification` event to the user's open sessions. It needs no thread and no provider.
#include "channels/channels.hpp"
#include "core/time.hpp"
#include "notify/feed.hpp"
#include "notify/outbox.hpp"

namespace tourbus::channels {
namespace {

// Every user has a feed: one job each, with no address.
std::vector<std::string> inapp_addresses(store::Db&, const store::User&, const config::Config&) { return {""}; }

const notify::Descriptor kInApp{.name = "inapp", .interrupts = false, .auto_rank = 1, .addresses = inapp_addresses};

class InApp : public Channel {
 public:
  const notify::Descriptor& descriptor() const override { return kInApp; }
  bool configured(const config::Config&) const override { return true; }
  double rate(const config::Config&) const override { return 0; }
  bool stored() const override { return true; }

  std::vector<notify::Stored> store(store::Db& db, std::span<const notify::Job> jobs, std::span<const char> online,
                                    std::int64_t now) override {
    std::vector<notify::Stored> out;
    out.reserve(jobs.size());
    for (std::size_t i = 0; i < jobs.size(); ++i) {
      const auto& job = jobs[i];
      notify::FeedItem item{0, job.user_id, job.notification_id, job.category,
                            job.subject.empty() ? clip_utf8(job.body, 120) : job.subject, job.body, now, {}};
      item = notify::feed::insert(db, item);
      auto outcome = notify::Outcome::delivered("stored", "feed item " + std::to_string(item.id));
      events::EventPtr push;
      // Only users online get a push, with their unread count as this transaction leaves it.
      if (online[i])
        push = events::push("notification", notify::feed::push_data(item, notify::feed::unread(db, job.user_id)));
      out.push_back({std::move(outcome), std::move(push)});
    }
    return out;
  }
};

}  // namespace

std::unique_ptr<Channel> make_inapp() { return std::make_unique<InApp>(); }

std::vector<std::unique_ptr<Channel>> make_all() {
  std::vector<std::unique_ptr<Channel>> all;
  all.push_back(make_inapp());
  all.push_back(make_email());
  all.push_back(make_sms());
  all.push_back(make_webhook());
  all.push_back(make_webpush());
  all.push_back(make_fcm());
  all.push_back(make_apns());
  return all;
}

}  // namespace tourbus::channels
