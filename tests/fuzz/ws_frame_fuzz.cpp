// libFuzzer target: the WebSocket frame decoder (RFC 6455) as a session drives it: every complete
// frame in a buffer of client bytes, with text payloads checked for UTF-8 and close frames read.
#include <cstddef>
#include <cstdint>
#include <string>

#include "net/ws_frame.hpp"

using namespace tourbus::net;

extern "C" int LLVMFuzzerTestOneInput(const std::uint8_t* data, std::size_t size) {
  std::string buf(reinterpret_cast<const char*>(data), size);
  std::span<char> rest(buf.data(), buf.size());
  while (!rest.empty()) {
    auto f = ws::parse_client_frame(rest, 4096);
    if (f.status != ws::Parsed::frame) break;
    if (f.consumed == 0 || f.consumed > rest.size()) __builtin_trap();  // the decoder must make progress
    if (f.opcode == ws::text) (void)ws::valid_utf8(f.payload);
    if (f.opcode == ws::close) {
      auto c = ws::read_close(f.payload);
      if (!c.error && !ws::valid_utf8(c.reason)) __builtin_trap();  // an accepted reason is UTF-8
    }
    // What the server would send back for it round-trips through the encoder.
    auto echo = ws::server_frame(ws::pong, f.payload.substr(0, 125));
    if (ws::payload_of(echo) != f.payload.substr(0, 125)) __builtin_trap();
    rest = rest.subspan(f.consumed);
  }
  return 0;
}
