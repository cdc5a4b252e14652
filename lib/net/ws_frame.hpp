// RFC 6455 framing for the daemon's own WebSocket transport: server frames are encoded once
// (header and payload in one buffer, shared by every session a broadcast goes to) and client
// frames are parsed and unmasked in place, without copying.
#pragma once

#include <cstdint>
#include <span>
#include <string>
#include <string_view>

namespace tourbus::net::ws {

enum Opcode : std::uint8_t { continuation = 0x0, text = 0x1, binary = 0x2, close = 0x8, ping = 0x9, pong = 0xA };

// Close codes (RFC 6455 section 7.4.1).
inline constexpr std::uint16_t kNormal = 1000, kGoingAway = 1001, kProtocolError = 1002, kInvalidData = 1007,
                               kPolicyViolation = 1008, kTooBig = 1009;

// A complete unmasked server frame (FIN set) holding `payload`.
std::string server_frame(Opcode op, std::string_view payload);
// A close frame with its code and reason (the reason cut to fit a control frame).
std::string close_frame(std::uint16_t code, std::string_view reason);
// The payload of a frame made by server_frame.
std::string_view payload_of(std::string_view frame);

// Sec-WebSocket-Accept for a Sec-WebSocket-Key.
std::string accept_key(std::string_view key);
// A Sec-WebSocket-Key is the base64 form of 16 bytes.
bool valid_key(std::string_view key);

struct Parsed {
  enum Status { need_more, frame, error } status = need_more;
  bool fin = false;
  Opcode opcode = continuation;
  std::string_view payload;      // unmasked, inside the parsed buffer
  std::size_t consumed = 0;      // bytes of the buffer the frame took
  std::uint16_t close_code = 0;  // on error: the code to close with
  const char* why = "";          // on error: for the log and the close reason
};

// Parses (and unmasks in place) the first client frame in `buf`. Frames must be masked, carry no
// reserved bits or unknown opcodes, and control frames must be unfragmented and at most 125
// bytes; a payload longer than max_payload is an error with code 1009.
Parsed parse_client_frame(std::span<char> buf, std::size_t max_payload);

// A client's close frame read (RFC 6455 sections 5.5.1 and 7.4): its code (1005 when it has none)
// and reason, or, when it breaks the protocol, the code to close with (1002: one byte, a code
// below 1000, 1004-1006, 1015-2999 or above 4999; 1007: a reason that is not UTF-8) and why.
struct Close {
  std::uint16_t code = 1005;
  std::string_view reason;
  std::uint16_t error = 0;  // non-zero: the close frame is invalid; close with this code
  const char* why = "";
};
Close read_close(std::string_view payload);

// True when the bytes are well-formed UTF-8 (RFC 3629: no overlongs, surrogates or > U+10FFFF).
bool valid_utf8(std::string_view s);

}  // namespace tourbus::net::ws
