// What a translation must leave alone: URLs, e-mail addresses, @mentions, numbers (times, dates,
// prices), emoji and the glossary's protected terms (places, attractions, meeting points, names).
// They are swapped for placeholder tokens the engines pass through unchanged, then put back.
#pragma once

#include <optional>
#include <span>
#include <string>
#include <string_view>
#include <vector>

namespace tourbus::translate {

struct Protected {
  std::string text;                // with placeholders
  std::vector<std::string> spans;  // what each placeholder stands for, in order
};

// `terms`: the glossary, matched case-insensitively on word boundaries, longest first.
Protected protect(std::string_view text, std::span<const std::string> terms);
// The translated text with the spans back in place; nothing when a placeholder did not come back
// exactly once (the engine mangled it: that translation is not used).
std::optional<std::string> restore(std::string_view translated, const std::vector<std::string>& spans);

// The placeholder of span i (exposed for tests).
std::string placeholder(std::size_t i);

}  // namespace tourbus::translate
