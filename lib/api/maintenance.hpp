// Housekeeping the daemon runs on a timer.
#pragma once

#include <cstdint>
#include <vector>

#include <boost/asio/awaitable.hpp>

#include "api/context.hpp"

namespace tourbus::api {

// Deletes uploads older than files.retention_days (none when it is 0) and their blobs once no
// file refers to them. Messages that shared them then show the file as expired.
boost::asio::awaitable<void> expire_files(Context& ctx);
// Deletes positions older than location.retention_hours, then folds the WAL into the file so the
// deleted rows (overwritten: secure_delete) are gone from both files.
boost::asio::awaitable<void> expire_locations(Context& ctx);
// Keeps the Janus sessions of the previews on air alive (every 20 s) while tourbusd runs.
boost::asio::awaitable<void> keep_previews_alive(Context& ctx);
// Previews a stopped daemon left live (ended at start-up): their rooms go and what Janus recorded
// for them is converted and stored.
boost::asio::awaitable<void> recover_previews(Context& ctx, std::vector<std::int64_t> ended);

}  // namespace tourbus::api
