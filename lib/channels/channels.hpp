// The delivery channels, one file each; the daemon hands them to the dispatcher.
#pragma once

#include <memory>
#include <string>
#include <string_view>

#include "notify/channel.hpp"

namespace tourbus::channels {

using notify::Channel;
using notify::Destination;

// In "auto" order of their descriptors: the in-app feed first.
std::unique_ptr<notify::Channel> make_inapp();
std::unique_ptr<notify::Channel> make_email();
std::unique_ptr<notify::Channel> make_sms();
std::unique_ptr<notify::Channel> make_webhook();
std::unique_ptr<notify::Channel> make_webpush();
std::unique_ptr<notify::Channel> make_fcm();
std::unique_ptr<notify::Channel> make_apns();

// At most `max` bytes of s (max >= 3), cut at a UTF-8 character boundary, with "…" (3 bytes,
// counted in max) marking a cut: what push notifications show is cut to fit.
std::string clip_utf8(std::string_view s, std::size_t max);

}  // namespace tourbus::channels
