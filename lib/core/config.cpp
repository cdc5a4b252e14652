#include "core/config.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <charconv>
#include <fstream>
#include <sstream>
#include <toml++/toml.h>

#include "core/validate.hpp"

namespace tourbus::config {
namespace {

constexpr std::array<std::string_view, 5> kLevels{"trace", "debug", "info", "warn", "error"};
constexpr std::array<std::string_view, 2> kSynchronous{"full", "normal"};
constexpr std::array<std::string_view, 2> kStarttls{"required", "off"};
constexpr std::array<std::string_view, 3> kSmsProviders{"", "twilio", "webhook"};
constexpr std::array<std::string_view, 2> kOnOff{"off", "on"};

const std::array kKeys{
    Key{"state_dir", &Config::state_dir, 0, 0, {}, false,
        "Directory holding tourbus.db, its WAL, the lock file and (by default) the control socket."},
    Key{"server.listen", &Config::listen, 0, 0, {}, false,
        "HTTP listener, HOST:PORT ([::1]:PORT for IPv6; port 0 picks a free port)."},
    Key{"server.socket", &Config::socket, 0, 0, {}, false,
        "Control socket path (operator rights). Empty means <state_dir>/tourbusd.sock."},
    Key{"server.socket_group", &Config::socket_group, 0, 0, {}, false,
        "Group owning the control socket (mode 0660); its members may use the tourbus CLI. Empty keeps the daemon's group."},
    Key{"server.tls_certificate", &Config::tls_certificate, 0, 0, {}, true,
        "PEM certificate chain for the TCP listener; with server.tls_key it serves HTTPS and wss://. Empty: plain HTTP. Re-read on reload (certificate renewal); new connections use it."},
    Key{"server.tls_key", &Config::tls_key, 0, 0, {}, true,
        "PEM private key of server.tls_certificate. Keep it readable by the daemon's user only.", false, Key::Credential::file},
    Key{"server.max_body_bytes", &Config::max_body_bytes, 1024, 64 << 20, {}, true,
        "Largest accepted request body in bytes; larger requests get payload_too_large."},
    Key{"server.max_connections", &Config::max_connections, 1, 1'000'000, {}, true,
        "Most simultaneous TCP connections; further ones are closed at once. The control socket is not limited."},
    Key{"server.fd_reserve", &Config::fd_reserve, 16, 100'000, {}, true,
        "File descriptors kept free for the control socket, open connections, files and deliveries: TCP connections are refused before the open-file limit is this close."},
    Key{"server.idle_timeout_seconds", &Config::idle_timeout_seconds, 1, 86400, {}, true,
        "An HTTP connection idle (or sending a request) this long is closed."},
    Key{"server.header_timeout_seconds", &Config::header_timeout_seconds, 1, 3600, {}, true,
        "A request's headers must arrive within this many seconds of its first byte (of the connection, for the first request): slow or half-open requests cannot hold connections."},
    Key{"server.max_connections_per_ip", &Config::max_connections_per_ip, 0, 1'000'000, {}, true,
        "Most simultaneous TCP connections from one client address; further ones are closed at once. 0: no limit (behind a reverse proxy every client has its address)."},
    Key{"server.max_websockets_per_token", &Config::max_websockets_per_token, 0, 100'000, {}, true,
        "Most WebSocket sessions open at once on one token; a further upgrade gets rate_limited. 0: no limit."},
    Key{"server.requests_per_second_per_ip", &Config::requests_per_second_per_ip, 0, 1'000'000, {}, true,
        "Sustained HTTP requests a second from one client address (bursts of twice as many); faster ones get rate_limited before any token is looked at. 0: no limit."},
    Key{"server.requests_per_second_per_token", &Config::requests_per_second_per_token, 0, 1'000'000, {}, true,
        "Sustained HTTP requests a second on one token (bursts of twice as many); faster ones get rate_limited. 0: no limit."},
    Key{"server.auth_failures_per_minute", &Config::auth_failures_per_minute, 0, 1'000'000, {}, true,
        "Failed authentications one client address may make a minute (all at once, then one every 60/N seconds); beyond, its requests get rate_limited until it may try again. 0: no limit."},
    Key{"server.shutdown_grace_seconds", &Config::shutdown_grace_seconds, 0, 3600, {}, true,
        "On SIGTERM, how long in-flight requests may run before the daemon stops anyway."},
    Key{"log.level", &Config::log_level, 0, 0, kLevels, true,
        "Least severe level logged: trace, debug, info, warn or error."},
    Key{"store.synchronous", &Config::synchronous, 0, 0, kSynchronous, false,
        "SQLite synchronous mode: full survives power loss, normal survives process crashes only."},
    Key{"store.max_batch", &Config::max_batch, 1, 10000, {}, false,
        "Most writes group-committed in one transaction."},
    Key{"store.read_connections", &Config::read_connections, 1, 64, {}, false,
        "Connections kept open for reads (reads never wait for the writer), to SQLite or to PostgreSQL."},
    Key{"cluster.postgres", &Config::cluster_postgres, 0, 0, {}, false,
        "PostgreSQL connection string (libpq keywords, host=db.example dbname=tourbus user=tourbus, or a postgresql:// URI), without the password. Set: the store is that database, shared by every node; empty: SQLite at <state_dir>/tourbus.db."},
    Key{"cluster.postgres_password", &Config::cluster_postgres_password, 0, 0, {}, false,
        "The password of cluster.postgres's role. Never logged.", true, Key::Credential::value},
    Key{"cluster.node", &Config::cluster_node, 0, 0, {}, false,
        "This node's name, unique among the nodes sharing a store (status, logs). Empty: the host name."},
    Key{"cluster.nats", &Config::cluster_nats, 0, 0, {}, false,
        "NATS server URLs, comma-separated (nats://10.0.0.5:4222): pushes, revocations and role changes reach the sessions of every node sharing cluster.postgres. Empty: this node's sessions only."},
    Key{"websocket.max_frame_bytes", &Config::ws_max_frame_bytes, 1024, 16 << 20, {}, true,
        "Largest WebSocket message a client may send; a larger one closes the connection with code 1009. New connections."},
    Key{"websocket.send_queue_frames", &Config::ws_send_queue_frames, 16, 1'000'000, {}, true,
        "Frames queued for one WebSocket client; a client that falls further behind is closed with code 4001. New connections."},
    Key{"websocket.send_queue_bytes", &Config::ws_send_queue_bytes, 64 << 10, 1LL << 30, {}, true,
        "Bytes queued for one WebSocket client; a client that falls further behind is closed with code 4001. New connections."},
    Key{"websocket.idle_timeout_seconds", &Config::ws_idle_timeout_seconds, 2, 3600, {}, true,
        "The server pings at half this interval; a WebSocket peer silent this long is dropped. New connections."},
    Key{"websocket.events_per_second", &Config::ws_events_per_second, 1, 100000, {}, true,
        "Sustained rate of events one WebSocket connection may send; faster ones get rate_limited. New connections."},
    Key{"websocket.event_burst", &Config::ws_event_burst, 1, 1'000'000, {}, true,
        "Events one WebSocket connection may send at once before the rate applies. New connections."},
    Key{"socketio.transports", &Config::sio_transports, 0, 0, {}, true,
        "Socket.IO at /socket.io/: the Engine.IO transports offered, \"polling,websocket\", \"websocket\" or \"polling\"; empty turns Socket.IO off. New sessions."},
    Key{"socketio.ping_interval_ms", &Config::sio_ping_interval_ms, 50, 3'600'000, {}, true,
        "Socket.IO clients are pinged this often (Engine.IO pingInterval). New sessions."},
    Key{"socketio.ping_timeout_ms", &Config::sio_ping_timeout_ms, 50, 3'600'000, {}, true,
        "A Socket.IO client that has not answered a ping this long is disconnected (Engine.IO pingTimeout). New sessions."},
    Key{"socketio.max_payload_bytes", &Config::sio_max_payload_bytes, 1024, 64 << 20, {}, true,
        "Largest polling request body or WebSocket message a Socket.IO client may send (Engine.IO maxPayload); a larger one ends its session (413 on polling). New sessions."},
    Key{"socketio.connect_timeout_ms", &Config::sio_connect_timeout_ms, 100, 3'600'000, {}, true,
        "An Engine.IO session that joins no Socket.IO namespace this soon is closed. New sessions."},
    Key{"socketio.cors_origins", &Config::sio_cors_origins, 0, 0, {}, true,
        "Comma-separated origins (https://app.example.com) whose pages may use Socket.IO long-polling across origins (CORS); \"*\": any. Empty: same origin only (WebSockets are not subject to CORS)."},
    Key{"socketio.recovery_seconds", &Config::sio_recovery_seconds, 0, 86400, {}, true,
        "Socket.IO connection state recovery: a client that reconnects within this many seconds gets the messages and notifications it missed, in order. 0: off."},
    Key{"review.template", &Config::review_template, 0, 0, {}, true,
        "Template of the review request each participant gets after a tour ends (not for a cancelled tour or a no-show). Empty: no review requests."},
    Key{"review.after_minutes", &Config::review_after_minutes, 0, 525'600, {}, true,
        "Minutes after a tour's end that its review requests are sent."},
    Key{"review.nudges", &Config::review_nudges, 0, 10, {}, true,
        "Further reminders to someone who has not reviewed yet; none once the review is recorded."},
    Key{"review.nudge_every_hours", &Config::review_nudge_every_hours, 1, 8760, {}, true,
        "Hours between the review request and each nudge."},
    Key{"review.url", &Config::review_url, 0, 0, {}, true,
        "The platform's page for writing a review: the review link in a request ({{review_url}}) records that the person is reviewing, stops the nudges and sends them here; {{tour_id}} and {{handle}} are filled in. Empty: a thank-you page."},
    Key{"server.public_url", &Config::public_url, 0, 0, {}, true,
        "How people reach this daemon from outside (https://chat.tours.example), for the signed links in messages (review, unsubscribe). Empty: http:// and server.listen's address."},
    Key{"location.window_before_minutes", &Config::location_window_before_minutes, 0, 1440, {}, true,
        "Participants may share their position from this many minutes before a tour starts."},
    Key{"location.window_after_minutes", &Config::location_window_after_minutes, 0, 1440, {}, true,
        "... until this many minutes after it ends. Outside the window nothing is shared or stored."},
    Key{"location.min_interval_ms", &Config::location_min_interval_ms, 0, 600'000, {}, true,
        "A connection may send a position at most once per this many milliseconds (faster ones are refused with rate_limited)."},
    Key{"location.retention_hours", &Config::location_retention_hours, 1, 8760, {}, true,
        "Positions (the last known one and the trail) are deleted this many hours after they were recorded."},
    Key{"location.straggler_meters", &Config::location_straggler_meters, 10, 100'000, {}, true,
        "A participant this far from the guide ..."},
    Key{"location.straggler_seconds", &Config::location_straggler_seconds, 0, 86'400, {}, true,
        "... for this long is reported to the guide as a straggler (location.straggler)."},
    Key{"location.geofence_meters", &Config::location_geofence_meters, 10, 100'000, {}, true,
        "Radius of the meeting point's geofence: entering and leaving it are location.geofence events."},
    Key{"alert.max_location_age_minutes", &Config::alert_max_location_age_minutes, 1, 10'080, {}, true,
        "An alert's area reaches people whose last known position inside it is at most this old (an alert may set its own)."},
    Key{"alert.escalate_after_seconds", &Config::alert_escalate_after_seconds, 1, 86'400, {}, true,
        "A recipient who has not answered an alert's roll-call after this long moves up the escalation ladder, one rung each time."},
    Key{"alert.link_hours", &Config::alert_link_hours, 1, 8760, {}, true,
        "The signed safe / need-help links in alert e-mails and pushes are valid this long."},
    Key{"alert.batch_size", &Config::alert_batch_size, 1, 10'000, {}, true,
        "Recipients an alert is sent to per write transaction (each batch is queued and marked sent at once)."},
    Key{"sos.ring_seconds", &Config::sos_ring_seconds, 1, 3600, {}, true,
        "An SOS nobody has acknowledged notifies the guide and the operators on duty again after this long, until one does."},
    Key{"translate.providers", &Config::translate_providers, 0, 0, {}, true,
        "Translation engines tried in order for every language pair, comma-separated: apertium, libretranslate, deepl. Empty (and no translate.routes): no translation."},
    Key{"translate.routes", &Config::translate_routes, 0, 0, {}, true,
        "Engines for particular pairs, comma-separated FROM>TO=ENGINE|ENGINE entries (* for any language), e.g. \"en>it=deepl|apertium, *>de=deepl\"; the most specific entry wins, pairs without one use translate.providers."},
    Key{"translate.pivots", &Config::translate_pivots, 0, 0, {}, true,
        "Languages a chain may go through when an engine lacks the direct pair (en>es>it), tried in this order; the annotation names the pivot."},
    Key{"translate.apertium_url", &Config::translate_apertium_url, 0, 0, {}, true,
        "Apertium APy, the offline engine (Debian apertium-apy, systemd/tourbus-apertium.service). Empty: not used."},
    Key{"translate.libretranslate_url", &Config::translate_libretranslate_url, 0, 0, {}, true,
        "A LibreTranslate-compatible API (POST /translate). Empty: not used."},
    Key{"translate.libretranslate_key", &Config::translate_libretranslate_key, 0, 0, {}, true,
        "LibreTranslate api_key, when the server wants one.", true, Key::Credential::value},
    Key{"translate.deepl_url", &Config::translate_deepl_url, 0, 0, {}, true,
        "DeepL API base URL: https://api-free.deepl.com or https://api.deepl.com."},
    Key{"translate.deepl_key", &Config::translate_deepl_key, 0, 0, {}, true,
        "DeepL authentication key (sent as Authorization: DeepL-Auth-Key); never logged. Empty: DeepL not used.", true,
        Key::Credential::value},
    Key{"translate.timeout_ms", &Config::translate_timeout_ms, 100, 120'000, {}, true,
        "Longest one engine call may take; a slower engine counts as failed (the original was delivered long before)."},
    Key{"translate.workers", &Config::translate_workers, 1, 64, {}, false,
        "Engine calls in flight at once."},
    Key{"translate.cache_entries", &Config::translate_cache_entries, 0, 10'000'000, {}, true,
        "Translations kept in memory by text and language pair (a tour chat asks once per language). 0: no cache."},
    Key{"translate.max_attempts", &Config::translate_max_attempts, 1, 100, {}, true,
        "Attempts to translate a message while engines fail before it stays untranslated."},
    Key{"translate.retry_base_ms", &Config::translate_retry_base_ms, 10, 86'400'000, {}, true,
        "Wait before a failed translation is tried again, doubling each time up to translate.retry_max_ms; a failing engine is skipped as long."},
    Key{"translate.retry_max_ms", &Config::translate_retry_max_ms, 10, 86'400'000, {}, true,
        "Longest wait between two attempts."},
    Key{"translate.emergency_wait_ms", &Config::translate_emergency_wait_ms, 0, 30'000, {}, true,
        "alert.send waits at most this long for machine translations into recipients' languages the alert has no text in (added below the original, marked). 0: none."},
    Key{"calls.ring_seconds", &Config::calls_ring_seconds, 5, 600, {}, true,
        "A call rings this long; whoever has not answered by then has missed it (a notification says so)."},
    Key{"calls.max_members", &Config::calls_max_members, 2, 8, {}, true,
        "Most people in one call, the caller included (a mesh: every member sends to every other)."},
    Key{"calls.stun_urls", &Config::calls_stun_urls, 0, 0, {}, true,
        "STUN servers handed out by call.config, comma-separated (stun:stun.example.com:3478). Empty: none."},
    Key{"calls.turn_urls", &Config::calls_turn_urls, 0, 0, {}, true,
        "TURN servers handed out by call.config with time-limited credentials, comma-separated (turn:turn.example.com:3478?transport=udp, turns:...). Needs calls.turn_secret."},
    Key{"calls.turn_secret", &Config::calls_turn_secret, 0, 0, {}, true,
        "The secret shared with coturn (static-auth-secret, use-auth-secret): credentials are HMAC-SHA1 of \"<expiry>:<handle>\" with it. Never logged.",
        true, Key::Credential::value},
    Key{"calls.turn_ttl_seconds", &Config::calls_turn_ttl_seconds, 60, 86'400, {}, true,
        "How long TURN credentials from call.config stay valid."},
    Key{"calls.stats_interval_ms", &Config::calls_stats_interval_ms, 100, 60'000, {}, true,
        "A member may report call quality (call.stats) at most once per this many milliseconds; faster reports get rate_limited."},
    Key{"calls.janus_url", &Config::calls_janus_url, 0, 0, {}, true,
        "Janus's HTTP API (http://127.0.0.1:8088/janus) for tour previews and recordings. Empty: no previews."},
    Key{"calls.janus_admin_key", &Config::calls_janus_admin_key, 0, 0, {}, true,
        "The VideoRoom plugin's admin_key: tourbusd creates rooms with it. Never logged.", true, Key::Credential::value},
    Key{"calls.janus_api_secret", &Config::calls_janus_api_secret, 0, 0, {}, true,
        "Janus's api_secret, when it has one. Never logged.", true, Key::Credential::value},
    Key{"calls.janus_recordings_dir", &Config::calls_janus_recordings_dir, 0, 0, {}, true,
        "Where Janus writes recordings (.mjr) and tourbusd reads them to convert. Required with calls.janus_url for recording."},
    Key{"calls.janus_pp_rec", &Config::calls_janus_pp_rec, 0, 0, {}, true,
        "The janus-pp-rec program (Debian janus-tools) that converts a recording into WebM."},
    Key{"calls.preview_max_viewers", &Config::calls_preview_max_viewers, 1, 10'000, {}, true,
        "Most viewers of one preview at once; more get rate_limited."},
    Key{"campaign.rate_per_second", &Config::campaign_rate_per_second, 0, 1'000'000, {}, true,
        "Messages a running campaign enqueues a second on each channel (a campaign may set its own). 0: no limit."},
    Key{"campaign.window_max", &Config::campaign_window_max, 0, 100'000'000, {}, true,
        "Sliding window: at most this many messages of one campaign on one channel within campaign.window_minutes. 0: no window."},
    Key{"campaign.window_minutes", &Config::campaign_window_minutes, 1, 10'080, {}, true,
        "Length of the sliding window of campaign.window_max."},
    Key{"campaign.max_per_user", &Config::campaign_max_per_user, 0, 1000, {}, true,
        "Frequency cap: a campaign skips people who got this many notifications of campaign.cap_categories within campaign.cap_days. 0: no cap."},
    Key{"campaign.cap_days", &Config::campaign_cap_days, 1, 365, {}, true,
        "Days the frequency cap looks back."},
    Key{"campaign.cap_categories", &Config::campaign_cap_categories, 0, 0, {}, true,
        "Categories the frequency cap counts, comma-separated: marketing, optionally transactional, reminder, review."},
    Key{"campaign.quiet_hours", &Config::campaign_quiet_hours, 0, 0, {}, true,
        "HH:MM-HH:MM in each recipient's zone when campaigns hold their messages, for people without quiet hours of their own. Empty: none."},
    Key{"campaign.tracking", &Config::campaign_tracking, 0, 0, kOnOff, true,
        "on: a campaign's url variable becomes a signed link that counts who clicked, and in-app messages read count as opened (campaign stats). off: neither is recorded."},
    Key{"chat.max_text_bytes", &Config::chat_max_text_bytes, 16, 1 << 20, {}, true,
        "Longest message text in bytes (UTF-8); longer messages get payload_too_large."},
    Key{"chat.history_page", &Config::chat_history_page, 10, 10000, {}, true,
        "Most messages one history or search request returns; clients page for more."},
    Key{"chat.max_group_members", &Config::chat_max_group_members, 2, 1'000'000, {}, true,
        "Most members of one group conversation; creating or adding beyond it gets conflict."},
    Key{"files.dir", &Config::files_path, 0, 0, {}, false,
        "Where uploads and recordings are stored (content-addressed). Empty: <state_dir>/files. Several nodes share one directory (NFS, CephFS: the same path on every node), so a file uploaded through one node is downloaded through any."},
    Key{"files.max_bytes", &Config::files_max_bytes, 1024, 1LL << 30, {}, true,
        "Largest file or photo upload in bytes; larger uploads get payload_too_large."},
    Key{"files.retention_days", &Config::files_retention_days, 0, 36500, {}, true,
        "Uploads older than this are deleted (daily, and at start-up); messages then show the file as expired. 0 keeps files forever."},
    Key{"files.max_uploads", &Config::files_max_uploads, 1, 100'000, {}, true,
        "Uploads received at once in all; a further one gets rate_limited before its body is read."},
    Key{"files.max_uploads_per_user", &Config::files_max_uploads_per_user, 1, 10'000, {}, true,
        "Uploads one user may send at once; a further one gets rate_limited before its body is read."},
    Key{"files.max_bytes_per_user_per_day", &Config::files_max_bytes_per_user_per_day, 0, 1LL << 40, {}, true,
        "Bytes one user may upload in 24 hours; an upload beyond gets rate_limited. 0: no limit."},
    Key{"files.uploads_per_user_per_hour", &Config::files_uploads_per_user_per_hour, 0, 1'000'000, {}, true,
        "Uploads one user may make in an hour; more get rate_limited. 0: no limit."},
    Key{"tokens.default_ttl_days", &Config::token_ttl_days, 0, 3650, {}, true,
        "Lifetime of an issued access token when none is given; 0 means tokens do not expire."},
    Key{"notify.templates_dir", &Config::notify_templates_dir, 0, 0, {}, true,
        "Directory of message templates (NAME.LANGUAGE.toml). Empty: templates/ beside the config file, or under state_dir without one."},
    Key{"notify.default_language", &Config::notify_default_language, 0, 0, {}, true,
        "Template language used when none exists in the recipient's language."},
    Key{"notify.max_attempts", &Config::notify_max_attempts, 1, 100, {}, true,
        "Delivery attempts of a job before it becomes a dead letter."},
    Key{"notify.retry_base_ms", &Config::notify_retry_base_ms, 10, 86'400'000, {}, true,
        "Delay before the second attempt; each further one doubles it (with jitter), up to notify.retry_max_ms."},
    Key{"notify.retry_max_ms", &Config::notify_retry_max_ms, 10, 604'800'000, {}, true,
        "Longest delay between two attempts of a job."},
    Key{"notify.workers", &Config::notify_workers, 1, 64, {}, false,
        "Deliveries in flight at once per channel (each channel has its own threads)."},
    Key{"notify.timeout_seconds", &Config::notify_timeout_seconds, 1, 600, {}, true,
        "Longest a provider request (SMTP session, HTTP call) may take before the attempt counts as failed."},
    Key{"notify.ca_file", &Config::notify_ca_file, 0, 0, {}, true,
        "PEM file of extra CA certificates trusted for providers (a private relay). Empty: the system's CAs only."},
    Key{"email.smtp_url", &Config::email_smtp_url, 0, 0, {}, true,
        "SMTP server: smtp://HOST:PORT (STARTTLS per email.starttls) or smtps://HOST:PORT (TLS from the start). Empty: no e-mail."},
    Key{"email.starttls", &Config::email_starttls, 0, 0, kStarttls, true,
        "With smtp://: required (refuse to send without STARTTLS) or off (plain SMTP, for a relay on loopback)."},
    Key{"email.username", &Config::email_username, 0, 0, {}, true,
        "SMTP AUTH user name; empty: no authentication."},
    Key{"email.password", &Config::email_password, 0, 0, {}, true, "SMTP AUTH password.", true, Key::Credential::value},
    Key{"email.from", &Config::email_from, 0, 0, {}, true,
        "Sender of every e-mail, e.g. \"Tours <noreply@example.com>\"; required with email.smtp_url."},
    Key{"email.unsubscribe_url", &Config::email_unsubscribe_url, 0, 0, {}, true,
        "Marketing e-mail carries List-Unsubscribe with this https URL ({{handle}} is replaced by the recipient's handle)."},
    Key{"email.rate_per_second", &Config::email_rate, 1, 100'000, {}, true, "Most e-mails sent per second."},
    Key{"sms.provider", &Config::sms_provider, 0, 0, kSmsProviders, true,
        "twilio (a Twilio-compatible Messages API), webhook (a JSON POST to sms.url) or empty: no SMS."},
    Key{"sms.url", &Config::sms_url, 0, 0, {}, true,
        "twilio: the API base URL (https://api.twilio.com); webhook: the URL to POST to."},
    Key{"sms.account_sid", &Config::sms_account_sid, 0, 0, {}, true, "twilio: the account SID (the Basic auth user)."},
    Key{"sms.auth_token", &Config::sms_auth_token, 0, 0, {}, true,
        "twilio: the auth token (Basic auth password); webhook: sent as a bearer token when set.", true, Key::Credential::value},
    Key{"sms.from", &Config::sms_from, 0, 0, {}, true, "Sender number (E.164) or alphanumeric sender id."},
    Key{"sms.rate_per_second", &Config::sms_rate, 1, 100'000, {}, true, "Most SMS sent per second."},
    Key{"webhook.url", &Config::webhook_url, 0, 0, {}, true,
        "Integration endpoint that receives notifications on the webhook channel as signed JSON POSTs. Empty: no webhook."},
    Key{"webhook.secret", &Config::webhook_secret, 0, 0, {}, true,
        "Key of the Tourbus-Signature HMAC-SHA256 over each webhook body.", true, Key::Credential::value},
    Key{"webhook.rate_per_second", &Config::webhook_rate, 1, 100'000, {}, true, "Most webhook calls per second."},
    Key{"webpush.vapid_public_key", &Config::webpush_public_key, 0, 0, {}, true,
        "VAPID public key (base64url, from tourbus push vapid-keys); browsers subscribe with it. Empty: no Web Push."},
    Key{"webpush.vapid_private_key", &Config::webpush_private_key, 0, 0, {}, true,
        "VAPID private key (base64url) that signs every push (RFC 8292).", true, Key::Credential::value},
    Key{"webpush.subject", &Config::webpush_subject, 0, 0, {}, true,
        "Contact for push services, a mailto: or https: URL (the VAPID sub claim); required with the keys."},
    Key{"webpush.endpoint_hosts", &Config::webpush_endpoint_hosts, 0, 0, {}, true,
        "Push services a subscription may point at: comma-separated host names, each matching itself and its subdomains. Others are refused, so a client cannot make the daemon call arbitrary URLs."},
    Key{"webpush.ttl_seconds", &Config::webpush_ttl_seconds, 0, 2'419'200, {}, true,
        "How long a push service keeps a message for an offline browser (the TTL header)."},
    Key{"webpush.rate_per_second", &Config::webpush_rate, 1, 100'000, {}, true, "Most Web Push requests per second."},
    Key{"fcm.service_account_file", &Config::fcm_service_account_file, 0, 0, {}, true,
        "Google service-account JSON key file of the Firebase project (FCM HTTP v1). Empty: no FCM.", false, Key::Credential::file},
    Key{"fcm.url", &Config::fcm_url, 0, 0, {}, true, "FCM API base URL."},
    Key{"fcm.rate_per_second", &Config::fcm_rate, 1, 100'000, {}, true, "Most FCM requests per second."},
    Key{"apns.key_file", &Config::apns_key_file, 0, 0, {}, true,
        "APNs auth key (.p8, ES256) from the Apple developer account. Empty: no APNs.", false, Key::Credential::file},
    Key{"apns.key_id", &Config::apns_key_id, 0, 0, {}, true, "The key's id (10 characters, the JWT kid)."},
    Key{"apns.team_id", &Config::apns_team_id, 0, 0, {}, true, "The Apple team id (the JWT iss)."},
    Key{"apns.topic", &Config::apns_topic, 0, 0, {}, true, "The app's bundle id (the apns-topic header)."},
    Key{"apns.url", &Config::apns_url, 0, 0, {}, true,
        "APNs base URL: https://api.push.apple.com, or https://api.sandbox.push.apple.com for development builds."},
    Key{"apns.rate_per_second", &Config::apns_rate, 1, 100'000, {}, true, "Most APNs requests per second."},
};

std::string where(const std::filesystem::path& file, const toml::source_region& src) {
  return file.string() + ":" + std::to_string(src.begin.line);
}

Status apply(Config& cfg, const Key& key, const toml::node& node, const std::filesystem::path& file) {
  auto at = where(file, node.source());
  auto fail = [&](std::string what) {
    return Error(Code::invalid_argument, at + ": " + std::string(key.name) + ": " + what, std::string(key.name));
  };
  if (auto* s = std::get_if<std::string Config::*>(&key.member)) {
    auto v = node.value<std::string>();
    if (!node.is_string() || !v) return fail("expected a string");
    if (!key.choices.empty()) {
      bool found = false;
      std::string list;
      for (auto c : key.choices) {
        found = found || c == *v;
        list += (list.empty() ? "" : ", ") + std::string(c);
      }
      if (!found) return fail("'" + *v + "' is not one of " + list);
    }
    cfg.*(*s) = *v;
  } else {
    auto m = std::get<std::int64_t Config::*>(key.member);
    if (!node.is_integer()) return fail("expected an integer");
    auto v = *node.value<std::int64_t>();
    if (v < key.min || v > key.max)
      return fail(std::to_string(v) + " is out of range [" + std::to_string(key.min) + ", " + std::to_string(key.max) + "]");
    cfg.*m = v;
  }
  return {};
}

Status walk(Config& cfg, const toml::table& table, const std::string& prefix, const std::filesystem::path& file) {
  for (auto&& [k, node] : table) {
    std::string name = prefix.empty() ? std::string(k.str()) : prefix + "." + std::string(k.str());
    if (const auto* sub = node.as_table(); sub && !find_key(name)) {
      if (auto st = walk(cfg, *sub, name, file); !st) return st;
      continue;
    }
    const Key* key = find_key(name);
    if (!key)
      return Error(Code::unknown_field, where(file, node.source()) + ": unknown key '" + name + "'", name);
    if (auto st = apply(cfg, *key, node, file); !st) return st;
  }
  return {};
}

}  // namespace

std::filesystem::path Config::socket_path() const {
  return socket.empty() ? std::filesystem::path(state_dir) / "tourbusd.sock" : std::filesystem::path(socket);
}

std::filesystem::path Config::database_path() const { return std::filesystem::path(state_dir) / "tourbus.db"; }
std::filesystem::path Config::files_dir() const {
  return files_path.empty() ? std::filesystem::path(state_dir) / "files" : std::filesystem::path(files_path);
}

std::filesystem::path Config::templates_dir() const {
  if (!notify_templates_dir.empty()) return notify_templates_dir;
  if (!config_dir.empty()) return std::filesystem::path(config_dir) / "templates";
  return std::filesystem::path(state_dir) / "templates";
}

std::span<const Key> keys() { return kKeys; }

const Key* find_key(std::string_view name) {
  for (const auto& k : kKeys)
    if (k.name == name) return &k;
  return nullptr;
}

std::int64_t int_value(const Config& c, std::string_view name) {
  auto* key = find_key(name);
  if (!key) return 0;
  auto* member = std::get_if<std::int64_t Config::*>(&key->member);
  return member ? c.*(*member) : 0;
}

std::string default_as_toml(const Key& key) {
  static const Config defaults;
  if (auto* s = std::get_if<std::string Config::*>(&key.member)) return "\"" + defaults.*(*s) + "\"";
  return std::to_string(defaults.*std::get<std::int64_t Config::*>(key.member));
}

Result<Config> parse_text(std::string_view text, const std::filesystem::path& name, Config base) {
  toml::table table;
  try {
    table = toml::parse(text, name.string());
  } catch (const toml::parse_error& e) {
    return Error(Code::invalid_argument, where(name, e.source()) + ": " + std::string(e.description()));
  }
  if (auto st = walk(base, table, "", name); !st) return st.error();
  if (auto st = validate(base); !st) return Error(st.error().code, name.string() + ": " + st.error().message, st.error().field);
  return base;
}

Result<Config> load_file(const std::filesystem::path& file, Config base, const std::filesystem::path& credentials) {
  toml::table table;
  try {
    table = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return Error(Code::invalid_argument,
                 where(file, e.source()) + ": " + std::string(e.description()));
  }
  if (auto st = walk(base, table, "", file); !st) return st.error();
  std::error_code ec;
  auto absolute = std::filesystem::absolute(file, ec);
  base.config_dir = (ec ? file : absolute).parent_path().string();
  if (!credentials.empty())
    if (auto st = apply_credentials(base, credentials); !st)
      return Error(st.error().code, file.string() + ": " + st.error().message, st.error().field);
  if (auto st = validate(base); !st)
    return Error(st.error().code, file.string() + ": " + st.error().message, st.error().field);
  return base;
}

Status apply_credentials(Config& c, const std::filesystem::path& dir) {
  for (const auto& key : keys()) {
    if (key.credential == Key::Credential::none) continue;
    auto path = dir / std::string(key.name);
    std::error_code ec;
    if (!std::filesystem::is_regular_file(path, ec)) continue;
    auto& field = c.*std::get<std::string Config::*>(key.member);
    if (!field.empty())
      return Error(Code::invalid_argument,
                   std::string(key.name) + " is set in the config and as the systemd credential " + std::string(key.name) +
                       "; keep one",
                   std::string(key.name));
    if (key.credential == Key::Credential::file) {
      field = path.string();
      continue;
    }
    std::ifstream in(path, std::ios::binary);
    std::stringstream ss;
    ss << in.rdbuf();
    if (!in && !in.eof())
      return Error(Code::invalid_argument, "cannot read the systemd credential " + path.string(), std::string(key.name));
    field = ss.str();
    if (field.ends_with('\n')) field.pop_back();
    if (field.ends_with('\r')) field.pop_back();
  }
  return {};
}

std::vector<std::string_view> split_list(std::string_view list) {
  std::vector<std::string_view> items;
  while (!list.empty()) {
    auto comma = list.find(',');
    auto item = list.substr(0, comma);
    while (!item.empty() && item.front() == ' ') item.remove_prefix(1);
    while (!item.empty() && item.back() == ' ') item.remove_suffix(1);
    if (!item.empty()) items.push_back(item);
    if (comma == std::string_view::npos) break;
    list.remove_prefix(comma + 1);
  }
  return items;
}

Status validate(const Config& c) {
  if (auto l = parse_listen(c.listen); !l)
    return Error(Code::invalid_argument, "server.listen: " + l.error().message, "server.listen");
  if (c.state_dir.empty()) return Error(Code::invalid_argument, "state_dir: must not be empty", "state_dir");
  // The node's name is also a directory under files.dir (its uploads in flight), shared by nodes.
  if (c.cluster_node.size() > 64 || c.cluster_node.find_first_not_of("abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-") != std::string::npos ||
      c.cluster_node == "." || c.cluster_node == "..")
    return Error(Code::invalid_argument, "cluster.node: up to 64 letters, digits, '.', '_' or '-'", "cluster.node");
  if (c.tls_certificate.empty() != c.tls_key.empty())
    return Error(Code::invalid_argument, "server.tls_certificate and server.tls_key go together: set both or neither",
                 c.tls_certificate.empty() ? "server.tls_certificate" : "server.tls_key");
  auto need = [](std::string_view key, std::string what) { return Error(Code::invalid_argument, std::string(key) + ": " + what, std::string(key)); };
  auto is_http = [](std::string_view u) { return u.starts_with("http://") || u.starts_with("https://"); };
  if (!c.email_smtp_url.empty()) {
    if (!c.email_smtp_url.starts_with("smtp://") && !c.email_smtp_url.starts_with("smtps://"))
      return need("email.smtp_url", "expected smtp://HOST:PORT or smtps://HOST:PORT");
    if (c.email_from.empty()) return need("email.from", "required with email.smtp_url (the sender address)");
  }
  if (!c.email_unsubscribe_url.empty() && !is_http(c.email_unsubscribe_url))
    return need("email.unsubscribe_url", "expected an http(s):// URL");
  if (!c.sms_provider.empty()) {
    if (!is_http(c.sms_url)) return need("sms.url", "required with sms.provider: an http(s):// URL");
    if (c.sms_provider == "twilio" && (c.sms_account_sid.empty() || c.sms_auth_token.empty() || c.sms_from.empty()))
      return need(c.sms_account_sid.empty() ? "sms.account_sid" : c.sms_auth_token.empty() ? "sms.auth_token" : "sms.from",
                  "required with sms.provider = \"twilio\"");
  }
  if (!c.webhook_url.empty() && !is_http(c.webhook_url)) return need("webhook.url", "expected an http(s):// URL");
  for (auto t : split_list(c.sio_transports))
    if (t != "polling" && t != "websocket")
      return need("socketio.transports", "unknown transport '" + std::string(t) + "': expected polling and/or websocket");
  if (c.review_template.size() > 64 ||
      c.review_template.find_first_not_of("abcdefghijklmnopqrstuvwxyz0123456789_") != std::string::npos)
    return need("review.template", "a template name (a-z, 0-9 and _, at most 64) or empty");
  // password=... as a keyword or a URI parameter, or user:password@ in a URI.
  auto has_password = [](std::string dsn) {
    std::transform(dsn.begin(), dsn.end(), dsn.begin(), [](unsigned char ch) { return std::tolower(ch); });
    for (auto at = dsn.find("password"); at != std::string::npos; at = dsn.find("password", at + 1)) {
      auto next = dsn.find_first_not_of(' ', at + 8);
      if (next != std::string::npos && dsn[next] == '=') return true;
    }
    auto scheme = dsn.find("://"), user_end = dsn.find('@');
    return scheme != std::string::npos && user_end != std::string::npos && user_end > scheme &&
           dsn.substr(scheme + 3, user_end - scheme - 3).find(':') != std::string::npos;
  };
  if (!c.cluster_nats.empty() && c.cluster_postgres.empty())
    return need("cluster.nats", "NATS joins nodes that share a store: set cluster.postgres too");
  if (has_password(c.cluster_postgres))
    return need("cluster.postgres", "keep the password out of the connection string: set cluster.postgres_password (a systemd credential)");
  if (!c.calls_turn_urls.empty() && c.calls_turn_secret.empty())
    return need("calls.turn_secret", "required with calls.turn_urls (coturn's static-auth-secret)");
  for (auto u : split_list(c.calls_turn_urls))
    if (!u.starts_with("turn:") && !u.starts_with("turns:")) return need("calls.turn_urls", "'" + std::string(u) + "': expected turn: or turns: URLs");
  if (!c.calls_janus_url.empty() && !c.calls_janus_url.starts_with("http://") && !c.calls_janus_url.starts_with("https://"))
    return need("calls.janus_url", "expected Janus's HTTP API, http://127.0.0.1:8088/janus");
  if (!c.calls_janus_recordings_dir.empty() && !std::filesystem::path(c.calls_janus_recordings_dir).is_absolute())
    return need("calls.janus_recordings_dir", "an absolute directory");
  for (auto u : split_list(c.calls_stun_urls))
    if (!u.starts_with("stun:") && !u.starts_with("stuns:")) return need("calls.stun_urls", "'" + std::string(u) + "': expected stun: or stuns: URLs");
  auto engine = [](std::string_view e) { return e == "apertium" || e == "libretranslate" || e == "deepl"; };
  for (auto e : split_list(c.translate_providers))
    if (!engine(e)) return need("translate.providers", "unknown engine '" + std::string(e) + "': expected apertium, libretranslate or deepl");
  for (auto entry : split_list(c.translate_routes)) {
    auto gt = entry.find('>'), eq = entry.find('=');
    if (gt == std::string_view::npos || eq == std::string_view::npos || gt > eq || gt == 0 || eq == gt + 1)
      return need("translate.routes", "'" + std::string(entry) + "': expected FROM>TO=ENGINE|ENGINE (e.g. en>it=deepl|apertium)");
    auto rest = entry.substr(eq + 1);
    while (true) {
      auto bar = rest.find('|');
      auto name = rest.substr(0, bar);
      while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
      while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
      if (!engine(name)) return need("translate.routes", "'" + std::string(entry) + "': unknown engine '" + std::string(name) + "'");
      if (bar == std::string_view::npos) break;
      rest.remove_prefix(bar + 1);
    }
  }
  for (auto [key, url] : {std::pair{"translate.apertium_url", &c.translate_apertium_url},
                          std::pair{"translate.libretranslate_url", &c.translate_libretranslate_url},
                          std::pair{"translate.deepl_url", &c.translate_deepl_url}})
    if (!url->empty() && !is_http(*url)) return need(key, "expected an http(s):// URL");
  if (!c.public_url.empty() && !is_http(c.public_url)) return need("server.public_url", "expected an http(s):// URL");
  if (!c.review_url.empty() && !is_http(c.review_url)) return need("review.url", "expected an http(s):// URL");
  for (auto cat : split_list(c.campaign_cap_categories))
    if (cat != "marketing" && cat != "transactional" && cat != "reminder" && cat != "review")
      return need("campaign.cap_categories", "'" + std::string(cat) + "' is not marketing, transactional, reminder or review");
  if (!c.campaign_quiet_hours.empty() && !validate::quiet_hours(c.campaign_quiet_hours))
    return need("campaign.quiet_hours", "expected HH:MM-HH:MM");
  for (auto o : split_list(c.sio_cors_origins))
    if (o != "*" && !is_http(o)) return need("socketio.cors_origins", "'" + std::string(o) + "' is not an origin (https://host[:port]) or *");
  if (!c.webpush_public_key.empty() || !c.webpush_private_key.empty()) {
    if (c.webpush_public_key.empty() || c.webpush_private_key.empty())
      return need(c.webpush_public_key.empty() ? "webpush.vapid_public_key" : "webpush.vapid_private_key",
                  "set both VAPID keys (tourbus push vapid-keys makes a pair)");
    if (!c.webpush_subject.starts_with("mailto:") && !c.webpush_subject.starts_with("https://"))
      return need("webpush.subject", "required with the VAPID keys: a mailto: or https: URL push services can reach you at");
  }
  if (!c.apns_key_file.empty() && (c.apns_key_id.empty() || c.apns_team_id.empty() || c.apns_topic.empty()))
    return need(c.apns_key_id.empty() ? "apns.key_id" : c.apns_team_id.empty() ? "apns.team_id" : "apns.topic",
                "required with apns.key_file");
  if (!is_http(c.fcm_url)) return need("fcm.url", "expected an http(s):// URL");
  if (!is_http(c.apns_url)) return need("apns.url", "expected an http(s):// URL");
  if (!c.webhook_url.empty() && c.webhook_secret.empty())
    return need("webhook.secret", "required with webhook.url: receivers check the signature with it");
  return {};
}

std::vector<std::string_view> changed_keys(const Config& a, const Config& b) {
  std::vector<std::string_view> out;
  for (const auto& k : kKeys) {
    bool same = std::visit([&](auto m) { return a.*m == b.*m; }, k.member);
    if (!same) out.push_back(k.name);
  }
  return out;
}

Result<std::pair<std::string, std::uint16_t>> parse_listen(std::string_view text) {
  auto colon = text.rfind(':');
  if (colon == std::string_view::npos || colon == 0)
    return Error(Code::invalid_argument, "expected HOST:PORT, got '" + std::string(text) + "'");
  std::string host(text.substr(0, colon));
  if (host.front() == '[') {
    if (host.back() != ']') return Error(Code::invalid_argument, "unbalanced brackets in '" + std::string(text) + "'");
    host = host.substr(1, host.size() - 2);
  }
  auto port_text = text.substr(colon + 1);
  unsigned port = 0;
  auto [ptr, ec] = std::from_chars(port_text.data(), port_text.data() + port_text.size(), port);
  if (ec != std::errc{} || ptr != port_text.data() + port_text.size() || port > 65535 || port_text.empty())
    return Error(Code::invalid_argument, "bad port in '" + std::string(text) + "'");
  return std::pair{host, static_cast<std::uint16_t>(port)};
}

std::int64_t connection_limit(const Config& c, std::int64_t fd_limit) {
  if (fd_limit <= 0) return c.max_connections;
  return std::max<std::int64_t>(0, std::min(c.max_connections, fd_limit - c.fd_reserve));
}

}  // namespace tourbus::config
