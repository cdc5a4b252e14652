// Language codes and detection. Inside tourbus a language is the primary subtag of a BCP 47 tag
// ("es" for "es-MX"); Apertium names its modes by ISO 639-3 codes ("spa"), DeepL by upper-case ones.
#pragma once

#include <optional>
#include <string>
#include <string_view>

namespace tourbus::translate {

// "es-MX" -> "es", "PT_br" -> "pt"; empty when the tag does not start with 2-3 letters.
std::string primary(std::string_view tag);
// "es" -> "spa" (the code Apertium uses); empty when not in the table.
std::string_view iso3(std::string_view lang);
// "spa" -> "es"; a 2-letter code comes back as it is; empty when unknown.
std::string_view iso1(std::string_view code);

// "Machine translation" in the language (English for languages not in the table): the mark on
// machine-translated emergency texts.
std::string_view machine_label(std::string_view lang);

struct Detected {
  std::string lang;
  double confidence = 0;  // 0..1: (best score - second best) / best score
};

// Guesses the language of a chat line from its common words ("the", "que", "und", greetings)
// and a few letters only some languages use (ñ ¿ ¡, ß, ã õ). Languages: en es fr de it pt ca nl.
// Each listed word is a point for every language listing it (so words the languages share cancel
// out); the letters add their weight. Nothing when the best language has fewer than 2 points or
// leads the second by less than a third of its score (confidence < 1/3): the caller then uses the
// sender's language.
std::optional<Detected> detect(std::string_view text);

}  // namespace tourbus::translate
