#include "net/ws_frame.hpp"

#include <cctype>
#include <cstring>

#include <openssl/evp.h>
#include <openssl/sha.h>

namespace tourbus::net::ws {

namespace {

std::size_t header_size(std::size_t n) { return n < 126 ? 2 : n < 65536 ? 4 : 10; }

void put_header(char* at, Opcode op, std::size_t n) {
  at[0] = static_cast<char>(0x80 | op);
  if (n < 126) {
    at[1] = static_cast<char>(n);
  } else if (n < 65536) {
    at[1] = 126;
    at[2] = static_cast<char>(n >> 8);
    at[3] = static_cast<char>(n & 0xff);
  } else {
    at[1] = 127;
    for (int i = 0; i < 8; ++i) at[2 + i] = static_cast<char>((static_cast<std::uint64_t>(n) >> (56 - 8 * i)) & 0xff);
  }
}

}  // namespace

std::string server_frame(Opcode op, std::string_view payload) {
  std::string f(header_size(payload.size()) + payload.size(), '\0');
  put_header(f.data(), op, payload.size());
  std::memcpy(f.data() + header_size(payload.size()), payload.data(), payload.size());
  return f;
}

std::string close_frame(std::uint16_t code, std::string_view reason) {
  if (reason.size() > 123) reason = reason.substr(0, 123);
  std::string p;
  p.push_back(static_cast<char>(code >> 8));
  p.push_back(static_cast<char>(code & 0xff));
  p.append(reason);
  return server_frame(close, p);
}

std::string_view payload_of(std::string_view frame) {
  if (frame.size() < 2) return {};
  auto n = static_cast<unsigned char>(frame[1]) & 0x7f;
  return frame.substr(n < 126 ? 2 : n == 126 ? 4 : 10);
}

std::string accept_key(std::string_view key) {
  static constexpr std::string_view kGuid = "258EAFA5-E914-47DA-95CA-C5AB0DC85B11";
  std::string input(key);
  input += kGuid;
  unsigned char digest[SHA_DIGEST_LENGTH];
  SHA1(reinterpret_cast<const unsigned char*>(input.data()), input.size(), digest);
  unsigned char out[32];
  int n = EVP_EncodeBlock(out, digest, SHA_DIGEST_LENGTH);
  return std::string(reinterpret_cast<char*>(out), static_cast<std::size_t>(n));
}

bool valid_key(std::string_view key) {
  if (key.size() != 24 || key.substr(22) != "==") return false;
  for (char c : key.substr(0, 22))
    if (!std::isalnum(static_cast<unsigned char>(c)) && c != '+' && c != '/') return false;
  return true;
}

Parsed parse_client_frame(std::span<char> buf, std::size_t max_payload) {
  Parsed p;
  auto fail = [&](std::uint16_t code, const char* why) {
    p.status = Parsed::error;
    p.close_code = code;
    p.why = why;
    return p;
  };
  if (buf.size() < 2) return p;
  auto b0 = static_cast<unsigned char>(buf[0]), b1 = static_cast<unsigned char>(buf[1]);
  p.fin = b0 & 0x80;
  p.opcode = static_cast<Opcode>(b0 & 0x0f);
  if (b0 & 0x70) return fail(kProtocolError, "reserved bits set (no extension was negotiated)");
  switch (p.opcode) {
    case continuation: case text: case binary: break;
    case close: case ping: case pong:
      if (!p.fin) return fail(kProtocolError, "fragmented control frame");
      break;
    default: return fail(kProtocolError, "unknown opcode");
  }
  if (!(b1 & 0x80)) return fail(kProtocolError, "client frames must be masked");
  std::uint64_t n = b1 & 0x7f;
  std::size_t at = 2;
  if (n == 126) {
    if (buf.size() < 4) return p;
    n = (static_cast<std::uint64_t>(static_cast<unsigned char>(buf[2])) << 8) | static_cast<unsigned char>(buf[3]);
    at = 4;
  } else if (n == 127) {
    if (buf.size() < 10) return p;
    n = 0;
    for (int i = 0; i < 8; ++i) n = (n << 8) | static_cast<unsigned char>(buf[2 + static_cast<std::size_t>(i)]);
    at = 10;
  }
  if (p.opcode >= close && n > 125) return fail(kProtocolError, "control frame longer than 125 bytes");
  if (n > max_payload) return fail(kTooBig, "message too big");
  if (buf.size() < at + 4 + n) return p;
  unsigned char mask[4];
  std::memcpy(mask, buf.data() + at, 4);
  char* data = buf.data() + at + 4;
  for (std::size_t i = 0; i < n; ++i) data[i] = static_cast<char>(data[i] ^ mask[i & 3]);
  p.payload = std::string_view(data, static_cast<std::size_t>(n));
  p.consumed = at + 4 + static_cast<std::size_t>(n);
  p.status = Parsed::frame;
  return p;
}

bool valid_utf8(std::string_view s) {
  const auto* p = reinterpret_cast<const unsigned char*>(s.data());
  const auto* end = p + s.size();
  while (p < end) {
    // ASCII runs, eight bytes at a time
    while (end - p >= 8) {
      std::uint64_t w;
      std::memcpy(&w, p, 8);
      if (w & 0x8080808080808080ull) break;
      p += 8;
    }
    if (p >= end) break;
    unsigned char c = *p;
    if (c < 0x80) {
      ++p;
      continue;
    }
    int len;
    std::uint32_t cp;
    if (c >= 0xC2 && c <= 0xDF) len = 2, cp = c & 0x1F;
    else if (c >= 0xE0 && c <= 0xEF) len = 3, cp = c & 0x0F;
    else if (c >= 0xF0 && c <= 0xF4) len = 4, cp = c & 0x07;
    else return false;
    if (end - p < len) return false;
    for (int i = 1; i < len; ++i) {
      if ((p[i] & 0xC0) != 0x80) return false;
      cp = (cp << 6) | (p[i] & 0x3F);
    }
    if ((len == 3 && (cp < 0x800 || (cp >= 0xD800 && cp <= 0xDFFF))) || (len == 4 && (cp < 0x10000 || cp > 0x10FFFF)))
      return false;
    p += len;
  }
  return true;
}

Close read_close(std::string_view payload) {
  Close c;
  if (payload.empty()) return c;
  if (payload.size() == 1) return {.error = kProtocolError, .why = "a close frame with a one-byte payload"};
  c.code = static_cast<std::uint16_t>((static_cast<unsigned char>(payload[0]) << 8) | static_cast<unsigned char>(payload[1]));
  c.reason = payload.substr(2);
  bool sendable = (c.code >= 1000 && c.code <= 1003) || (c.code >= 1007 && c.code <= 1014) ||
                  (c.code >= 3000 && c.code <= 4999);
  if (!sendable) return {.code = c.code, .error = kProtocolError, .why = "a close code that may not be sent"};
  if (!valid_utf8(c.reason)) return {.code = c.code, .error = kInvalidData, .why = "a close reason that is not UTF-8"};
  return c;
}

}  // namespace tourbus::net::ws
