// The roll-call's words: how an alert asks for an answer in each language, and how an SMS reply
// ("SAFE", "ayuda", "2") is read. Languages without their own words use English; English words
// and the digits 1 (safe) and 2 (need help) are understood in every language.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tourbus::safety::rollcall {

enum class Answer { safe, need_help };
std::string_view name(Answer a);  // "safe", "need_help"
std::optional<Answer> parse_name(std::string_view s);

// The answer an SMS reply gives: its first word, case and accents aside, against the keywords of
// the person's language and English; nullopt when it is none of them.
std::optional<Answer> parse_reply(std::string_view text, std::string_view language);

// The keywords in a language, for the prompt: {safe, need help}.
std::pair<std::string_view, std::string_view> keywords(std::string_view language);

// The closing lines of an alert: reply with a keyword, or open a link (when given).
std::string prompt(std::string_view language, std::string_view safe_url, std::string_view help_url);

// The closing lines of a tracked notification (notify.send with escalate): confirm it by replying
// OK (read as "safe": the acknowledgement) or through the link.
std::string ack_prompt(std::string_view language, std::string_view confirm_url);

// The answer to an SMS reply, in the person's language.
std::string reply_text(std::string_view language, std::optional<Answer> recorded);

}  // namespace tourbus::safety::rollcall
