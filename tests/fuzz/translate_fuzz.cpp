// libFuzzer target: what translation does with any chat text before and after an engine sees it.
// Protecting then restoring untouched must give back the text exactly; an engine's answer (the
// input's second half, standing for whatever it returns) is either restored with every protected
// span exactly once or refused; detection never crashes and its confidence stays within 0..1.
#include <cstddef>
#include <cstdint>
#include <string>
#include <string_view>
#include <vector>

#include "translate/language.hpp"
#include "translate/protect.hpp"

using namespace tourbus;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string_view all(reinterpret_cast<const char*>(data), size);
  auto cut = all.find('\0');
  auto text = all.substr(0, cut);
  auto answer = cut == std::string_view::npos ? std::string_view() : all.substr(cut + 1);
  const std::vector<std::string> terms{"Plaza Mayor", "Colosseo", "Bar Pepe", "[[", "@"};
  auto p = translate::protect(text, terms);
  auto back = translate::restore(p.text, p.spans);
  // What comes back untouched is the text, give or take the blanks an engine may trim at its ends.
  if (!back) __builtin_trap();
  auto trimmed = text;
  while (!trimmed.empty() && trimmed.front() == ' ') trimmed.remove_prefix(1);
  while (!trimmed.empty() && trimmed.back() == ' ') trimmed.remove_suffix(1);
  if (*back != trimmed) __builtin_trap();
  if (auto r = translate::restore(answer, p.spans)) {
    for (const auto& span : p.spans)
      if (r->find(span) == std::string::npos) __builtin_trap();
  }
  if (auto d = translate::detect(text)) {
    if (!(d->confidence >= 1.0 / 3 && d->confidence <= 1.0) || d->lang.empty()) __builtin_trap();
  }
  (void)translate::primary(text);
  return 0;
}
