#include "safety/rollcall.hpp"

#include <array>
#include <cctype>

namespace tourbus::safety::rollcall {
namespace {

struct Words {
  std::string_view language;
  std::string_view safe, help;              // shown in the prompt
  std::array<std::string_view, 3> safe_also, help_also;  // also understood (folded: lower case, no accents)
  std::string_view ask, reply, open_safe, open_help, got_safe, got_help, unknown, confirm, open_confirm;
};

// The first entry is the fallback.
constexpr Words kWords[] = {
    {"en", "SAFE", "HELP", {"safe", "ok", "fine"}, {"help", "sos", "need"},
     "Are you safe?", "Reply", "I am safe:", "I need help:",
     "Thank you: you are marked safe.", "Help is on the way: your guide and our operators have been told.",
     "Reply SAFE if you are safe or HELP if you need help.",
     "Please confirm you got this: reply OK.", "Confirm:"},
    {"es", "SEGURO", "AYUDA", {"seguro", "segura", "bien"}, {"ayuda", "auxilio", "socorro"},
     "¿Está a salvo?", "Responda", "Estoy a salvo:", "Necesito ayuda:",
     "Gracias: está marcado como a salvo.", "La ayuda está en camino: su guía y nuestros operadores han sido avisados.",
     "Responda SEGURO si está a salvo o AYUDA si necesita ayuda.",
     "Confirme que lo ha recibido: responda OK.", "Confirmar:"},
    {"fr", "SAUF", "AIDE", {"sauf", "sauve", "bien"}, {"aide", "secours", "sos"},
     "Êtes-vous en sécurité ?", "Répondez", "Je suis en sécurité :", "J'ai besoin d'aide :",
     "Merci : vous êtes noté en sécurité.", "Les secours arrivent : votre guide et nos opérateurs sont prévenus.",
     "Répondez SAUF si vous êtes en sécurité ou AIDE si vous avez besoin d'aide.",
     "Merci de confirmer la réception : répondez OK.", "Confirmer :"},
    {"de", "SICHER", "HILFE", {"sicher", "gut", "ok"}, {"hilfe", "notfall", "sos"},
     "Sind Sie in Sicherheit?", "Antworten Sie", "Ich bin in Sicherheit:", "Ich brauche Hilfe:",
     "Danke: Sie sind als sicher vermerkt.", "Hilfe kommt: Ihr Guide und unsere Leitstelle sind informiert.",
     "Antworten Sie SICHER, wenn Sie in Sicherheit sind, oder HILFE, wenn Sie Hilfe brauchen.",
     "Bitte bestätigen Sie den Empfang: antworten Sie OK.", "Bestätigen:"},
    {"it", "SALVO", "AIUTO", {"salvo", "salva", "bene"}, {"aiuto", "soccorso", "sos"},
     "È al sicuro?", "Risponda", "Sono al sicuro:", "Ho bisogno di aiuto:",
     "Grazie: risulta al sicuro.", "Stanno arrivando i soccorsi: la sua guida e i nostri operatori sono stati avvisati.",
     "Risponda SALVO se è al sicuro o AIUTO se ha bisogno di aiuto.",
     "Confermi di averlo ricevuto: risponda OK.", "Conferma:"},
    {"pt", "SEGURO", "AJUDA", {"seguro", "segura", "bem"}, {"ajuda", "socorro", "sos"},
     "Está em segurança?", "Responda", "Estou em segurança:", "Preciso de ajuda:",
     "Obrigado: está marcado em segurança.", "A ajuda está a caminho: o seu guia e os nossos operadores foram avisados.",
     "Responda SEGURO se está em segurança ou AJUDA se precisa de ajuda.",
     "Confirme que recebeu: responda OK.", "Confirmar:"},
};

const Words& words(std::string_view language) {
  auto primary = language.substr(0, language.find_first_of("-_"));
  for (const auto& w : kWords) {
    if (w.language.size() != primary.size()) continue;
    bool same = true;
    for (std::size_t i = 0; i < primary.size(); ++i)
      same = same && std::tolower(static_cast<unsigned char>(primary[i])) == w.language[i];
    if (same) return w;
  }
  return kWords[0];
}

// Lower case, with the accented letters of these languages folded to plain ones (UTF-8).
std::string fold(std::string_view s) {
  static constexpr std::pair<std::string_view, char> kAccents[] = {
      {"á", 'a'}, {"à", 'a'}, {"â", 'a'}, {"ã", 'a'}, {"ä", 'a'}, {"é", 'e'}, {"è", 'e'}, {"ê", 'e'}, {"í", 'i'},
      {"ì", 'i'}, {"ó", 'o'}, {"ò", 'o'}, {"ô", 'o'}, {"õ", 'o'}, {"ö", 'o'}, {"ú", 'u'}, {"ù", 'u'}, {"ü", 'u'},
      {"ç", 'c'}, {"ñ", 'n'}, {"Á", 'a'}, {"É", 'e'}, {"Í", 'i'}, {"Ó", 'o'}, {"Ú", 'u'}, {"Ü", 'u'}, {"Ñ", 'n'}};
  std::string out;
  for (std::size_t i = 0; i < s.size();) {
    bool matched = false;
    for (auto [from, to] : kAccents) {
      if (s.substr(i).starts_with(from)) {
        out += to;
        i += from.size();
        matched = true;
        break;
      }
    }
    if (!matched) out += static_cast<char>(std::tolower(static_cast<unsigned char>(s[i++])));
  }
  return out;
}

bool is_word(const std::string& w, std::string_view shown, const std::array<std::string_view, 3>& also) {
  if (w == fold(shown)) return true;
  for (auto a : also)
    if (w == a) return true;
  return false;
}

}  // namespace

std::string_view name(Answer a) { return a == Answer::safe ? "safe" : "need_help"; }

std::optional<Answer> parse_name(std::string_view s) {
  if (s == "safe") return Answer::safe;
  if (s == "need_help" || s == "need-help" || s == "help") return Answer::need_help;
  return std::nullopt;
}

std::optional<Answer> parse_reply(std::string_view text, std::string_view language) {
  auto begin = text.find_first_not_of(" \t\r\n\"'");
  if (begin == std::string_view::npos) return std::nullopt;
  auto end = text.find_first_of(" \t\r\n.,!?;:\"'", begin);
  auto word = fold(text.substr(begin, end == std::string_view::npos ? std::string_view::npos : end - begin));
  if (word == "1") return Answer::safe;
  if (word == "2") return Answer::need_help;
  for (const Words* w : {&words(language), &kWords[0]}) {
    // Help first: a word that means both (none today) must never mark someone safe.
    if (is_word(word, w->help, w->help_also)) return Answer::need_help;
    if (is_word(word, w->safe, w->safe_also)) return Answer::safe;
  }
  return std::nullopt;
}

std::pair<std::string_view, std::string_view> keywords(std::string_view language) {
  const auto& w = words(language);
  return {w.safe, w.help};
}

std::string prompt(std::string_view language, std::string_view safe_url, std::string_view help_url) {
  const auto& w = words(language);
  std::string out = std::string(w.ask) + " " + std::string(w.unknown);
  if (!safe_url.empty()) out += "\n" + std::string(w.open_safe) + " " + std::string(safe_url);
  if (!help_url.empty()) out += "\n" + std::string(w.open_help) + " " + std::string(help_url);
  return out;
}

std::string ack_prompt(std::string_view language, std::string_view confirm_url) {
  const auto& w = words(language);
  std::string out(w.confirm);
  if (!confirm_url.empty()) out += "\n" + std::string(w.open_confirm) + " " + std::string(confirm_url);
  return out;
}

std::string reply_text(std::string_view language, std::optional<Answer> recorded) {
  const auto& w = words(language);
  if (!recorded) return std::string(w.unknown);
  return std::string(*recorded == Answer::safe ? w.got_safe : w.got_help);
}

}  // namespace tourbus::safety::rollcall
