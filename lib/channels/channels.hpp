// The delivery channels, one file each; the daemon hands them to the dispatcher.
#pragma once

#include <memory>
#include <string>
#include <string_view>
#include <vector>

#include "notify/channel.hpp"

namespace tourbus::channels {

using notify::Channel;
using notify::Destination;

// Every channel, for the daemon to hand to the dispatcher (the Catalog orders them for "auto").
std::vector<std::unique_ptr<notify::Channel>> make_all();

std::unique_ptr<notify::Channel> make_inapp();
std::unique_ptr<notify::Channel> make_email();
std::unique_ptr<notify::Channel> make_sms();
std::unique_ptr<notify::Channel> make_webhook();
std::unique_ptr<notify::Channel> make_webpush();
std::unique_ptr<notify::Channel> make_fcm();
std::unique_ptr<notify::Channel> make_apns();

// E-mail and SMS go to a contact the user keeps in their profile (Field: User::email or
// User::phone): its one address, and at delivery the contact as the user has it now (a job made
// before the user changed it goes to the new one; none left: gone).
template <std::optional<std::string> store::User::*Field>
std::vector<std::string> contact_addresses(store::Db&, const store::User& u, const config::Config&) {
  if (!(u.*Field)) return {};
  return {*(u.*Field)};
}

template <std::optional<std::string> store::User::*Field>
std::optional<notify::Destination> contact_resolve(store::Db& db, notify::Job& job) {
  auto u = store::users::find_id(db, job.user_id);
  if (!u || !((*u).*Field)) return std::nullopt;
  job.address = *((*u).*Field);
  return notify::Destination{};
}

// At most `max` bytes of s (max >= 3), cut at a UTF-8 character boundary, with "…" (3 bytes,
// counted in max) marking a cut: what push notifications show is cut to fit.
std::string clip_utf8(std::string_view s, std::size_t max);

}  // namespace tourbus::channels
