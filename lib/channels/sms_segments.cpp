#include "channels/sms_segments.hpp"

#include <algorithm>
#include <array>

namespace tourbus::channels {
namespace {

// The GSM 03.38 default alphabet (code points) and the extension table, reached by ESC.
constexpr std::array<char32_t, 128> kBasic = {
    U'@',  U'£', U'$', U'¥', U'è', U'é', U'ù', U'ì', U'ò', U'Ç', U'\n', U'Ø', U'ø', U'\r', U'Å', U'å',
    U'Δ',  U'_', U'Φ', U'Γ', U'Λ', U'Ω', U'Π', U'Ψ', U'Σ', U'Θ', U'Ξ',  0,    U'Æ', U'æ',  U'ß', U'É',
    U' ',  U'!', U'"', U'#', U'¤', U'%', U'&', U'\'', U'(', U')', U'*', U'+', U',', U'-', U'.', U'/',
    U'0',  U'1', U'2', U'3', U'4', U'5', U'6', U'7', U'8', U'9', U':',  U';', U'<', U'=',  U'>', U'?',
    U'¡',  U'A', U'B', U'C', U'D', U'E', U'F', U'G', U'H', U'I', U'J',  U'K', U'L', U'M',  U'N', U'O',
    U'P',  U'Q', U'R', U'S', U'T', U'U', U'V', U'W', U'X', U'Y', U'Z',  U'Ä', U'Ö', U'Ñ',  U'Ü', U'§',
    U'¿',  U'a', U'b', U'c', U'd', U'e', U'f', U'g', U'h', U'i', U'j',  U'k', U'l', U'm',  U'n', U'o',
    U'p',  U'q', U'r', U's', U't', U'u', U'v', U'w', U'x', U'y', U'z',  U'ä', U'ö', U'ñ',  U'ü', U'à'};
constexpr std::array<char32_t, 10> kExtension = {U'\f', U'^', U'{', U'}', U'\\', U'[', U'~', U']', U'|', U'€'};

// Decodes UTF-8; invalid bytes count as U+FFFD.
template <class F>
void each_code_point(std::string_view s, F&& f) {
  for (std::size_t i = 0; i < s.size();) {
    auto c = static_cast<unsigned char>(s[i]);
    int len = c < 0x80 ? 1 : (c >> 5) == 6 ? 2 : (c >> 4) == 14 ? 3 : (c >> 3) == 30 ? 4 : 0;
    if (len == 0 || i + len > s.size()) {
      f(U'\uFFFD');
      ++i;
      continue;
    }
    char32_t cp = len == 1 ? c : len == 2 ? (c & 0x1F) : len == 3 ? (c & 0x0F) : (c & 0x07);
    for (int k = 1; k < len; ++k) cp = (cp << 6) | (static_cast<unsigned char>(s[i + k]) & 0x3F);
    f(cp);
    i += static_cast<std::size_t>(len);
  }
}

}  // namespace

Segments count_segments(std::string_view utf8) {
  Segments gsm, ucs;
  bool fits = true;
  each_code_point(utf8, [&](char32_t cp) {
    ucs.units += cp > 0xFFFF ? 2 : 1;
    if (std::ranges::find(kBasic, cp) != kBasic.end() && cp != 0) gsm.units += 1;
    else if (std::ranges::find(kExtension, cp) != kExtension.end()) gsm.units += 2;
    else fits = false;
  });
  auto parts = [](std::int64_t units, std::int64_t single, std::int64_t multi) {
    if (units == 0) return std::int64_t{1};
    return units <= single ? std::int64_t{1} : (units + multi - 1) / multi;
  };
  if (fits) {
    gsm.segments = parts(gsm.units, 160, 153);
    return gsm;
  }
  ucs.ucs2 = true;
  ucs.segments = parts(ucs.units, 70, 67);
  return ucs;
}

}  // namespace tourbus::channels
