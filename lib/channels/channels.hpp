// The delivery channels, one file each; the daemon hands them to the dispatcher.
#pragma once

#include <memory>

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

}  // namespace tourbus::channels
