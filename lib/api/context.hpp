// What operations work with: the store, the live config, counters, and the daemon's controls.
// Built by the daemon's composition root and handed to the transports.
#pragma once

#include <atomic>
#include <cstdint>
#include <filesystem>
#include <mutex>
#include <string>

#include <boost/asio/any_io_executor.hpp>
#include <boost/json/value.hpp>

#include "chat/files.hpp"
#include "core/config.hpp"
#include "core/events.hpp"
#include "core/sessions.hpp"
#include "core/error.hpp"
#include "store/read_pool.hpp"
#include "store/writer.hpp"

namespace tourbus::notify {
class Dispatcher;
}
namespace tourbus::safety {
class Runner;
class Tracker;
}
namespace tourbus::calls {
class Registry;
class PreviewRegistry;
}
namespace tourbus::realtime {
class Relay;
}
namespace tourbus::translate {
class Runner;
class Translator;
}
namespace tourbus::schedule {
class Scheduler;
class CampaignRunner;
}

namespace tourbus::api {

// The abuse limits (docs/config.md): each refusal is counted under its name in /metrics.
enum class Limit {
  connections_per_ip,    // server.max_connections_per_ip
  requests_per_ip,       // server.requests_per_second_per_ip
  requests_per_token,    // server.requests_per_second_per_token
  websockets_per_token,  // server.max_websockets_per_token
  auth_failures,         // server.auth_failures_per_minute
  header_timeout,        // server.header_timeout_seconds (slow or half-open requests)
  ws_events,             // websocket.events_per_second
  ws_send_queue,         // websocket.send_queue_frames, websocket.send_queue_bytes
  uploads_per_user,      // files.max_uploads_per_user
  uploads_total,         // files.max_uploads
  upload_bytes_per_day,  // files.max_bytes_per_user_per_day
  uploads_per_hour,      // files.uploads_per_user_per_hour
  group_members,         // chat.max_group_members
};
// Each limit's name in /metrics and the config key that sets it.
struct LimitInfo {
  std::string_view name, key;
};
inline constexpr LimitInfo kLimits[] = {
    {"connections_per_ip", "server.max_connections_per_ip"},
    {"requests_per_ip", "server.requests_per_second_per_ip"},
    {"requests_per_token", "server.requests_per_second_per_token"},
    {"websockets_per_token", "server.max_websockets_per_token"},
    {"auth_failures", "server.auth_failures_per_minute"},
    {"header_timeout", "server.header_timeout_seconds"},
    {"ws_events", "websocket.events_per_second"},
    {"ws_send_queue", "websocket.send_queue_bytes"},
    {"uploads_per_user", "files.max_uploads_per_user"},
    {"uploads_total", "files.max_uploads"},
    {"upload_bytes_per_day", "files.max_bytes_per_user_per_day"},
    {"uploads_per_hour", "files.uploads_per_user_per_hour"},
    {"group_members", "chat.max_group_members"},
};

// Counters the transports update and status/metrics read.
struct Stats {
  std::atomic<std::int64_t> tcp_connections{0};
  std::atomic<std::int64_t> unix_connections{0};
  std::atomic<std::int64_t> websocket_connections{0};
  std::atomic<std::int64_t> socketio_connections{0};  // clients in the Socket.IO default namespace
  std::atomic<std::uint64_t> requests{0};
  std::atomic<std::uint64_t> requests_4xx{0};
  std::atomic<std::uint64_t> requests_5xx{0};
  std::atomic<std::uint64_t> rejected_connections{0};   // server.max_connections or the descriptor reserve
  std::atomic<std::uint64_t> accept_failures{0};        // accept() failed (EMFILE, ENFILE, ...)
  std::atomic<std::int64_t> fd_limit{0};                // RLIMIT_NOFILE soft limit in force
  std::atomic<std::int64_t> in_flight{0};
  std::atomic<std::int64_t> uploads{0};                 // uploads being received
  std::atomic<std::uint64_t> limited[std::size(kLimits)]{};

  void count(Limit l) { ++limited[static_cast<std::size_t>(l)]; }

  void set_listen_address(std::string a) {
    std::lock_guard lock(mutex);
    listen_address = std::move(a);
  }
  std::string get_listen_address() {
    std::lock_guard lock(mutex);
    return listen_address;
  }

 private:
  std::mutex mutex;
  std::string listen_address;
};

// Daemon-level actions an operation may trigger. Implemented by daemon/.
class Control {
 public:
  virtual ~Control() = default;
  // Re-reads the config file, validates and swaps it (the same path as SIGHUP).
  // Returns the keys that changed, or why the old config was kept.
  virtual Result<boost::json::value> reload() = 0;
};

struct Context {
  // Runs work that may take long (backups) off the event loop.
  boost::asio::any_io_executor blocking;
  store::Writer& writer;
  store::ReadPool& reads;
  config::Holder& config;
  Stats& stats;
  Control& control;
  // Tells online clients about new messages, receipts, presence (implemented by realtime/).
  events::Sink& events;
  // Takes rights away from open sessions at once (revocation; implemented by realtime/).
  sessions::Control& sessions;
  store::Target store;  // where the data lives: the SQLite file or the PostgreSQL database
  std::string node;     // this node's name (cluster.node, else the host name)
  std::filesystem::path files_dir;  // uploads, content-addressed
  chat::Sniffer& sniffer;
  std::int64_t started_at = 0;  // ms since the epoch
  // The notification workers: woken when jobs are committed. Null when not running (tests).
  notify::Dispatcher* notify = nullptr;
  // The scheduler: woken when schedules, firings or tours change. Null when not running (tests).
  schedule::Scheduler* scheduler = nullptr;
  schedule::CampaignRunner* campaigns = nullptr;
  // Safety: sends alerts, escalates, rings SOS calls (null in tests); what live positions mean.
  safety::Runner* safety = nullptr;
  safety::Tracker* tracker = nullptr;
  // Translation: the engines, and the runner that translates committed messages (null in tests).
  translate::Translator* translator = nullptr;
  translate::Runner* translation = nullptr;
  // Calls under way (null in tests), and the event loop they and the sessions live on.
  calls::Registry* calls = nullptr;
  // Tour previews on air: their viewers and Janus sessions (null in tests).
  calls::PreviewRegistry* previews = nullptr;
  boost::asio::any_io_executor loop;
  // The key signing the links in messages (unsubscribe, review): made once, kept in the store.
  std::string link_key;
  // Whether this node leads its cluster (store::Leader; null in tests: the only node).
  const std::atomic<bool>* leading = nullptr;
  // Whether this node is connected to NATS (cluster.nats; null: not configured).
  const std::atomic<bool>* nats_connected = nullptr;
  // Pushes, presence and questions between nodes (cluster.nats; null: not configured).
  realtime::Relay* relay = nullptr;
};

}  // namespace tourbus::api
