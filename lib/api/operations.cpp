// Every API operation, once. Add an operation here, write its handler, document it in docs/api.md
// (a test compares the two).
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
    {"escalate", boolean, false, "track it: recipients confirm it (alert.answer, an SMS reply OK, a link), or climb the escalation ladder"},
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
constexpr Param kQueueCancel[] = {
    {"notification", integer, false, "cancel the queued jobs of this notification"},
    {"job", integer, false, "cancel this queued job"},
    {"user", string, false, "cancel the queued jobs for this user"},
    {"channel", string, false, "only jobs of this channel"},
    {"category", string, false, "only jobs of this category (marketing, reminder, ...)"},
};

constexpr Param kReminderAdd[] = {
    {"name", string, true, "a name to manage it by: 1-64 of a-z 0-9 . _ -"},
    {"template", string, true, "the template sent (in each recipient's language)"},
    {"category", string, false, "transactional, reminder, review, marketing or emergency (default: the template's)"},
    {"user", string, false, "audience: one user"},
    {"tour", integer, false, "audience: this tour's participants"},
    {"all_tours", boolean, false, "audience: every tour's participants (with offset)"},
    {"role", string, false, "audience: everyone with this role"},
    {"segment", string, false, "audience: everyone a segment selects when it fires (docs/schedules.md)"},
    {"cron", string, false, "trigger: a cron expression (5 fields or @daily, @weekly, ...)"},
    {"time_zone", string, false, "the IANA zone the cron expression or a local at is read in (default UTC)"},
    {"at", string, false, "trigger: once, at this time (RFC 3339, or local in zone)"},
    {"offset", string, false, "trigger: relative to each tour, per participant: start-24h, start-2h, end+2h"},
    {"channels", string_list, false, "channels to use, or [\"auto\"] (the default)"},
    {"vars", string_map, false, "template variables: {\"name\": \"value\", ...}"},
    {"catch_up", string, false, "after downtime: once (fire once, late; the default) or skip"},
};
constexpr Param kReminderName[] = {{"name", string, true, "the reminder"}};
constexpr Param kReminderList[] = {{"removed", boolean, false, "include removed reminders"}};
constexpr Param kReminderNext[] = {
    {"name", string, true, "the reminder"},
    {"count", integer, false, "how many firings (1-100, default 5)"},
};
constexpr Param kRuleAdd[] = {
    {"name", string, true, "a name to manage it by: 1-64 of a-z 0-9 . _ -"},
    {"event", string, true, "the platform event type it answers: booking.confirmed, ..."},
    {"template", string, true, "the template sent"},
    {"category", string, false, "transactional, reminder, review, marketing or emergency (default: the template's)"},
    {"audience", string, false, "user (the event's user; the default), tour (its tour's participants) or guide (its tour's guide)"},
    {"delay", string, false, "wait this long after the event: 10m, 2h, 1d (default: at once)"},
    {"channels", string_list, false, "channels to use, or [\"auto\"] (the default)"},
    {"vars", string_map, false, "template variables (the event's own variables come first)"},
};
constexpr Param kRuleName[] = {{"name", string, true, "the rule"}};
constexpr Param kEventPost[] = {
    {"type", string, true, "what happened: booking.confirmed, booking.cancelled, review.submitted, ... (a-z 0-9 . _ -)"},
    {"user", string, true, "the user it concerns, by handle"},
    {"tour", integer, false, "the tour it concerns"},
    {"vars", string_map, false, "values for the templates of the rules it matches"},
    {"idempotency_key", string, false, "the same key twice is one event (answered with the first)"},
};
constexpr Param kReviewStatus[] = {{"id", integer, true, "the tour"}};
constexpr Param kNoShow[] = {
    {"id", integer, true, "the tour"},
    {"users", string_list, true, "participants by handle"},
    {"no_show", boolean, false, "false clears the mark (default true)"},
};
constexpr Param kCampaignCreate[] = {
    {"name", string, true, "a name to manage it by: 1-64 of a-z 0-9 . _ -"},
    {"template", string, true, "the template sent (category marketing), in each recipient's language"},
    {"segment", string, true, "who: a segment expression (docs/schedules.md), e.g. language = es and consent and tours >= 1"},
    {"channels", string_list, false, "channels to use, or [\"auto\"] (the default)"},
    {"vars", string_map, false, "template variables: {\"offer\": \"...\", ...}"},
    {"rate_per_second", integer, false, "messages a second on each channel (default campaign.rate_per_second)"},
};
constexpr Param kCampaignName[] = {{"name", string, true, "the campaign"}};
constexpr Param kCampaignSchedule[] = {
    {"name", string, true, "the campaign"},
    {"at", string, true, "when it starts: RFC 3339, or local in time_zone"},
    {"time_zone", string, false, "the IANA zone a local at is read in (default UTC)"},
};
constexpr Param kCampaignPause[] = {
    {"name", string, true, "the campaign"},
    {"reason", string, false, "why, shown in its listing"},
};
// Safety (docs/safety.md): live location, emergency alerts and their roll-call, SOS, duty.
constexpr Param kLocationUpdate[] = {
    {"lat", number, true, "latitude, WGS 84 degrees (-90..90)"},
    {"lon", number, true, "longitude, WGS 84 degrees (-180..180)"},
    {"accuracy", number, false, "radius of uncertainty in metres"},
    {"heading", number, false, "direction of travel, degrees from true north (0-360)"},
    {"speed", number, false, "metres per second"},
    {"battery", number, false, "the device's battery level, percent (0-100)"},
    {"tour", integer, false, "the tour it is shared with (default: the caller's tour in its sharing window)"},
};
constexpr Param kLocationShare[] = {
    {"id", integer, true, "the tour"},
    {"share", boolean, true, "share the caller's position with the tour (true) or stop at once (false)"},
};
constexpr Param kLocationShow[] = {
    {"id", integer, true, "the tour"},
    {"trail", boolean, false, "the guide and operators: include each person's trail"},
};
constexpr Param kLocationGroup[] = {
    {"id", integer, true, "the tour"},
    {"visible", boolean, true, "whether the tourists see each other's positions (the guide's is always shown)"},
};
constexpr Param kAlertSend[] = {
    {"cap", string, false, "a CAP 1.2 XML document (the alert, its info blocks and areas); or the fields below"},
    {"headline", string, false, "a short headline (required without cap)"},
    {"description", string, false, "what is happening"},
    {"instruction", string, false, "what to do"},
    {"event", string, false, "the kind of event, e.g. Flood (default: the headline)"},
    {"category", string, false, "CAP category: Geo, Met, Safety, Security, Rescue, Fire, Health, Env, Transport, Infra, CBRNE or Other (default Safety)"},
    {"urgency", string, false, "Immediate, Expected, Future, Past or Unknown (default Immediate)"},
    {"severity", string, false, "Extreme, Severe, Moderate, Minor or Unknown (default Severe)"},
    {"certainty", string, false, "Observed, Likely, Possible, Unlikely or Unknown (default Observed)"},
    {"language", string, false, "the language of the text fields, a BCP 47 tag (default notify.default_language)"},
    {"status", string, false, "Actual, Exercise or Test (default Actual)"},
    {"area", string, false, "a description of the area (default: the first circle or polygon)"},
    {"circle", string_list, false, "target everyone last seen in a circle: \"lat,lon radius_km\" (CAP form)"},
    {"polygon", string_list, false, "target everyone last seen in a polygon: \"lat,lon lat,lon ...\", first point repeated last"},
    {"tours", string_list, false, "target whole tour groups (tour ids), wherever they are"},
    {"roles", string_list, false, "target everyone with these roles"},
    {"users", string_list, false, "target these users (handles)"},
    {"max_age_minutes", integer, false, "area targets: only positions fresher than this (default alert.max_location_age_minutes)"},
    {"update", integer, false, "this alert updates alert ID (msgType Update): its recipients get it too"},
    {"group_percent", integer, false, "escalation rule: if fewer than this percent answered ..."},
    {"group_minutes", integer, false, "... after this many minutes ..."},
    {"group_roles", string_list, false, "... notify everyone with these roles (e.g. guide, operator)"},
    {"dry_run", boolean, false, "count the recipients, send nothing"},
};
constexpr Param kAlertId[] = {{"id", integer, true, "the alert"}};
constexpr Param kAlertCancel[] = {
    {"id", integer, true, "the alert"},
    {"note", string, false, "why, told to the recipients"},
};
constexpr Param kAlertClose[] = {
    {"id", integer, true, "the alert"},
};
constexpr Param kAlertList[] = {
    {"state", string, false, "only alerts in this state: sending, sent, cancelled or closed"},
    {"limit", integer, false, "at most this many, newest first (1-1000, default 100)"},
};
constexpr Param kAlertAnswer[] = {
    {"id", integer, true, "the alert"},
    {"answer", string, true, "safe or need_help"},
    {"user", string, false, "guides and operators: the person being answered for (a guide marks a member of their group seen safe)"},
    {"note", string, false, "a word about it (need_help: shown in the incident conversation)"},
};
constexpr Param kSmsInbound[] = {
    {"content", string, false, "the form the SMS provider posts (From, Body, ...)"},
    {"signature", string, false, "X-Twilio-Signature"},
};
constexpr Param kCallStart[] = {
    {"conversation", integer, false, "the conversation the call belongs to (its record goes there); or sos"},
    {"sos", integer, false, "your SOS: a video call to the operators on duty, in its incident conversation (instead of conversation)"},
    {"video", boolean, false, "a video call (default true); false: audio only"},
    {"to", string_list, false, "handles of the members to ring (default: every other member; calls.max_members in all)"},
};
constexpr Param kCallId[] = {{"id", integer, true, "the call"}};
constexpr Param kCallDecline[] = {
    {"id", integer, true, "the call"},
    {"busy", boolean, false, "true: busy (in something else), rather than declined"},
};
constexpr Param kCallSignal[] = {
    {"id", integer, true, "the call"},
    {"to", string, true, "the handle of the member it is for (joined in the call)"},
    {"type", string, true, "offer, answer or candidate"},
    {"sdp", string, false, "offer, answer: the session description (at most 32 KiB)"},
    {"candidate", string, false, "candidate: the ICE candidate line (empty: end of candidates)"},
    {"sdp_mid", string, false, "candidate: its media section id"},
    {"sdp_mline_index", integer, false, "candidate: its media section index"},
    {"username_fragment", string, false, "candidate: its ICE username fragment"},
    {"tracks", string_map, false, "offer, answer: what each track is, by track or stream id: camera, screen or audio (a screen is shown as such)"},
};
constexpr Param kCallStats[] = {
    {"id", integer, true, "the call"},
    {"rtt_ms", number, true, "round-trip time (ms), from the selected candidate pair"},
    {"loss_percent", number, true, "inbound packets lost since the last report, in percent"},
    {"bitrate_kbps", number, true, "outbound bitrate (kbit/s)"},
    {"fps", number, false, "video frames per second sent (video calls)"},
    {"height", integer, false, "video height sent, in pixels"},
};
constexpr Param kCallList[] = {
    {"conversation", integer, false, "only this conversation's calls (operators: every call without it)"},
    {"limit", integer, false, "at most this many, newest first (1-500, default 50)"},
};
constexpr Param kSosRaise[] = {
    {"lat", number, false, "where the caller is (default: their last shared position)"},
    {"lon", number, false, "longitude, with lat"},
    {"accuracy", number, false, "metres"},
    {"note", string, false, "what is wrong, in a few words"},
    {"client_id", string, false, "the client's id for this SOS: a resend returns the first"},
};
constexpr Param kSosList[] = {
    {"state", string, false, "open, acknowledged, resolved or all (default: open and acknowledged)"},
    {"limit", integer, false, "at most this many, newest first (1-1000, default 100)"},
};
constexpr Param kSosId[] = {{"id", integer, true, "the SOS"}};
constexpr Param kSosAct[] = {
    {"id", integer, true, "the SOS"},
    {"note", string, false, "a word about it, posted in the incident conversation"},
};
constexpr Param kDutyUser[] = {{"user", string, true, "an operator's handle"}};
constexpr Param kLink[] = {{"token", string, true, "the signed link from a message"}};
constexpr Param kUserTag[] = {
    {"handle", string, true, "the user"},
    {"add", string_list, false, "tags to add (1-64 of a-z 0-9 _ -)"},
    {"remove", string_list, false, "tags to take away"},
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
    {"lang", string, false, "text: the language it is written in, a BCP 47 tag (default: detected, else the sender's language)"},
    {"translate", boolean, false, "text: false marks it \"do not translate\" (a safety instruction in fixed wording)"},
};
constexpr Param kTranslate[] = {
    {"text", string, true, "the text to translate, at most chat.max_text_bytes"},
    {"from", string, true, "its language, a BCP 47 tag"},
    {"to", string, true, "the language wanted"},
};
constexpr Param kGlossaryAdd[] = {
    {"term", string, true, "a place, attraction, meeting point or name never to translate, 1-200 characters"},
    {"note", string, false, "what it is, for operators"},
};
constexpr Param kGlossaryId[] = {{"id", integer, true, "the term's id"}};
constexpr Param kTranslationSet[] = {
    {"enabled", boolean, true, "true: translate what others write into my language; false: show originals only; null (with conversation): follow the conversation's default", true},
    {"conversation", integer, false, "only in this conversation (default: everywhere)"},
};
constexpr Param kConversationTranslation[] = {
    {"id", integer, true, "the conversation"},
    {"enabled", boolean, true, "the default for members who chose nothing: translate (true) or not"},
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
constexpr Param kPreviewStart[] = {
    {"tour", integer, false, "the tour it previews (guides: one they lead; required with access tour)"},
    {"title", string, false, "what viewers see (default: the tour's title)"},
    {"access", string, false, "who may watch: tour (its participants, the default with a tour), tourists (anyone signed in as a tourist) or link (anyone signed in with the link secret answered once)"},
    {"record", boolean, false, "record from the start (default false)"},
};
constexpr Param kPreviewId[] = {{"id", integer, true, "the preview"}};
constexpr Param kPreviewPublish[] = {
    {"id", integer, true, "the preview"},
    {"sdp", string, true, "the guide's SDP offer, ICE gathering complete (simulcast: rids h, m, l)"},
};
constexpr Param kPreviewWatch[] = {
    {"id", integer, true, "the preview"},
    {"link", string, false, "the link secret (access link)"},
};
constexpr Param kPreviewAnswer[] = {
    {"viewer", integer, true, "the viewer id preview.watch answered"},
    {"sdp", string, true, "the viewer's SDP answer, ICE gathering complete"},
};
constexpr Param kPreviewViewer[] = {{"viewer", integer, true, "the viewer id preview.watch answered"}};
constexpr Param kPreviewStats[] = {
    {"viewer", integer, true, "the viewer id preview.watch answered"},
    {"rtt_ms", number, true, "round-trip time (ms), from the selected candidate pair"},
    {"loss_percent", number, true, "inbound packets lost since the last report, in percent"},
    {"bitrate_kbps", number, true, "inbound video bitrate (kbit/s)"},
    {"fps", number, false, "video frames per second decoded"},
    {"height", integer, false, "video height received, in pixels"},
};
constexpr Param kPreviewRecord[] = {
    {"id", integer, true, "the preview"},
    {"on", boolean, true, "true: record from now; false: stop recording (what was recorded is converted and stored)"},
};
constexpr Param kPreviewList[] = {
    {"state", string, false, "live (default), ended or all"},
    {"limit", integer, false, "at most this many, newest first (1-500, default 50)"},
};
constexpr Param kRecordingId[] = {{"id", integer, true, "the recording"}};
constexpr Param kRecordingList[] = {
    {"preview", integer, false, "only this preview's recordings"},
    {"limit", integer, false, "at most this many, newest first (1-500, default 50)"},
};

constexpr Param kStoreMigrate[] = {
    {"postgres", string, true, "libpq connection string of the empty PostgreSQL database, without the password"},
    {"password", string, false, "the password of its role (never logged)"},
};

const Operation kOperations[] = {
    {.name = "status", .method = "GET", .route = "/v1/status", .allowed = kOperator,
     .summary = "Show the daemon's version, uptime, store figures and connection counts"},
    {.name = "metrics", .method = "GET", .route = "/metrics", .allowed = kOperator,
     .summary = "Prometheus metrics in text format", .websocket = false},
    {.name = "backup", .method = "POST", .route = "/v1/backup", .allowed = kOperator,
     .summary = "Stream a consistent copy of the live database", .websocket = false},
    {.name = "reload", .method = "POST", .route = "/v1/reload", .allowed = kOperator,
     .summary = "Re-read the config file and apply it (same as SIGHUP)"},
    {.name = "store.migrate", .method = "POST", .route = "/v1/store/migrate", .allowed = kOperator,
     .params = kStoreMigrate,
     .summary = "Copy the SQLite store into an empty PostgreSQL database, then refuse writes until restarted on it",
     .websocket = false},
    {.name = "me", .method = "GET", .route = "/v1/me", .allowed = kAnyone, .summary = "Show the calling user"},

    {.name = "user.create", .method = "POST", .route = "/v1/users", .allowed = kOperator,
     .params = kUserFields, .summary = "Create a user"},
    {.name = "user.list", .method = "GET", .route = "/v1/users", .allowed = kOperator,
     .params = kUserList, .summary = "List users"},
    {.name = "user.show", .method = "GET", .route = "/v1/users/{handle}", .allowed = kAnyone,
     .params = kHandle, .summary = "Show a user (anyone may show themself)"},
    {.name = "user.update", .method = "PATCH", .route = "/v1/users/{handle}", .allowed = kOperator,
     .params = kUserUpdate, .summary = "Change a user's fields"},
    {.name = "user.disable", .method = "POST", .route = "/v1/users/{handle}/disable", .allowed = kOperator,
     .params = kHandle, .summary = "Disable a user: their tokens stop working"},
    {.name = "user.enable", .method = "POST", .route = "/v1/users/{handle}/enable", .allowed = kOperator,
     .params = kHandle, .summary = "Enable a disabled user again"},

    {.name = "token.issue", .method = "POST", .route = "/v1/tokens", .allowed = kOperator,
     .params = kTokenIssue, .summary = "Issue an access token for a user (the secret is shown once)"},
    {.name = "token.list", .method = "GET", .route = "/v1/tokens", .allowed = kOperator,
     .params = kTokenList, .summary = "List access tokens (never their secrets)"},
    {.name = "token.revoke", .method = "DELETE", .route = "/v1/tokens/{id}", .allowed = kOperator,
     .params = kTokenId, .summary = "Revoke an access token"},

    {.name = "tour.create", .method = "POST", .route = "/v1/tours", .allowed = kOperator,
     .params = kTourCreate, .summary = "Create a tour"},
    {.name = "tour.list", .method = "GET", .route = "/v1/tours", .allowed = kAnyone,
     .params = kTourList, .summary = "List tours (guides and tourists see their own)"},
    {.name = "tour.show", .method = "GET", .route = "/v1/tours/{id}", .allowed = kAnyone,
     .params = kTourId, .summary = "Show a tour with its participants"},
    {.name = "tour.update", .method = "PATCH", .route = "/v1/tours/{id}", .allowed = kOperator,
     .params = kTourUpdate, .summary = "Change a tour's fields or status"},
    {.name = "tour.join", .method = "POST", .route = "/v1/tours/{id}/join", .allowed = kOperator,
     .params = kTourMembers, .summary = "Add tourists to a tour"},
    {.name = "tour.leave", .method = "POST", .route = "/v1/tours/{id}/leave", .allowed = kOperator,
     .params = kTourMembers, .summary = "Remove tourists from a tour"},
    {.name = "tour.cancel", .method = "POST", .route = "/v1/tours/{id}/cancel", .allowed = kOperator,
     .params = kTourCancel, .summary = "Cancel a tour"},

    {.name = "conversation.create", .method = "POST", .route = "/v1/conversations", .allowed = kAnyone,
     .params = kConversationCreate, .summary = "Start a direct conversation (or get the existing one) or create a group"},
    {.name = "conversation.list", .method = "GET", .route = "/v1/conversations", .allowed = kAnyone,
     .params = kConversationList, .summary = "List conversations with unread counts and last messages"},
    {.name = "conversation.show", .method = "GET", .route = "/v1/conversations/{id}", .allowed = kAnyone,
     .params = kConversationId, .summary = "Show a conversation with its members and their receipts"},
    {.name = "conversation.update", .method = "PATCH", .route = "/v1/conversations/{id}", .allowed = kAnyone,
     .params = kConversationUpdate, .summary = "Rename a group"},
    {.name = "conversation.add", .method = "POST", .route = "/v1/conversations/{id}/members", .allowed = kAnyone,
     .params = kConversationMembers, .summary = "Add members to a group or a tour's conversation"},
    {.name = "conversation.remove", .method = "DELETE", .route = "/v1/conversations/{id}/members", .allowed = kAnyone,
     .params = kConversationMembers, .summary = "Remove members from a group or a tour's conversation"},
    {.name = "conversation.leave", .method = "POST", .route = "/v1/conversations/{id}/leave", .allowed = kAnyone,
     .params = kConversationId, .summary = "Leave a group"},
    {.name = "conversation.mute", .method = "POST", .route = "/v1/conversations/{id}/mute", .allowed = kAnyone,
     .params = kConversationMute, .summary = "Mute or unmute a conversation for the caller"},
    {.name = "conversation.archive", .method = "POST", .route = "/v1/conversations/{id}/archive", .allowed = kAnyone,
     .params = kConversationArchive, .summary = "Archive a conversation for the caller, or bring it back"},

    {.name = "message.send", .method = "POST", .route = "/v1/conversations/{conversation}/messages", .allowed = kAnyone,
     .params = kMessageSend, .summary = "Send a text, file or location message (answered after it is stored)"},
    {.name = "translate", .method = "POST", .route = "/v1/translate", .allowed = kStaff,
     .params = kTranslate, .summary = "Translate a text with the configured engines (to try them)"},
    {.name = "translation.set", .method = "POST", .route = "/v1/me/translation", .allowed = kAnyone,
     .params = kTranslationSet, .summary = "Turn translation on or off for oneself, everywhere or in one conversation"},
    {.name = "conversation.translation", .method = "POST", .route = "/v1/conversations/{id}/translation", .allowed = kAnyone,
     .params = kConversationTranslation, .summary = "Set whether a conversation translates by default (its owner, a guide in it, or an operator)"},
    {.name = "glossary.add", .method = "POST", .route = "/v1/glossary", .allowed = kOperator,
     .params = kGlossaryAdd, .summary = "Protect a term from translation"},
    {.name = "glossary.list", .method = "GET", .route = "/v1/glossary", .allowed = kOperator,
     .summary = "List the protected terms"},
    {.name = "glossary.remove", .method = "DELETE", .route = "/v1/glossary/{id}", .allowed = kOperator,
     .params = kGlossaryId, .summary = "Stop protecting a term"},
    {.name = "message.history", .method = "GET", .route = "/v1/conversations/{conversation}/messages", .allowed = kAnyone,
     .params = kMessageHistory, .summary = "Page through a conversation's messages"},
    {.name = "message.search", .method = "GET", .route = "/v1/conversations/{conversation}/search", .allowed = kAnyone,
     .params = kMessageSearch, .summary = "Search a conversation's messages for words"},
    {.name = "message.edit", .method = "PATCH", .route = "/v1/conversations/{conversation}/messages/{seq}", .allowed = kAnyone,
     .params = kMessageEdit, .summary = "Change the text of one's own message"},
    {.name = "message.delete", .method = "DELETE", .route = "/v1/conversations/{conversation}/messages/{seq}", .allowed = kAnyone,
     .params = kMessageRef, .summary = "Delete a message, leaving a tombstone"},

    {.name = "receipt", .method = "POST", .route = "/v1/conversations/{conversation}/receipts", .allowed = kAnyone,
     .params = kReceipt, .summary = "Report messages delivered to or read by the caller"},
    {.name = "typing", .method = "POST", .route = "/v1/conversations/{conversation}/typing", .allowed = kAnyone,
     .params = kTyping, .summary = "Tell the other members the caller is typing (or stopped)"},
    {.name = "presence.set", .method = "POST", .route = "/v1/presence", .allowed = kAnyone,
     .params = kPresenceSet, .summary = "Mark the caller's WebSocket session online or away"},
    {.name = "presence.list", .method = "GET", .route = "/v1/presence", .allowed = kAnyone,
     .params = kPresenceList, .summary = "Show who is online, away or offline (and last seen) among the caller's contacts"},

    {.name = "notify.send", .method = "POST", .route = "/v1/notifications", .allowed = kOperator,
     .params = kNotifySend, .summary = "Send a notification to users, a tour or a role through the outbox"},
    {.name = "notify.list", .method = "GET", .route = "/v1/notifications/jobs", .allowed = kOperator,
     .params = kJobFilter, .summary = "List notification jobs, newest first"},
    {.name = "notify.show", .method = "GET", .route = "/v1/notifications/jobs/{id}", .allowed = kOperator,
     .params = kJobId, .summary = "Show a job with every delivery attempt"},
    {.name = "queue.status", .method = "GET", .route = "/v1/queue", .allowed = kOperator,
     .summary = "Queue depth per channel and lane, oldest due job, counters and rates"},
    {.name = "queue.retry", .method = "POST", .route = "/v1/queue/dead/retry", .allowed = kOperator,
     .params = kDeadFilter, .summary = "Put dead jobs back in the queue"},
    {.name = "queue.purge", .method = "POST", .route = "/v1/queue/dead/purge", .allowed = kOperator,
     .params = kDeadFilter, .summary = "Delete dead jobs and their attempts"},
    {.name = "queue.cancel", .method = "POST", .route = "/v1/queue/cancel", .allowed = kOperator,
     .params = kQueueCancel, .summary = "Cancel queued jobs (of a notification, a user, a channel) before they are sent"},
    {.name = "reminder.add", .method = "POST", .route = "/v1/reminders", .allowed = kOperator,
     .params = kReminderAdd, .summary = "Schedule a template for an audience by cron, at a time, or relative to tours"},
    {.name = "reminder.list", .method = "GET", .route = "/v1/reminders", .allowed = kOperator,
     .params = kReminderList, .summary = "List reminders with their trigger, catch-up policy and next firing"},
    {.name = "reminder.show", .method = "GET", .route = "/v1/reminders/{name}", .allowed = kOperator,
     .params = kReminderName, .summary = "Show a reminder with its firing counts, pending and recent firings"},
    {.name = "reminder.pause", .method = "POST", .route = "/v1/reminders/{name}/pause", .allowed = kOperator,
     .params = kReminderName, .summary = "Stop a reminder firing until it is resumed"},
    {.name = "reminder.resume", .method = "POST", .route = "/v1/reminders/{name}/resume", .allowed = kOperator,
     .params = kReminderName, .summary = "Resume a paused reminder (missed firings follow its catch-up policy)"},
    {.name = "reminder.remove", .method = "DELETE", .route = "/v1/reminders/{name}", .allowed = kOperator,
     .params = kReminderName, .summary = "Remove a reminder; its pending firings are cancelled"},
    {.name = "reminder.next", .method = "GET", .route = "/v1/reminders/{name}/next", .allowed = kOperator,
     .params = kReminderNext, .summary = "The next firings of a reminder, in local time and UTC"},
    {.name = "rule.add", .method = "POST", .route = "/v1/rules", .allowed = kOperator,
     .params = kRuleAdd, .summary = "Send a template when the platform posts an event of a type"},
    {.name = "rule.list", .method = "GET", .route = "/v1/rules", .allowed = kOperator,
     .summary = "List the event rules"},
    {.name = "rule.remove", .method = "DELETE", .route = "/v1/rules/{name}", .allowed = kOperator,
     .params = kRuleName, .summary = "Remove an event rule; its pending firings are cancelled"},
    {.name = "event.post", .method = "POST", .route = "/v1/events", .allowed = kOperator,
     .params = kEventPost, .summary = "Tell tourbus what happened on the booking platform; matching rules fire"},
    {.name = "review.status", .method = "GET", .route = "/v1/tours/{id}/reviews", .allowed = kOperator,
     .params = kReviewStatus, .summary = "Who was asked for a review of a tour, nudged, and has reviewed"},
    {.name = "tour.no_show", .method = "POST", .route = "/v1/tours/{id}/no-show", .allowed = kOperator,
     .params = kNoShow, .summary = "Mark participants who did not show up (they get no review request)"},
    {.name = "campaign.create", .method = "POST", .route = "/v1/campaigns", .allowed = kOperator,
     .params = kCampaignCreate, .summary = "Create a marketing campaign (a draft) for a segment"},
    {.name = "campaign.list", .method = "GET", .route = "/v1/campaigns", .allowed = kOperator,
     .summary = "List campaigns with their state and progress"},
    {.name = "campaign.preview", .method = "GET", .route = "/v1/campaigns/{name}/preview", .allowed = kOperator,
     .params = kCampaignName, .summary = "Who a campaign would reach: counts per channel and language, a rendered sample per language"},
    {.name = "campaign.schedule", .method = "POST", .route = "/v1/campaigns/{name}/schedule", .allowed = kOperator,
     .params = kCampaignSchedule, .summary = "Start a campaign at a time"},
    {.name = "campaign.start", .method = "POST", .route = "/v1/campaigns/{name}/start", .allowed = kOperator,
     .params = kCampaignName, .summary = "Start a campaign now: its recipients are fixed and sending begins"},
    {.name = "campaign.pause", .method = "POST", .route = "/v1/campaigns/{name}/pause", .allowed = kOperator,
     .params = kCampaignPause, .summary = "Pause a running campaign (queued messages still go)"},
    {.name = "campaign.resume", .method = "POST", .route = "/v1/campaigns/{name}/resume", .allowed = kOperator,
     .params = kCampaignName, .summary = "Resume a paused campaign"},
    {.name = "campaign.cancel", .method = "POST", .route = "/v1/campaigns/{name}/cancel", .allowed = kOperator,
     .params = kCampaignName, .summary = "Cancel a campaign and every message of it not yet sent"},
    {.name = "campaign.stats", .method = "GET", .route = "/v1/campaigns/{name}/stats", .allowed = kOperator,
     .params = kCampaignName, .summary = "A campaign's figures: targeted, queued, sent, delivered, failed, skipped, unsubscribed"},
    {.name = "user.tag", .method = "POST", .route = "/v1/users/{handle}/tags", .allowed = kOperator,
     .params = kUserTag, .summary = "Add or remove a user's tags (for segments)"},
    {.name = "link.open", .method = "GET", .route = "/v1/links/{token}", .allowed = kAnyone,
     .params = kLink, .summary = "Follow a signed link from a message (review: recorded; unsubscribe: asks to confirm)",
     .websocket = false, .public_link = true},
    {.name = "link.confirm", .method = "POST", .route = "/v1/links/{token}", .allowed = kAnyone,
     .params = kLink, .summary = "Act on a signed link: unsubscribe at once (also RFC 8058 one-click), or record a review",
     .websocket = false, .public_link = true},
    {.name = "location.update", .method = "POST", .route = "/v1/location", .allowed = kAnyone,
     .params = kLocationUpdate, .summary = "Share the caller's position with their tour (in its window, with consent)"},
    {.name = "location.share", .method = "POST", .route = "/v1/tours/{id}/location/share", .allowed = kAnyone,
     .params = kLocationShare, .summary = "Give or withdraw consent to share one's position with a tour"},
    {.name = "location.show", .method = "GET", .route = "/v1/tours/{id}/locations", .allowed = kAnyone,
     .params = kLocationShow, .summary = "The positions of a tour's group the caller may see, with distances and ages"},
    {.name = "location.group", .method = "POST", .route = "/v1/tours/{id}/location/group", .allowed = kStaff,
     .params = kLocationGroup, .summary = "Let a tour's tourists see each other's positions, or not"},
    {.name = "alert.send", .method = "POST", .route = "/v1/alerts", .allowed = kStaff,
     .params = kAlertSend, .summary = "Send an emergency alert (CAP 1.2) to an area, tours, roles or users"},
    {.name = "alert.cancel", .method = "POST", .route = "/v1/alerts/{id}/cancel", .allowed = kStaff,
     .params = kAlertCancel, .summary = "Cancel an alert: its recipients are told, its escalation stops"},
    {.name = "alert.close", .method = "POST", .route = "/v1/alerts/{id}/close", .allowed = kStaff,
     .params = kAlertClose, .summary = "Close an alert once the emergency is over: its escalation stops, answers are no longer taken, nobody is told"},
    {.name = "alert.list", .method = "GET", .route = "/v1/alerts", .allowed = kAnyone,
     .params = kAlertList, .summary = "List alerts (tourists: those sent to them, with their answer)"},
    {.name = "alert.show", .method = "GET", .route = "/v1/alerts/{id}", .allowed = kAnyone,
     .params = kAlertId, .summary = "Show an alert as JSON (the recipient's own info block and answer, for tourists)"},
    {.name = "alert.cap", .method = "GET", .route = "/v1/alerts/{id}/cap", .allowed = kStaff,
     .params = kAlertId, .summary = "An alert as a CAP 1.2 XML document", .websocket = false},
    {.name = "alert.status", .method = "GET", .route = "/v1/alerts/{id}/status", .allowed = kStaff,
     .params = kAlertId, .summary = "The roll-call: safe, need help and not answered, per tour and guide, with every escalation step"},
    {.name = "alert.answer", .method = "POST", .route = "/v1/alerts/{id}/answer", .allowed = kAnyone,
     .params = kAlertAnswer, .summary = "Answer an alert's roll-call: safe or need help (guides: mark a member seen safe)"},
    {.name = "sms.inbound", .method = "POST", .route = "/v1/webhooks/sms", .allowed = kAnyone,
     .params = kSmsInbound, .summary = "The SMS provider's webhook for replies (Twilio form, signature checked): roll-call keywords",
     .websocket = false, .public_link = true},
    {.name = "call.config", .method = "GET", .route = "/v1/calls/config", .allowed = kAnyone,
     .summary = "ICE servers for a call: STUN, and TURN with credentials valid for calls.turn_ttl_seconds"},
    {.name = "call.start", .method = "POST", .route = "/v1/calls", .allowed = kAnyone, .params = kCallStart,
     .summary = "Call members of a conversation: rings every device of theirs (over a WebSocket or Socket.IO session)"},
    {.name = "call.ringing", .method = "POST", .route = "/v1/calls/{id}/ringing", .allowed = kAnyone, .params = kCallId,
     .summary = "Say this device is ringing (the caller hears it)"},
    {.name = "call.accept", .method = "POST", .route = "/v1/calls/{id}/accept", .allowed = kAnyone, .params = kCallId,
     .summary = "Answer a call on this device (the others stop ringing)"},
    {.name = "call.decline", .method = "POST", .route = "/v1/calls/{id}/decline", .allowed = kAnyone, .params = kCallDecline,
     .summary = "Decline a call (or say you are busy)"},
    {.name = "call.cancel", .method = "POST", .route = "/v1/calls/{id}/cancel", .allowed = kAnyone, .params = kCallId,
     .summary = "Stop calling before anyone answered (the caller)"},
    {.name = "call.hangup", .method = "POST", .route = "/v1/calls/{id}/hangup", .allowed = kAnyone, .params = kCallId,
     .summary = "Leave a call; it ends when fewer than two remain"},
    {.name = "call.signal", .method = "POST", .route = "/v1/calls/{id}/signal", .allowed = kAnyone, .params = kCallSignal,
     .summary = "Send SDP or an ICE candidate to another member of the call (relayed to their device only)"},
    {.name = "call.stats", .method = "POST", .route = "/v1/calls/{id}/stats", .allowed = kAnyone, .params = kCallStats,
     .summary = "Report this device's call quality (getStats() summary); answers the call's score"},
    {.name = "call.show", .method = "GET", .route = "/v1/calls/{id}", .allowed = kAnyone, .params = kCallId,
     .summary = "Show a call: members, outcome, duration and quality"},
    {.name = "call.list", .method = "GET", .route = "/v1/calls", .allowed = kAnyone, .params = kCallList,
     .summary = "List calls, newest first"},
    {.name = "preview.start", .method = "POST", .route = "/v1/previews", .allowed = kStaff, .params = kPreviewStart,
     .summary = "Start a live tour preview through Janus (the guide then publishes to it)"},
    {.name = "preview.publish", .method = "POST", .route = "/v1/previews/{id}/publish", .allowed = kStaff,
     .params = kPreviewPublish, .summary = "Broadcast to a preview: the guide's SDP offer in, Janus's answer out"},
    {.name = "preview.watch", .method = "POST", .route = "/v1/previews/{id}/watch", .allowed = kAnyone,
     .params = kPreviewWatch, .summary = "Watch a preview: admits this device (access checked) and answers Janus's SDP offer"},
    {.name = "preview.answer", .method = "POST", .route = "/v1/previews/viewers/{viewer}/answer", .allowed = kAnyone,
     .params = kPreviewAnswer, .summary = "A viewer's SDP answer to preview.watch's offer: the picture starts"},
    {.name = "preview.stats", .method = "POST", .route = "/v1/previews/viewers/{viewer}/stats", .allowed = kAnyone,
     .params = kPreviewStats, .summary = "Report a viewer's reception; a poor link gets a lower simulcast layer"},
    {.name = "preview.leave", .method = "POST", .route = "/v1/previews/viewers/{viewer}/leave", .allowed = kAnyone,
     .params = kPreviewViewer, .summary = "Stop watching a preview"},
    {.name = "preview.record", .method = "POST", .route = "/v1/previews/{id}/record", .allowed = kStaff,
     .params = kPreviewRecord, .summary = "Turn recording on or off (everyone watching is told)"},
    {.name = "preview.stop", .method = "POST", .route = "/v1/previews/{id}/stop", .allowed = kStaff, .params = kPreviewId,
     .summary = "End a preview: viewers are told, recordings are converted to WebM and stored"},
    {.name = "preview.list", .method = "GET", .route = "/v1/previews", .allowed = kAnyone, .params = kPreviewList,
     .summary = "List the previews the caller may watch or runs, newest first"},
    {.name = "preview.show", .method = "GET", .route = "/v1/previews/{id}", .allowed = kAnyone, .params = kPreviewId,
     .summary = "Show a preview (its guide and operators also see the viewers)"},
    {.name = "recording.list", .method = "GET", .route = "/v1/recordings", .allowed = kAnyone, .params = kRecordingList,
     .summary = "List the preview recordings the caller may see, newest first"},
    {.name = "recording.show", .method = "GET", .route = "/v1/recordings/{id}", .allowed = kAnyone, .params = kRecordingId,
     .summary = "Show a recording: its preview, size and duration"},
    {.name = "recording.download", .method = "GET", .route = "/v1/recordings/{id}/content", .allowed = kAnyone,
     .params = kRecordingId, .summary = "Download a recording (WebM)", .websocket = false},
    {.name = "recording.remove", .method = "DELETE", .route = "/v1/recordings/{id}", .allowed = kStaff,
     .params = kRecordingId, .summary = "Delete a recording and its file (its guide or an operator)"},
    {.name = "sos", .method = "POST", .route = "/v1/sos", .allowed = kAnyone,
     .params = kSosRaise, .summary = "Raise an SOS: the caller's guide and the operators on duty are alerted until one acknowledges"},
    {.name = "sos.list", .method = "GET", .route = "/v1/sos", .allowed = kAnyone,
     .params = kSosList, .summary = "List SOS calls (tourists: their own; guides: their groups')"},
    {.name = "sos.show", .method = "GET", .route = "/v1/sos/{id}", .allowed = kAnyone,
     .params = kSosId, .summary = "Show an SOS with the person, where they were and who answered"},
    {.name = "sos.ack", .method = "POST", .route = "/v1/sos/{id}/ack", .allowed = kStaff,
     .params = kSosAct, .summary = "Acknowledge an SOS: the ringing stops"},
    {.name = "sos.resolve", .method = "POST", .route = "/v1/sos/{id}/resolve", .allowed = kAnyone,
     .params = kSosAct, .summary = "Close an SOS (the person who raised it may close it as a false alarm)"},
    {.name = "duty.on", .method = "POST", .route = "/v1/duty", .allowed = kOperator,
     .params = kDutyUser, .summary = "Put an operator on duty (SOS calls and escalations reach them)"},
    {.name = "duty.off", .method = "DELETE", .route = "/v1/duty/{user}", .allowed = kOperator,
     .params = kDutyUser, .summary = "Take an operator off duty"},
    {.name = "duty.list", .method = "GET", .route = "/v1/duty", .allowed = kOperator,
     .summary = "The operators on duty"},
    {.name = "feed.list", .method = "GET", .route = "/v1/feed", .allowed = kAnyone,
     .params = kFeedList, .summary = "The in-app notification feed, newest first, with the unread count"},
    {.name = "feed.read", .method = "POST", .route = "/v1/feed/read", .allowed = kAnyone,
     .params = kFeedRead, .summary = "Mark one feed item, or all, read"},
    {.name = "preference.list", .method = "GET", .route = "/v1/preferences", .allowed = kAnyone,
     .params = kPreferenceList, .summary = "Show notification preferences, consent and quiet hours"},
    {.name = "preference.set", .method = "POST", .route = "/v1/preferences", .allowed = kAnyone,
     .params = kPreferenceSet, .summary = "Opt in or out of a category on a channel"},
    {.name = "push.vapid_key", .method = "GET", .route = "/v1/push/vapid-key", .allowed = kAnyone,
     .summary = "The VAPID public key browsers subscribe with (applicationServerKey)"},
    {.name = "push.subscribe", .method = "POST", .route = "/v1/push/subscriptions", .allowed = kAnyone,
     .params = kPushSubscribe, .summary = "Register a browser's Web Push subscription"},
    {.name = "push.unsubscribe", .method = "DELETE", .route = "/v1/push/subscriptions/{id}", .allowed = kAnyone,
     .params = kAddressId, .summary = "Remove a Web Push subscription"},
    {.name = "push.list", .method = "GET", .route = "/v1/push", .allowed = kAnyone,
     .params = kPushList, .summary = "List the caller's browser subscriptions and mobile devices"},
    {.name = "device.register", .method = "POST", .route = "/v1/devices", .allowed = kAnyone,
     .params = kDeviceRegister, .summary = "Register a phone's FCM or APNs token"},
    {.name = "device.unregister", .method = "DELETE", .route = "/v1/devices/{id}", .allowed = kAnyone,
     .params = kAddressId, .summary = "Remove a phone's push token"},
    {.name = "template.list", .method = "GET", .route = "/v1/templates", .allowed = kOperator,
     .summary = "List the message templates"},
    {.name = "template.show", .method = "GET", .route = "/v1/templates/{name}", .allowed = kOperator,
     .params = kTemplateShow, .summary = "Show a template in a language"},
    {.name = "template.preview", .method = "POST", .route = "/v1/templates/{name}/preview", .allowed = kOperator,
     .params = kTemplatePreview, .summary = "Render a template with sample data"},

    {.name = "file.upload", .method = "POST", .route = "/v1/files", .allowed = kAnyone,
     .params = kFileUpload, .summary = "Upload a file or photo (the request body); answers its id for a file message", .websocket = false, .raw_body = true},
    {.name = "file.show", .method = "GET", .route = "/v1/files/{id}", .allowed = kAnyone,
     .params = kFileId, .summary = "Show a file's name, type, size and image dimensions"},
    {.name = "file.download", .method = "GET", .route = "/v1/files/{id}/content", .allowed = kAnyone,
     .params = kFileId, .summary = "Download a file shared in one of the caller's conversations", .websocket = false},
};

}  // namespace

std::span<const Operation> operations() { return kOperations; }

std::string_view type_name(Type t) {
  switch (t) {
    case Type::string: return "a string";
    case Type::integer: return "an integer";
    case Type::number: return "a number";
    case Type::boolean: return "true or false";
    case Type::string_list: return "a list of strings";
    case Type::string_map: return "an object of strings and numbers";
  }
  return "?";
}

const Operation* find_operation(std::string_view name) {
  for (const auto& op : operations())
    if (op.name == name) return &op;
  return nullptr;
}

const Param* find_param(const Operation& op, std::string_view name) {
  for (const auto& p : op.params)
    if (p.name == name) return &p;
  return nullptr;
}

}  // namespace tourbus::api
