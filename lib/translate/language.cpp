#include "translate/language.hpp"

#include <algorithm>
#include <array>
#include <cctype>
#include <map>
#include <set>
#include <vector>

namespace tourbus::translate {
namespace {

struct Codes {
  std::string_view one, three;
};
// The languages tourists and the engines have in common; Apertium names modes by the second code.
constexpr Codes kCodes[] = {
    {"en", "eng"}, {"es", "spa"}, {"fr", "fra"}, {"de", "deu"}, {"it", "ita"}, {"pt", "por"}, {"ca", "cat"},
    {"nl", "nld"}, {"gl", "glg"}, {"eu", "eus"}, {"oc", "oci"}, {"ro", "ron"}, {"sv", "swe"}, {"da", "dan"},
    {"nb", "nob"}, {"nn", "nno"}, {"pl", "pol"}, {"cs", "ces"}, {"el", "ell"}, {"ru", "rus"}, {"uk", "ukr"},
    {"ja", "jpn"}, {"zh", "zho"}, {"ko", "kor"}, {"ar", "ara"}, {"tr", "tur"}, {"hi", "hin"}, {"eo", "epo"},
};

// Common function words and chat words per language: a word scores for each language listing it.
struct Words {
  std::string_view lang;
  std::string_view list;  // space-separated, lower case
};
constexpr Words kWords[] = {
    {"en", "the a an and is are was were be to of in on at for with you your we our they it this that "
           "what where when how who hello hi thanks thank please yes no not can will would should here there "
           "there's it's i'm we're don't i my me bus meet see"},
    {"es", "el la los las un una y es son está están estamos fue ser de del en con para por que qué "
           "dónde donde cuándo cómo quién hola gracias por favor sí no puedo puede vamos aquí allí "
           "nosotros ustedes mi mis muy pero también autobús hasta"},
    {"fr", "le la les un une et est sont était être de du des en dans avec pour que qui où quand "
           "comment bonjour salut merci s'il vous plaît oui non nous vous je tu il elle très mais aussi "
           "ici ce cette c'est"},
    {"de", "der die das ein eine und ist sind war sein zu von im mit für dass wo wann wie wer hallo "
           "danke bitte ja nein nicht wir ihr ich du er sie es sehr aber auch hier dort bus"},
    {"it", "il lo la gli le un una e è sono era essere di del della in con per che dove quando come "
           "chi ciao grazie prego sì no non noi voi io tu lui lei molto ma anche qui ecco siamo"},
    {"pt", "o a os as um uma e é são está estão era ser de do da em no na com para por que onde "
           "quando como quem olá obrigado obrigada por favor sim não nós vocês eu muito mas também "
           "aqui você"},
    {"ca", "el la els les un una i és són està estan era ser de del en amb per que on quan com qui "
           "hola gràcies si us plau sí no nosaltres vosaltres jo molt però també aquí"},
    {"nl", "de het een en is zijn was te van in op met voor dat waar wanneer hoe wie hallo dank "
           "bedankt alsjeblieft ja nee niet wij jullie ik jij hij zij zeer maar ook hier daar"},
};

// Letters only a few languages use, and how much they count for each.
struct Mark {
  std::string_view letters;  // UTF-8
  std::string_view lang;
  double weight;
};
constexpr Mark kMarks[] = {
    {"ñ", "es", 2}, {"¿", "es", 2}, {"¡", "es", 2}, {"ß", "de", 2}, {"ä", "de", 1}, {"ö", "de", 1},
    {"ü", "de", 1}, {"ã", "pt", 2}, {"õ", "pt", 2}, {"ç", "pt", 0.5}, {"ç", "fr", 0.5}, {"ç", "ca", 0.5},
    {"ê", "fr", 0.5}, {"ê", "pt", 0.5}, {"è", "fr", 0.5}, {"è", "it", 0.5}, {"l·l", "ca", 2}, {"ò", "it", 0.5},
    {"ò", "ca", 0.5}, {"ij", "nl", 0.5},
};

const std::map<std::string, std::vector<std::string_view>, std::less<>>& word_table() {
  static const auto table = [] {
    std::map<std::string, std::vector<std::string_view>, std::less<>> t;
    for (const auto& w : kWords) {
      std::string_view rest = w.list;
      while (!rest.empty()) {
        auto end = rest.find(' ');
        auto word = rest.substr(0, end);
        if (!word.empty()) t[std::string(word)].push_back(w.lang);
        if (end == std::string_view::npos) break;
        rest.remove_prefix(end + 1);
      }
    }
    return t;
  }();
  return table;
}

// Lower-case ASCII letters; other bytes (UTF-8 letters) kept as they are.
std::string lower(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::tolower(static_cast<unsigned char>(c)));
  return out;
}

// A word is a run of letters, apostrophes and UTF-8 bytes (accented letters).
bool word_byte(unsigned char c) { return std::isalpha(c) || c == '\'' || c >= 0x80; }

}  // namespace

std::string primary(std::string_view tag) {
  std::size_t n = 0;
  while (n < tag.size() && std::isalpha(static_cast<unsigned char>(tag[n]))) ++n;
  if (n < 2 || n > 3 || (n < tag.size() && tag[n] != '-' && tag[n] != '_')) return {};
  return lower(tag.substr(0, n));
}

std::string_view iso3(std::string_view lang) {
  for (const auto& c : kCodes)
    if (c.one == lang) return c.three;
  return {};
}

std::string_view iso1(std::string_view code) {
  for (const auto& c : kCodes)
    if (c.three == code || c.one == code) return c.one;
  return {};
}

std::string_view machine_label(std::string_view lang) {
  constexpr std::pair<std::string_view, std::string_view> kLabels[] = {
      {"en", "Machine translation"}, {"es", "Traducción automática"}, {"fr", "Traduction automatique"},
      {"de", "Maschinelle Übersetzung"}, {"it", "Traduzione automatica"}, {"pt", "Tradução automática"},
      {"ca", "Traducció automàtica"}, {"nl", "Machinevertaling"}};
  for (const auto& [l, label] : kLabels)
    if (l == lang) return label;
  return kLabels[0].second;
}

std::optional<Detected> detect(std::string_view text) {
  std::map<std::string_view, double> score;
  const auto& table = word_table();
  std::size_t i = 0;
  while (i < text.size()) {
    if (!word_byte(static_cast<unsigned char>(text[i]))) {
      ++i;
      continue;
    }
    auto start = i;
    while (i < text.size() && word_byte(static_cast<unsigned char>(text[i]))) ++i;
    auto word = lower(text.substr(start, i - start));
    // "¿Dónde": the inverted marks are UTF-8 bytes too; strip them off the word.
    for (std::string_view mark : {"¿", "¡"})
      while (word.starts_with(mark)) word.erase(0, mark.size());
    if (auto it = table.find(word); it != table.end())
      for (auto lang : it->second) score[lang] += 1;
  }
  auto lowered = lower(text);
  for (const auto& m : kMarks)
    if (lowered.find(m.letters) != std::string::npos) score[m.lang] += m.weight;
  std::string_view best;
  double top = 0, second = 0;
  for (const auto& [lang, s] : score) {
    if (s > top) {
      second = top;
      top = s;
      best = lang;
    } else if (s > second) {
      second = s;
    }
  }
  if (top < 2) return std::nullopt;
  double confidence = (top - second) / top;
  if (confidence < 1.0 / 3) return std::nullopt;
  return Detected{std::string(best), confidence};
}

}  // namespace tourbus::translate
