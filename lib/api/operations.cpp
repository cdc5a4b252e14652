// Every API operation, once. Add an operation here, write its handler, document it in docs/api.md
// (a test compares the two).
#include "api/handlers.hpp"
#include "api/operation.hpp"

namespace tourbus::api {
namespace {

using enum Type;

constexpr Param kUserFields[] = {
    {"handle", string, true, "unique login name: 2-32 of a-z 0-9 . _ - starting with a letter or digit; folded to lower case"},
    {"display_name", string, true, "name shown to others, 1-100 characters"},
    {"role", string, true, "tourist, guide or operator"},
    {"email", string, false, "email address"},
    {"phone", string, false, "phone number in E.164 form (+393331234567)"},
    {"language", string, false, "preferred language, a BCP 47 tag (default en)"},
    {"time_zone", string, false, "IANA time zone (default UTC)"},
    {"quiet_hours", string, false, "HH:MM-HH:MM in the user's zone when only emergencies are delivered"},
    {"marketing_consent", boolean, false, "whether the user agreed to marketing messages (the time is recorded)"},
};
constexpr Param kUserUpdate[] = {
    {"handle", string, true, "the user to change"},
    {"display_name", string, false, "new display name"},
    {"role", string, false, "new role"},
    {"email", string, false, "new email address; null clears it", true},
    {"phone", string, false, "new E.164 phone number; null clears it", true},
    {"language", string, false, "new BCP 47 language tag"},
    {"time_zone", string, false, "new IANA time zone"},
    {"quiet_hours", string, false, "new quiet hours HH:MM-HH:MM; null clears them", true},
    {"marketing_consent", boolean, false, "give (true) or withdraw (false) marketing consent"},
};
constexpr Param kUserList[] = {
    {"role", string, false, "only users with this role"},
    {"disabled", boolean, false, "only disabled (true) or enabled (false) users"},
    {"after", integer, false, "paging: only users with an id greater than this"},
    {"limit", integer, false, "at most this many (1-1000, default 1000)"},
};
constexpr Param kHandle[] = {{"handle", string, true, "the user's handle"}};

constexpr Param kNotifySend[] = {
    {"users", string_list, false, "recipients by handle (or tour, or role)"},
    {"tour", integer, false, "recipients: the participants of this tour"},
    {"role", string, false, "recipients: every enabled user with this role"},
    {"category", string, false, "transactional, reminder, review, marketing or emergency (default: the template's)"},
    {"template", string, false, "template name; the recipient's language is chosen with a fallback"},
    {"subject", string, false, "literal subject (instead of a template)"},
    {"text", string, false, "literal text (instead of a template)"},
    {"vars", string_map, false, "template variables: {\"name\": \"value\", ...}"},
    {"channels", string_list, false, "channels to use, or [\"auto\"] (the default)"},
    {"idempotency_key", string, false, "the same key twice enqueues once and answers the first result"},
    {"dry_run", boolean, false, "show who would get what, store nothing"},
};
constexpr Param kJobFilter[] = {
    {"state", string, false, "queued, delivered, dead or cancelled"},
    {"channel", string, false, "only this channel"},
    {"user", string, false, "only jobs for this user"},
    {"notification", integer, false, "only the jobs of this notification"},
    {"before", integer, false, "paging, newest first: jobs with an id below this"},
    {"limit", integer, false, "at most this many (1-1000, default 100)"},
};
constexpr Param kJobId[] = {{"id", integer, true, "the job"}};
constexpr Param kDeadFilter[] = {
    {"channel", string, false, "only dead jobs of this channel"},
    {"job", integer, false, "only this dead job"},
};
constexpr Param kFeedList[] = {
    {"user", string, false, "operators: this user's feed (default: the caller's)"},
    {"before", integer, false, "paging, newest first: items with an id below this"},
    {"limit", integer, false, "at most this many (1-500, default 50)"},
    {"unread", boolean, false, "only unread items"},
};
constexpr Param kFeedRead[] = {
    {"user", string, false, "operators: this user's feed (default: the caller's)"},
    {"id", integer, false, "the item to mark read (default: every item)"},
};
constexpr Param kPreferenceList[] = {{"user", string, false, "operators: this user's preferences (default: the caller's)"}};
constexpr Param kPreferenceSet[] = {
    {"user", string, false, "operators: this user's preferences (default: the caller's)"},
    {"category", string, true, "transactional, reminder, review or marketing"},
    {"channel", string, true, "inapp, webpush, fcm, apns, email, sms or webhook"},
    {"enabled", boolean, true, "receive this category on this channel (true) or not"},
};
constexpr Param kPushSubscribe[] = {
    {"endpoint", string, true, "PushSubscription.endpoint: the push service's https:// URL"},
    {"p256dh", string, true, "PushSubscription key p256dh (base64url)"},
    {"auth", string, true, "PushSubscription key auth (base64url)"},
    {"user", string, false, "operators: register for this user (default: the caller)"},
};
constexpr Param kDeviceRegister[] = {
    {"platform", string, true, "fcm (Android) or apns (iOS)"},
    {"token", string, true, "the device's push token"},
    {"user", string, false, "operators: register for this user (default: the caller)"},
};
constexpr Param kAddressId[] = {
    {"id", integer, true, "the subscription or device"},
    {"user", string, false, "operators: this user's (default: the caller's)"},
};
constexpr Param kPushList[] = {{"user", string, false, "operators: this user's (default: the caller's)"}};
constexpr Param kTemplateShow[] = {
    {"name", string, true, "the template"},
    {"language", string, false, "a BCP 47 language (default notify.default_language); falls back like a send"},
};
constexpr Param kTemplatePreview[] = {
    {"name", string, true, "the template"},
    {"language", string, false, "a BCP 47 language (default notify.default_language); falls back like a send"},
    {"vars", string_map, false, "values for variables; the others show as placeholders"},
};

constexpr Param kTokenIssue[] = {
    {"user", string, true, "handle of the user the token acts for"},
    {"label", string, false, "a note to recognise the token by (device, integration)"},
    {"ttl_days", integer, false, "lifetime in days; 0 never expires (default tokens.default_ttl_days)"},
};
constexpr Param kTokenList[] = {
    {"user", string, false, "only this user's tokens"},
    {"all", boolean, false, "include revoked and expired tokens"},
};
constexpr Param kTokenId[] = {{"id", integer, true, "the token's id"}};

constexpr Param kTourCreate[] = {
    {"title", string, true, "what the tour is called"},
    {"starts_at", string, true, "start: RFC 3339, or local time in time_zone (2026-12-01T09:00)"},
    {"ends_at", string, true, "end, after the start; same forms"},
    {"time_zone", string, true, "IANA time zone where the tour takes place"},
    {"guide", string, false, "handle of a user with the guide role"},
    {"meeting_label", string, false, "where to meet"},
    {"meeting_lat", number, false, "meeting point latitude, -90 to 90"},
    {"meeting_lon", number, false, "meeting point longitude, -180 to 180"},
    {"participants", string_list, false, "handles of tourists taking part"},
};
constexpr Param kTourUpdate[] = {
    {"id", integer, true, "the tour"},
    {"title", string, false, "new title"},
    {"starts_at", string, false, "new start"},
    {"ends_at", string, false, "new end"},
    {"time_zone", string, false, "new IANA time zone (local start and end are re-read in it only if given too)"},
    {"guide", string, false, "new guide's handle; null removes the guide", true},
    {"meeting_label", string, false, "new meeting place; null clears the meeting point", true},
    {"meeting_lat", number, false, "new latitude"},
    {"meeting_lon", number, false, "new longitude"},
    {"status", string, false, "scheduled, running or finished (use tour.cancel to cancel)"},
};
constexpr Param kTourList[] = {
    {"status", string, false, "only tours with this status"},
    {"guide", string, false, "only tours led by this guide"},
    {"participant", string, false, "only tours this user takes part in"},
    {"from", string, false, "only tours ending after this time"},
    {"to", string, false, "only tours starting before this time"},
    {"limit", integer, false, "at most this many, earliest first (1-1000, default 1000)"},
};
constexpr Param kTourId[] = {{"id", integer, true, "the tour"}};
constexpr Param kTourMembers[] = {
    {"id", integer, true, "the tour"},
    {"users", string_list, true, "handles of the tourists to add or remove"},
};
constexpr Param kTourCancel[] = {
    {"id", integer, true, "the tour"},
    {"reason", string, false, "why, shown to participants"},
};

constexpr Param kConversationCreate[] = {
    {"kind", string, true, "direct (two people) or group"},
    {"with", string, false, "direct: the other person's handle"},
    {"title", string, false, "group: its title, 1-200 characters"},
    {"members", string_list, false, "group: handles of the other members (direct, on the control socket: the two people)"},
};
constexpr Param kConversationList[] = {
    {"kind", string, false, "only direct, group or tour conversations"},
    {"archived", boolean, false, "list archived conversations instead of the others"},
    {"user", string, false, "operators: this user's conversations (default: the caller's; on the control socket, all)"},
    {"after", integer, false, "paging: only conversations with an id greater than this"},
    {"cursor", string, false, "paging: the next_cursor of the previous page"},
    {"limit", integer, false, "at most this many, most recently active first (1-1000, default 200)"},
};
constexpr Param kConversationId[] = {{"id", integer, true, "the conversation"}};
constexpr Param kConversationUpdate[] = {
    {"id", integer, true, "the conversation (a group)"},
    {"title", string, true, "the new title"},
};
constexpr Param kConversationMembers[] = {
    {"id", integer, true, "the conversation"},
    {"users", string_list, true, "handles of the people to add or remove"},
};
constexpr Param kConversationMute[] = {
    {"id", integer, true, "the conversation"},
    {"muted", boolean, false, "true (default) mutes, false unmutes"},
};
constexpr Param kConversationArchive[] = {
    {"id", integer, true, "the conversation"},
    {"archived", boolean, false, "true (default) archives, false brings it back"},
};

constexpr Param kMessageSend[] = {
    {"conversation", integer, true, "the conversation"},
    {"client_id", string, false, "the client's unique id for this message (1-128 bytes): a resend returns the original"},
    {"kind", string, false, "text (default), file or location"},
    {"text", string, false, "the text (required for text; a caption for file); at most chat.max_text_bytes"},
    {"file", integer, false, "file: the id of an upload (POST /v1/files)"},
    {"lat", number, false, "location: latitude, -90 to 90"},
    {"lon", number, false, "location: longitude, -180 to 180"},
    {"accuracy", number, false, "location: accuracy in metres"},
    {"label", string, false, "location: what the place is, 1-200 characters"},
};
constexpr Param kMessageHistory[] = {
    {"conversation", integer, true, "the conversation"},
    {"after", integer, false, "only messages with a seq greater than this, oldest first (sync after a reconnect)"},
    {"before", integer, false, "only messages with a seq less than this (scrolling back)"},
    {"limit", integer, false, "at most this many (1 to chat.history_page, the default)"},
};
constexpr Param kMessageSearch[] = {
    {"conversation", integer, true, "the conversation"},
    {"q", string, true, "words that must all occur (plain words, no query syntax)"},
    {"limit", integer, false, "at most this many, newest first (default 50)"},
};
constexpr Param kMessageEdit[] = {
    {"conversation", integer, true, "the conversation"},
    {"seq", integer, true, "the message's seq"},
    {"text", string, true, "the new text"},
};
constexpr Param kMessageRef[] = {
    {"conversation", integer, true, "the conversation"},
    {"seq", integer, true, "the message's seq"},
};
constexpr Param kReceipt[] = {
    {"conversation", integer, true, "the conversation"},
    {"delivered", integer, false, "every message up to this seq has reached the caller's device"},
    {"read", integer, false, "the caller has read every message up to this seq (implies delivered)"},
};
constexpr Param kTyping[] = {
    {"conversation", integer, true, "the conversation"},
    {"state", string, false, "typing (default; repeat every few seconds while typing) or stopped"},
};
constexpr Param kPresenceSet[] = {{"status", string, true, "online or away"}};
constexpr Param kPresenceList[] = {
    {"users", string_list, false, "handles to look up (default: everyone sharing a conversation with the caller)"},
};
constexpr Param kFileUpload[] = {
    {"name", string, false, "the file's name, for display (never used as a path)"},
    {"content", string, false, "the file's bytes: the request body itself"},
};
constexpr Param kFileId[] = {{"id", integer, true, "the file"}};

const Operation kOperations[] = {
    {"status", "GET", "/v1/status", kOperator, {}, handlers::status,
     "Show the daemon's version, uptime, store figures and connection counts"},
    {"metrics", "GET", "/metrics", kOperator, {}, handlers::metrics,
     "Prometheus metrics in text format", false},
    {"backup", "POST", "/v1/backup", kOperator, {}, handlers::backup,
     "Stream a consistent copy of the live database", false},
    {"reload", "POST", "/v1/reload", kOperator, {}, handlers::reload,
     "Re-read the config file and apply it (same as SIGHUP)"},
    {"me", "GET", "/v1/me", kAnyone, {}, handlers::me,
     "Show the calling user"},

    {"user.create", "POST", "/v1/users", kOperator, kUserFields, handlers::user_create,
     "Create a user"},
    {"user.list", "GET", "/v1/users", kOperator, kUserList, handlers::user_list,
     "List users"},
    {"user.show", "GET", "/v1/users/{handle}", kAnyone, kHandle, handlers::user_show,
     "Show a user (anyone may show themself)"},
    {"user.update", "PATCH", "/v1/users/{handle}", kOperator, kUserUpdate, handlers::user_update,
     "Change a user's fields"},
    {"user.disable", "POST", "/v1/users/{handle}/disable", kOperator, kHandle, handlers::user_disable,
     "Disable a user: their tokens stop working"},
    {"user.enable", "POST", "/v1/users/{handle}/enable", kOperator, kHandle, handlers::user_enable,
     "Enable a disabled user again"},

    {"token.issue", "POST", "/v1/tokens", kOperator, kTokenIssue, handlers::token_issue,
     "Issue an access token for a user (the secret is shown once)"},
    {"token.list", "GET", "/v1/tokens", kOperator, kTokenList, handlers::token_list,
     "List access tokens (never their secrets)"},
    {"token.revoke", "DELETE", "/v1/tokens/{id}", kOperator, kTokenId, handlers::token_revoke,
     "Revoke an access token"},

    {"tour.create", "POST", "/v1/tours", kOperator, kTourCreate, handlers::tour_create,
     "Create a tour"},
    {"tour.list", "GET", "/v1/tours", kAnyone, kTourList, handlers::tour_list,
     "List tours (guides and tourists see their own)"},
    {"tour.show", "GET", "/v1/tours/{id}", kAnyone, kTourId, handlers::tour_show,
     "Show a tour with its participants"},
    {"tour.update", "PATCH", "/v1/tours/{id}", kOperator, kTourUpdate, handlers::tour_update,
     "Change a tour's fields or status"},
    {"tour.join", "POST", "/v1/tours/{id}/join", kOperator, kTourMembers, handlers::tour_join,
     "Add tourists to a tour"},
    {"tour.leave", "POST", "/v1/tours/{id}/leave", kOperator, kTourMembers, handlers::tour_leave,
     "Remove tourists from a tour"},
    {"tour.cancel", "POST", "/v1/tours/{id}/cancel", kOperator, kTourCancel, handlers::tour_cancel,
     "Cancel a tour"},

    {"conversation.create", "POST", "/v1/conversations", kAnyone, kConversationCreate, handlers::conversation_create,
     "Start a direct conversation (or get the existing one) or create a group"},
    {"conversation.list", "GET", "/v1/conversations", kAnyone, kConversationList, handlers::conversation_list,
     "List conversations with unread counts and last messages"},
    {"conversation.show", "GET", "/v1/conversations/{id}", kAnyone, kConversationId, handlers::conversation_show,
     "Show a conversation with its members and their receipts"},
    {"conversation.update", "PATCH", "/v1/conversations/{id}", kAnyone, kConversationUpdate, handlers::conversation_update,
     "Rename a group"},
    {"conversation.add", "POST", "/v1/conversations/{id}/members", kAnyone, kConversationMembers,
     handlers::conversation_add, "Add members to a group or a tour's conversation"},
    {"conversation.remove", "DELETE", "/v1/conversations/{id}/members", kAnyone, kConversationMembers,
     handlers::conversation_remove, "Remove members from a group or a tour's conversation"},
    {"conversation.leave", "POST", "/v1/conversations/{id}/leave", kAnyone, kConversationId, handlers::conversation_leave,
     "Leave a group"},
    {"conversation.mute", "POST", "/v1/conversations/{id}/mute", kAnyone, kConversationMute, handlers::conversation_mute,
     "Mute or unmute a conversation for the caller"},
    {"conversation.archive", "POST", "/v1/conversations/{id}/archive", kAnyone, kConversationArchive,
     handlers::conversation_archive, "Archive a conversation for the caller, or bring it back"},

    {"message.send", "POST", "/v1/conversations/{conversation}/messages", kAnyone, kMessageSend, handlers::message_send,
     "Send a text, file or location message (answered after it is stored)"},
    {"message.history", "GET", "/v1/conversations/{conversation}/messages", kAnyone, kMessageHistory,
     handlers::message_history, "Page through a conversation's messages"},
    {"message.search", "GET", "/v1/conversations/{conversation}/search", kAnyone, kMessageSearch,
     handlers::message_search, "Search a conversation's messages for words"},
    {"message.edit", "PATCH", "/v1/conversations/{conversation}/messages/{seq}", kAnyone, kMessageEdit,
     handlers::message_edit, "Change the text of one's own message"},
    {"message.delete", "DELETE", "/v1/conversations/{conversation}/messages/{seq}", kAnyone, kMessageRef,
     handlers::message_delete, "Delete a message, leaving a tombstone"},

    {"receipt", "POST", "/v1/conversations/{conversation}/receipts", kAnyone, kReceipt, handlers::receipt,
     "Report messages delivered to or read by the caller"},
    {"typing", "POST", "/v1/conversations/{conversation}/typing", kAnyone, kTyping, handlers::typing,
     "Tell the other members the caller is typing (or stopped)"},
    {"presence.set", "POST", "/v1/presence", kAnyone, kPresenceSet, handlers::presence_set,
     "Mark the caller's WebSocket session online or away"},
    {"presence.list", "GET", "/v1/presence", kAnyone, kPresenceList, handlers::presence_list,
     "Show who is online, away or offline (and last seen) among the caller's contacts"},

    {"notify.send", "POST", "/v1/notifications", kOperator, kNotifySend, handlers::notify_send,
     "Send a notification to users, a tour or a role through the outbox"},
    {"notify.list", "GET", "/v1/notifications/jobs", kOperator, kJobFilter, handlers::notify_list,
     "List notification jobs, newest first"},
    {"notify.show", "GET", "/v1/notifications/jobs/{id}", kOperator, kJobId, handlers::notify_show,
     "Show a job with every delivery attempt"},
    {"queue.status", "GET", "/v1/queue", kOperator, {}, handlers::queue_status,
     "Queue depth per channel and lane, oldest due job, counters and rates"},
    {"queue.retry", "POST", "/v1/queue/dead/retry", kOperator, kDeadFilter, handlers::queue_retry,
     "Put dead jobs back in the queue"},
    {"queue.purge", "POST", "/v1/queue/dead/purge", kOperator, kDeadFilter, handlers::queue_purge,
     "Delete dead jobs and their attempts"},
    {"feed.list", "GET", "/v1/feed", kAnyone, kFeedList, handlers::feed_list,
     "The in-app notification feed, newest first, with the unread count"},
    {"feed.read", "POST", "/v1/feed/read", kAnyone, kFeedRead, handlers::feed_read,
     "Mark one feed item, or all, read"},
    {"preference.list", "GET", "/v1/preferences", kAnyone, kPreferenceList, handlers::preference_list,
     "Show notification preferences, consent and quiet hours"},
    {"preference.set", "POST", "/v1/preferences", kAnyone, kPreferenceSet, handlers::preference_set,
     "Opt in or out of a category on a channel"},
    {"push.vapid_key", "GET", "/v1/push/vapid-key", kAnyone, {}, handlers::push_vapid_key,
     "The VAPID public key browsers subscribe with (applicationServerKey)"},
    {"push.subscribe", "POST", "/v1/push/subscriptions", kAnyone, kPushSubscribe, handlers::push_subscribe,
     "Register a browser's Web Push subscription"},
    {"push.unsubscribe", "DELETE", "/v1/push/subscriptions/{id}", kAnyone, kAddressId, handlers::push_unsubscribe,
     "Remove a Web Push subscription"},
    {"push.list", "GET", "/v1/push", kAnyone, kPushList, handlers::push_list,
     "List the caller's browser subscriptions and mobile devices"},
    {"device.register", "POST", "/v1/devices", kAnyone, kDeviceRegister, handlers::device_register,
     "Register a phone's FCM or APNs token"},
    {"device.unregister", "DELETE", "/v1/devices/{id}", kAnyone, kAddressId, handlers::device_unregister,
     "Remove a phone's push token"},
    {"template.list", "GET", "/v1/templates", kOperator, {}, handlers::template_list,
     "List the message templates"},
    {"template.show", "GET", "/v1/templates/{name}", kOperator, kTemplateShow, handlers::template_show,
     "Show a template in a language"},
    {"template.preview", "POST", "/v1/templates/{name}/preview", kOperator, kTemplatePreview, handlers::template_preview,
     "Render a template with sample data"},

    {"file.upload", "POST", "/v1/files", kAnyone, kFileUpload, handlers::file_upload,
     "Upload a file or photo (the request body); answers its id for a file message", false, true},
    {"file.show", "GET", "/v1/files/{id}", kAnyone, kFileId, handlers::file_show,
     "Show a file's name, type, size and image dimensions"},
    {"file.download", "GET", "/v1/files/{id}/content", kAnyone, kFileId, handlers::file_download,
     "Download a file shared in one of the caller's conversations", false},
};

}  // namespace

std::span<const Operation> operations() { return kOperations; }

}  // namespace tourbus::api
