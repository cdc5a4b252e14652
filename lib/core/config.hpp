// tourbusd configuration: one table of keys (type, default, limits, reloadable) drives parsing,
// validation, `tourbusd --check-config`, the man page check and examples/tourbus.toml.
#pragma once

#include <cstdint>
#include <filesystem>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <variant>
#include <vector>

#include "core/error.hpp"

namespace tourbus::config {

struct Config {
  std::string state_dir = "./tourbus-data";
  std::string listen = "127.0.0.1:3001";
  std::string socket;        // empty: <state_dir>/tourbusd.sock
  std::string socket_group;  // empty: the daemon's own group
  std::string tls_certificate, tls_key;  // both empty: plain HTTP on the TCP listener
  std::int64_t max_body_bytes = 1 << 20;
  std::int64_t max_connections = 4096;
  std::int64_t fd_reserve = 64;
  std::int64_t idle_timeout_seconds = 60;
  std::int64_t header_timeout_seconds = 10;
  // Abuse limits (0: none).
  std::int64_t max_connections_per_ip = 512;
  std::int64_t max_websockets_per_token = 32;
  std::int64_t requests_per_second_per_ip = 200;
  std::int64_t requests_per_second_per_token = 50;
  std::int64_t auth_failures_per_minute = 30;
  std::int64_t shutdown_grace_seconds = 10;
  std::string log_level = "info";
  std::string synchronous = "full";
  std::int64_t max_batch = 256;
  std::int64_t read_connections = 4;
  // Several nodes on one PostgreSQL store (docs/scaling.md).
  std::string cluster_postgres, cluster_postgres_password, cluster_node, cluster_nats;
  std::int64_t token_ttl_days = 90;
  std::int64_t ws_max_frame_bytes = 64 * 1024;
  std::int64_t ws_send_queue_frames = 1024;
  std::int64_t ws_send_queue_bytes = 8 << 20;
  std::int64_t ws_idle_timeout_seconds = 60;
  std::int64_t ws_events_per_second = 20;
  std::int64_t ws_event_burst = 40;
  std::string sio_transports = "polling,websocket";  // empty: no Socket.IO
  std::int64_t sio_ping_interval_ms = 25000;
  std::int64_t sio_ping_timeout_ms = 20000;
  std::int64_t sio_max_payload_bytes = 1000000;
  std::int64_t sio_connect_timeout_ms = 45000;
  std::string sio_cors_origins;
  std::int64_t sio_recovery_seconds = 120;
  std::string review_template = "review_request";
  std::int64_t review_after_minutes = 120;
  std::int64_t review_nudges = 1;
  std::int64_t review_nudge_every_hours = 72;
  std::string review_url;
  std::string public_url;
  std::int64_t campaign_rate_per_second = 10;
  std::int64_t campaign_window_max = 0;
  std::int64_t campaign_window_minutes = 60;
  std::int64_t campaign_max_per_user = 1;
  std::int64_t campaign_cap_days = 7;
  std::string campaign_cap_categories = "marketing";
  std::string campaign_quiet_hours = "21:00-09:00";
  std::string campaign_tracking = "off";
  // Safety (docs/safety.md).
  std::int64_t location_window_before_minutes = 60;
  std::int64_t location_window_after_minutes = 60;
  std::int64_t location_min_interval_ms = 1000;
  std::int64_t location_retention_hours = 24;
  std::int64_t location_straggler_meters = 500;
  std::int64_t location_straggler_seconds = 300;
  std::int64_t location_geofence_meters = 150;
  std::int64_t alert_max_location_age_minutes = 60;
  std::int64_t alert_escalate_after_seconds = 300;
  std::int64_t alert_link_hours = 72;
  std::int64_t alert_batch_size = 1000;
  std::int64_t sos_ring_seconds = 60;
  // Translation (docs/translation.md).
  std::string translate_providers = "apertium", translate_routes, translate_pivots = "es,en",
              translate_apertium_url = "http://127.0.0.1:2737", translate_libretranslate_url, translate_libretranslate_key,
              translate_deepl_url = "https://api-free.deepl.com", translate_deepl_key;
  std::int64_t translate_timeout_ms = 5000;
  std::int64_t translate_workers = 4;
  std::int64_t translate_cache_entries = 10'000;
  std::int64_t translate_max_attempts = 6;
  std::int64_t translate_retry_base_ms = 5'000;
  std::int64_t translate_retry_max_ms = 600'000;
  std::int64_t translate_emergency_wait_ms = 1'000;
  // Calls (docs/calls.md).
  std::int64_t calls_ring_seconds = 45;
  std::int64_t calls_max_members = 4;
  std::string calls_stun_urls, calls_turn_urls, calls_turn_secret;
  std::int64_t calls_turn_ttl_seconds = 3600;
  std::int64_t calls_stats_interval_ms = 1000;
  // Tour previews and recordings through Janus (docs/previews.md).
  std::string calls_janus_url, calls_janus_admin_key, calls_janus_api_secret, calls_janus_recordings_dir;
  std::string calls_janus_pp_rec = "janus-pp-rec";
  std::int64_t calls_preview_max_viewers = 50;
  std::int64_t chat_max_text_bytes = 4096;
  std::int64_t chat_history_page = 200;
  std::int64_t chat_max_group_members = 1000;
  std::string files_path;  // files.dir as set (files_dir() gives the one in use)
  std::int64_t files_max_bytes = 20 << 20;
  std::int64_t files_retention_days = 365;
  std::int64_t files_max_uploads = 64;
  std::int64_t files_max_uploads_per_user = 4;
  std::int64_t files_max_bytes_per_user_per_day = 1LL << 30;
  std::int64_t files_uploads_per_user_per_hour = 240;
  // Notifications.
  std::string notify_templates_dir;  // empty: templates/ beside the config file, or under state_dir
  std::string notify_default_language = "en";
  std::int64_t notify_max_attempts = 8;
  std::int64_t notify_retry_base_ms = 30'000;
  std::int64_t notify_retry_max_ms = 3'600'000;
  std::int64_t notify_workers = 4;
  std::int64_t notify_timeout_seconds = 30;
  std::string notify_ca_file;
  std::string email_smtp_url, email_starttls = "required", email_username, email_password, email_from,
      email_unsubscribe_url;
  std::int64_t email_rate = 10;
  std::string sms_provider, sms_url, sms_account_sid, sms_auth_token, sms_from;
  std::int64_t sms_rate = 10;
  std::string webhook_url, webhook_secret;
  std::int64_t webhook_rate = 50;
  std::string webpush_public_key, webpush_private_key, webpush_subject;
  std::int64_t webpush_ttl_seconds = 86400;
  std::string webpush_endpoint_hosts =
      "fcm.googleapis.com,updates.push.services.mozilla.com,push.services.mozilla.com,notify.windows.com,push.apple.com";
  std::int64_t webpush_rate = 100;
  std::string fcm_service_account_file, fcm_url = "https://fcm.googleapis.com";
  std::int64_t fcm_rate = 100;
  std::string apns_key_file, apns_key_id, apns_team_id, apns_topic, apns_url = "https://api.push.apple.com";
  std::int64_t apns_rate = 100;
  std::string config_dir;  // set by the loader: the config file's directory (not a key)

  // Derived paths.
  std::filesystem::path socket_path() const;
  std::filesystem::path database_path() const;
  std::filesystem::path files_dir() const;
  std::filesystem::path templates_dir() const;
};

using Member = std::variant<std::string Config::*, std::int64_t Config::*>;

struct Key {
  std::string_view name;  // dotted TOML path, e.g. "server.listen"
  Member member;
  std::int64_t min = 0, max = 0;                // integers only
  std::span<const std::string_view> choices{};  // strings with a fixed set of values
  bool reloadable = false;
  std::string_view help;
  bool secret = false;  // never printed (--check-config shows whether it is set)
  // May come from a systemd credential of the key's name ($CREDENTIALS_DIRECTORY/<name>): its
  // contents (value) or its path (file).
  enum class Credential { none, value, file };
  Credential credential = Credential::none;
};

// Every key tourbusd understands, in documentation order.
std::span<const Key> keys();
const Key* find_key(std::string_view name);
// The value of an integer key in `c` (0 for a key that is not an integer).
std::int64_t int_value(const Config& c, std::string_view name);
// The default value of a key, rendered as TOML.
std::string default_as_toml(const Key& key);

// Parses a TOML file over `base` (defaults or command-line values), then takes the keys that have a
// credential in `credentials` (systemd's $CREDENTIALS_DIRECTORY; empty: none), then validates.
// Errors name file, line and key.
Result<Config> load_file(const std::filesystem::path& file, Config base = {},
                         const std::filesystem::path& credentials = {});
// The same checks on TOML text (`name` stands for the file in errors), without credentials.
Result<Config> parse_text(std::string_view text, const std::filesystem::path& name, Config base = {});
// Sets each credential key from the file of its name in `dir`, if there is one: its contents
// (one trailing newline dropped) or, for file keys, its path. A key also set in the config is an
// error (one place per secret).
Status apply_credentials(Config& c, const std::filesystem::path& dir);
// Checks values that need more than a type and range check (listen address syntax, ...).
Status validate(const Config& config);
// The items of a comma-separated list value, trimmed, empty ones left out.
std::vector<std::string_view> split_list(std::string_view list);
// Names of keys whose values differ between two configs.
std::vector<std::string_view> changed_keys(const Config& a, const Config& b);

// Splits "host:port" ("[::1]:3001" for IPv6). Port 0 asks the kernel for a free port.
Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text);

// TCP connections accepted at most: server.max_connections, but never so many that fewer than
// server.fd_reserve descriptors of the open-file limit `fd_limit` stay free (0: no limit known).
std::int64_t connection_limit(const Config& c, std::int64_t fd_limit);

}  // namespace tourbus::config

namespace tourbus::config {

// The live configuration: readers take a snapshot; reload swaps in a new immutable one.
class Holder {
 public:
  explicit Holder(Config c) : current_(std::make_shared<const Config>(std::move(c))) {}
  std::shared_ptr<const Config> get() const {
    std::lock_guard lock(mutex_);
    return current_;
  }
  void set(Config c) {
    auto next = std::make_shared<const Config>(std::move(c));
    std::lock_guard lock(mutex_);
    current_ = std::move(next);
  }

 private:
  mutable std::mutex mutex_;
  std::shared_ptr<const Config> current_;
};

}  // namespace tourbus::config
