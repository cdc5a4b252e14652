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
};

}  // namespace

std::span<const Operation> operations() { return kOperations; }

}  // namespace tourbus::api
