// RFC 6455 frame codec: server frame encoding, close frames, the handshake key, client frame
// parsing (masking, lengths, protocol errors with their close codes) and the UTF-8 check.
#include <catch2/catch.hpp>

#include <array>
#include <cstdint>
#include <initializer_list>
#include <span>
#include <string>
#include <string_view>

#include "net/ws_frame.hpp"

// A named namespace rather than an anonymous one or a using-directive: the unit tests are built
// as a unity build, and `close`, `text` or `binary` must not leak into the other test files.
namespace tourbus_ws_frame_test {

namespace ws = tourbus::net::ws;

std::string bytes(std::initializer_list<int> list) {
  std::string s;
  for (int b : list) s.push_back(static_cast<char>(b));
  return s;
}

unsigned byte_at(std::string_view s, std::size_t i) { return static_cast<unsigned char>(s.at(i)); }

// A payload whose bytes depend on their position, so a shifted or truncated copy shows.
std::string pattern(std::size_t n) {
  std::string s(n, '\0');
  for (std::size_t i = 0; i < n; ++i) s[i] = static_cast<char>((i * 7 + i / 251) & 0xff);
  return s;
}

constexpr std::array<unsigned char, 4> kRfcMask{0x37, 0xfa, 0x21, 0x3d};

// A masked client frame: first byte b0 (FIN, RSV and opcode as given), the shortest length
// encoding for the payload, the mask key, then the masked payload.
std::string client_frame(int b0, std::string_view payload, std::array<unsigned char, 4> mask = kRfcMask) {
  std::string f;
  f.push_back(static_cast<char>(b0));
  std::size_t n = payload.size();
  if (n < 126) {
    f.push_back(static_cast<char>(0x80 | n));
  } else if (n < 65536) {
    f.push_back(static_cast<char>(0x80 | 126));
    f.push_back(static_cast<char>(n >> 8));
    f.push_back(static_cast<char>(n & 0xff));
  } else {
    f.push_back(static_cast<char>(0x80 | 127));
    for (int i = 7; i >= 0; --i) f.push_back(static_cast<char>((static_cast<std::uint64_t>(n) >> (8 * i)) & 0xff));
  }
  for (unsigned char m : mask) f.push_back(static_cast<char>(m));
  for (std::size_t i = 0; i < n; ++i) f.push_back(static_cast<char>(static_cast<unsigned char>(payload[i]) ^ mask[i % 4]));
  return f;
}

ws::Parsed parse(std::string& buf, std::size_t max_payload = 1 << 20) {
  return ws::parse_client_frame(std::span<char>(buf.data(), buf.size()), max_payload);
}

void check_error(std::string buf, std::uint16_t code, std::size_t max_payload = 1 << 20) {
  auto p = parse(buf, max_payload);
  CHECK(p.status == ws::Parsed::error);
  CHECK(p.close_code == code);
  CHECK(p.consumed == 0);
  CHECK(std::string_view(p.why).size() > 0);
}

// Checks that every proper prefix of `frame` asks for more bytes, then that the whole frame
// parses with the expected fields. Prefixes are spans over the same buffer (need_more must not
// touch it), so a parser that unmasked a prefix would also spoil the final payload.
void check_prefixes_then_frame(std::string frame, bool fin, ws::Opcode op, std::string_view payload) {
  std::span<char> whole(frame.data(), frame.size());
  std::size_t wrong = 0, first_wrong = 0;
  for (std::size_t k = 0; k < frame.size(); ++k) {
    auto p = ws::parse_client_frame(whole.first(k), 1 << 20);
    if (p.status != ws::Parsed::need_more || p.consumed != 0) {
      if (wrong == 0) first_wrong = k;
      ++wrong;
    }
  }
  INFO("prefixes not reported as need_more: " << wrong << ", the first of length " << first_wrong);
  CHECK(wrong == 0);
  auto p = ws::parse_client_frame(whole, 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.fin == fin);
  CHECK(p.opcode == op);
  CHECK(p.consumed == frame.size());
  CHECK(p.payload.size() == payload.size());
  CHECK(p.payload == payload);
}

// ---------------------------------------------------------------------------------------------
// server_frame / payload_of

TEST_CASE("server_frame matches the RFC 6455 section 5.7 unmasked examples", "[ws]") {
  CHECK(ws::server_frame(ws::text, "Hello") == bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
  CHECK(ws::server_frame(ws::ping, "Hello") == bytes({0x89, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}));
}

TEST_CASE("server_frame puts FIN and the opcode in the first byte", "[ws]") {
  CHECK(byte_at(ws::server_frame(ws::text, "x"), 0) == 0x81);
  CHECK(byte_at(ws::server_frame(ws::binary, "x"), 0) == 0x82);
  CHECK(byte_at(ws::server_frame(ws::close, "x"), 0) == 0x88);
  CHECK(byte_at(ws::server_frame(ws::ping, "x"), 0) == 0x89);
  CHECK(byte_at(ws::server_frame(ws::pong, "x"), 0) == 0x8A);
}

TEST_CASE("server_frame uses the 7-, 16- and 64-bit length encodings", "[ws]") {
  SECTION("empty payload") {
    auto f = ws::server_frame(ws::text, "");
    CHECK(f == bytes({0x81, 0x00}));
    CHECK(ws::payload_of(f).empty());
  }
  SECTION("125 bytes: 7-bit length") {
    auto payload = pattern(125);
    auto f = ws::server_frame(ws::binary, payload);
    REQUIRE(f.size() == 2 + 125);
    CHECK(byte_at(f, 0) == 0x82);
    CHECK(byte_at(f, 1) == 125);  // mask bit clear
    CHECK(f.substr(2) == payload);
    CHECK(ws::payload_of(f) == payload);
  }
  SECTION("126 bytes: 16-bit length") {
    auto payload = pattern(126);
    auto f = ws::server_frame(ws::binary, payload);
    REQUIRE(f.size() == 4 + 126);
    CHECK(byte_at(f, 0) == 0x82);
    CHECK(byte_at(f, 1) == 126);
    CHECK(byte_at(f, 2) == 0x00);
    CHECK(byte_at(f, 3) == 0x7E);
    CHECK(f.substr(4) == payload);
    CHECK(ws::payload_of(f) == payload);
  }
  SECTION("256 bytes: 16-bit length, big-endian (RFC 6455 5.7)") {
    auto payload = pattern(256);
    auto f = ws::server_frame(ws::binary, payload);
    REQUIRE(f.size() == 4 + 256);
    CHECK(f.substr(0, 4) == bytes({0x82, 0x7E, 0x01, 0x00}));
    CHECK(ws::payload_of(f) == payload);
  }
  SECTION("65535 bytes: largest 16-bit length") {
    auto payload = pattern(65535);
    auto f = ws::server_frame(ws::text, payload);
    REQUIRE(f.size() == 4 + 65535);
    CHECK(f.substr(0, 4) == bytes({0x81, 0x7E, 0xFF, 0xFF}));
    CHECK(f.substr(4) == payload);
    CHECK(ws::payload_of(f) == payload);
  }
  SECTION("65536 bytes: 64-bit length, big-endian (RFC 6455 5.7)") {
    auto payload = pattern(65536);
    auto f = ws::server_frame(ws::binary, payload);
    REQUIRE(f.size() == 10 + 65536);
    CHECK(f.substr(0, 10) == bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x00, 0x00}));
    CHECK(f.substr(10) == payload);
    CHECK(ws::payload_of(f) == payload);
  }
  SECTION("70000 bytes: 64-bit length with a non-zero low byte") {
    auto payload = pattern(70000);  // 0x11170
    auto f = ws::server_frame(ws::binary, payload);
    REQUIRE(f.size() == 10 + 70000);
    CHECK(f.substr(0, 10) == bytes({0x82, 0x7F, 0x00, 0x00, 0x00, 0x00, 0x00, 0x01, 0x11, 0x70}));
    CHECK(ws::payload_of(f) == payload);
  }
}

TEST_CASE("server_frame copies payload bytes verbatim, including NUL and high bytes", "[ws]") {
  auto payload = bytes({0x00, 0xFF, 0x80, 0x7F, 0x00});
  auto f = ws::server_frame(ws::binary, payload);
  CHECK(f == bytes({0x82, 0x05, 0x00, 0xFF, 0x80, 0x7F, 0x00}));
  CHECK(ws::payload_of(f) == payload);
}

// ---------------------------------------------------------------------------------------------
// close_frame

TEST_CASE("close_frame carries the code big-endian, then the reason", "[ws]") {
  auto f = ws::close_frame(ws::kNormal, "bye");
  CHECK(f == bytes({0x88, 0x05, 0x03, 0xE8, 'b', 'y', 'e'}));
  CHECK(ws::payload_of(f) == bytes({0x03, 0xE8, 'b', 'y', 'e'}));

  f = ws::close_frame(ws::kTooBig, "");  // 1009 = 0x03F1
  CHECK(f == bytes({0x88, 0x02, 0x03, 0xF1}));

  f = ws::close_frame(4321, "x");  // 0x10E1: both bytes distinct, so swapped order shows
  CHECK(f == bytes({0x88, 0x03, 0x10, 0xE1, 'x'}));

  f = ws::close_frame(0xABCD, "");
  CHECK(f == bytes({0x88, 0x02, 0xAB, 0xCD}));
}

TEST_CASE("close_frame cuts long reasons so the payload fits a control frame", "[ws]") {
  SECTION("a 123-byte reason fits exactly") {
    std::string reason(123, 'r');
    auto f = ws::close_frame(ws::kGoingAway, reason);
    REQUIRE(f.size() == 2 + 125);
    CHECK(byte_at(f, 1) == 125);
    CHECK(ws::payload_of(f).substr(2) == reason);
  }
  SECTION("a 124-byte reason is cut to 123") {
    std::string reason = pattern(124);
    auto f = ws::close_frame(ws::kGoingAway, reason);
    REQUIRE(f.size() == 2 + 125);
    CHECK(byte_at(f, 1) == 125);
    CHECK(ws::payload_of(f).substr(0, 2) == bytes({0x03, 0xE9}));
    CHECK(ws::payload_of(f).substr(2) == reason.substr(0, 123));
  }
  SECTION("a 1000-byte reason is cut to 123 and keeps the 7-bit length") {
    std::string reason(1000, 'z');
    auto f = ws::close_frame(ws::kProtocolError, reason);
    REQUIRE(f.size() == 2 + 125);
    CHECK(byte_at(f, 0) == 0x88);
    CHECK(byte_at(f, 1) == 125);
    CHECK(ws::payload_of(f) == bytes({0x03, 0xEA}) + std::string(123, 'z'));
  }
}

// ---------------------------------------------------------------------------------------------
// accept_key / valid_key

TEST_CASE("read_close reads a client's close code and reason and refuses what RFC 6455 forbids", "[ws]") {
  auto code = [](std::uint16_t c, std::string_view reason = "") {
    return std::string{static_cast<char>(c >> 8), static_cast<char>(c & 0xff)} + std::string(reason);
  };
  CHECK(ws::read_close("").code == 1005);
  CHECK(ws::read_close("").error == 0);
  auto payload = code(1001, "bye");
  auto bye = ws::read_close(payload);
  CHECK((bye.code == 1001 && bye.reason == "bye" && bye.error == 0));
  for (std::uint16_t ok : {1000, 1003, 1007, 1011, 1014, 3000, 4999}) {
    CAPTURE(ok);
    CHECK(ws::read_close(code(ok)).error == 0);
  }
  CHECK(ws::read_close("\x03").error == ws::kProtocolError);
  for (std::uint16_t bad : {0, 999, 1004, 1005, 1006, 1015, 2999, 5000, 65535}) {
    CAPTURE(bad);
    CHECK(ws::read_close(code(bad)).error == ws::kProtocolError);
  }
  CHECK(ws::read_close(code(1000, "\xc0\xaf")).error == ws::kInvalidData);
}

TEST_CASE("accept_key follows RFC 6455 section 1.3", "[ws]") {
  CHECK(ws::accept_key("dGhlIHNhbXBsZSBub25jZQ==") == "s3pPLMBiTxaQ9kYGzzhZRbK+xOo=");
  // Further vectors, computed independently as base64(SHA-1(key + GUID)).
  CHECK(ws::accept_key("x3JJHMbDL1EzLkh9GBhXDw==") == "HSmrc0sMlYUkAGmm5OPpG2HaGWk=");
  CHECK(ws::accept_key("AQIDBAUGBwgJCgsMDQ4PEA==") == "C/0nmHhBztSRGR1CwL6Tf4ZjwpY=");
}

TEST_CASE("valid_key accepts the base64 form of 16 bytes and nothing else", "[ws]") {
  CHECK(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ=="));
  CHECK(ws::valid_key("x3JJHMbDL1EzLkh9GBhXDw=="));
  CHECK(ws::valid_key("ab+/0123456789ABCDEFGw=="));  // '+' and '/' are base64

  // wrong length
  CHECK_FALSE(ws::valid_key(""));
  CHECK_FALSE(ws::valid_key("=="));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZ=="));    // 23
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQQ=="));  // 25
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ== "));  // trailing space
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ=="
                            "dGhlIHNhbXBsZSBub25jZQ=="));

  // 24 characters but not ending in "=="
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQAA"));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQA="));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZ=A="));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZQ=A"));

  // characters outside the base64 alphabet
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZ-=="));  // base64url
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25jZ_=="));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25j Q=="));
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBs.SBub25jZQ=="));
  CHECK_FALSE(ws::valid_key("=GhlIHNhbXBsZSBub25jZQ=="));  // padding at the start
  CHECK_FALSE(ws::valid_key("dGhlIHNhbXBsZSBub25j\xC3\xA9=="));
  CHECK_FALSE(ws::valid_key(std::string_view("dGhlIHNhbXBsZSBub25j\0Q==", 24)));
}

// ---------------------------------------------------------------------------------------------
// parse_client_frame

TEST_CASE("parse_client_frame unmasks the RFC 6455 section 5.7 masked \"Hello\"", "[ws]") {
  auto buf = bytes({0x81, 0x85, 0x37, 0xfa, 0x21, 0x3d, 0x7f, 0x9f, 0x4d, 0x51, 0x58});
  CHECK(buf == client_frame(0x81, "Hello"));  // the test's own helper agrees with the RFC
  auto p = parse(buf);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.fin);
  CHECK(p.opcode == ws::text);
  CHECK(p.payload == "Hello");
  CHECK(p.consumed == 11);
  CHECK(p.close_code == 0);
  // unmasked in place: the payload view lies inside the buffer, which now holds the plain text
  CHECK(p.payload.data() == buf.data() + 6);
  CHECK(buf.substr(6) == "Hello");
}

TEST_CASE("parse_client_frame reports need_more for every proper prefix", "[ws]") {
  SECTION("empty payload") { check_prefixes_then_frame(client_frame(0x81, ""), true, ws::text, ""); }
  SECTION("7-bit length") {
    check_prefixes_then_frame(client_frame(0x82, pattern(125)), true, ws::binary, pattern(125));
  }
  SECTION("16-bit length") {
    check_prefixes_then_frame(client_frame(0x82, pattern(126)), true, ws::binary, pattern(126));
  }
  SECTION("64-bit length") {
    check_prefixes_then_frame(client_frame(0x81, pattern(65536)), true, ws::text, pattern(65536));
  }
  SECTION("ping") { check_prefixes_then_frame(client_frame(0x89, "abc"), true, ws::ping, "abc"); }
}

TEST_CASE("parse_client_frame decodes 16-bit and 64-bit lengths", "[ws]") {
  const std::array<unsigned char, 4> mask{0xA5, 0x01, 0xFE, 0x5A};
  for (std::size_t n : {std::size_t{126}, std::size_t{256}, std::size_t{1000}, std::size_t{65535}, std::size_t{65536},
                        std::size_t{70000}}) {
    INFO("payload size " << n);
    auto payload = pattern(n);
    auto buf = client_frame(0x82, payload, mask);
    std::size_t header = n < 65536 ? 4 : 10;
    REQUIRE(buf.size() == header + 4 + n);
    auto p = parse(buf);
    REQUIRE(p.status == ws::Parsed::frame);
    CHECK(p.opcode == ws::binary);
    CHECK(p.fin);
    CHECK(p.consumed == header + 4 + n);
    CHECK(p.payload.size() == n);
    CHECK(p.payload == payload);
  }
}

TEST_CASE("parse_client_frame accepts a payload of exactly max_payload", "[ws]") {
  auto buf = client_frame(0x81, std::string(100, 'a'));
  auto p = parse(buf, 100);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.payload == std::string(100, 'a'));
}

TEST_CASE("parse_client_frame takes back-to-back frames one at a time", "[ws]") {
  auto first = client_frame(0x81, "Hello");
  auto second = client_frame(0x89, "ping!", {0x01, 0x02, 0x03, 0x04});
  auto third = client_frame(0x82, pattern(300), {0xde, 0xad, 0xbe, 0xef});
  std::string buf = first + second + third + bytes({0x81});  // and the first byte of a fourth
  std::span<char> all(buf.data(), buf.size());

  auto p = ws::parse_client_frame(all, 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::text);
  CHECK(p.payload == "Hello");
  REQUIRE(p.consumed == first.size());
  std::size_t pos = p.consumed;

  p = ws::parse_client_frame(all.subspan(pos), 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::ping);
  CHECK(p.fin);
  CHECK(p.payload == "ping!");
  REQUIRE(p.consumed == second.size());
  pos += p.consumed;

  p = ws::parse_client_frame(all.subspan(pos), 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::binary);
  CHECK(p.payload == pattern(300));
  REQUIRE(p.consumed == third.size());
  pos += p.consumed;

  p = ws::parse_client_frame(all.subspan(pos), 1 << 20);
  CHECK(p.status == ws::Parsed::need_more);
  CHECK(p.consumed == 0);

  // the earlier payloads are still intact after the later frames were unmasked
  CHECK(std::string_view(buf).substr(6, 5) == "Hello");
}

TEST_CASE("parse_client_frame reports FIN and opcode for fragmented messages", "[ws]") {
  // RFC 6455 5.7: a fragmented unmasked text message "Hel" + "lo", here masked as a client would.
  auto buf = client_frame(0x01, "Hel") + client_frame(0x80, "lo", {0x11, 0x22, 0x33, 0x44});
  std::span<char> all(buf.data(), buf.size());

  auto p = ws::parse_client_frame(all, 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK_FALSE(p.fin);
  CHECK(p.opcode == ws::text);
  CHECK(p.payload == "Hel");
  REQUIRE(p.consumed == 2 + 4 + 3);

  p = ws::parse_client_frame(all.subspan(p.consumed), 1 << 20);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.fin);
  CHECK(p.opcode == ws::continuation);
  CHECK(p.payload == "lo");
  CHECK(p.consumed == 2 + 4 + 2);

  // a middle fragment: FIN clear, continuation opcode
  auto mid = client_frame(0x00, "mid");
  p = parse(mid);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK_FALSE(p.fin);
  CHECK(p.opcode == ws::continuation);
  CHECK(p.payload == "mid");

  // a binary first fragment
  auto bin = client_frame(0x02, bytes({0x00, 0xff}));
  p = parse(bin);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK_FALSE(p.fin);
  CHECK(p.opcode == ws::binary);
  CHECK(p.payload == bytes({0x00, 0xff}));
}

TEST_CASE("parse_client_frame parses control frames of up to 125 bytes", "[ws]") {
  auto closing = client_frame(0x88, bytes({0x03, 0xE8}) + "done");
  auto p = parse(closing);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::close);
  CHECK(p.payload == bytes({0x03, 0xE8}) + "done");

  auto pong = client_frame(0x8A, std::string(125, 'p'));
  p = parse(pong);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::pong);
  CHECK(p.payload.size() == 125);

  auto empty_ping = client_frame(0x89, "");
  p = parse(empty_ping);
  REQUIRE(p.status == ws::Parsed::frame);
  CHECK(p.opcode == ws::ping);
  CHECK(p.payload.empty());
  CHECK(p.consumed == 6);
}

TEST_CASE("parse_client_frame rejects protocol violations with 1002", "[ws]") {
  SECTION("unmasked frame (the RFC's unmasked \"Hello\")") {
    check_error(bytes({0x81, 0x05, 0x48, 0x65, 0x6c, 0x6c, 0x6f}), ws::kProtocolError);
    check_error(bytes({0x89, 0x00}), ws::kProtocolError);  // unmasked empty ping
  }
  SECTION("reserved bits") {
    check_error(client_frame(0xC1, "Hello"), ws::kProtocolError);  // RSV1
    check_error(client_frame(0xA1, "Hello"), ws::kProtocolError);  // RSV2
    check_error(client_frame(0x91, "Hello"), ws::kProtocolError);  // RSV3
    check_error(client_frame(0xF1, "Hello"), ws::kProtocolError);
  }
  SECTION("unknown opcodes") {
    check_error(client_frame(0x83, "Hello"), ws::kProtocolError);  // 0x3
    for (int op : {0x4, 0x5, 0x6, 0x7, 0xB, 0xC, 0xD, 0xE, 0xF}) {
      INFO("opcode " << op);
      check_error(client_frame(0x80 | op, "x"), ws::kProtocolError);
    }
  }
  SECTION("fragmented control frames") {
    check_error(client_frame(0x09, "ping"), ws::kProtocolError);  // FIN=0 ping
    check_error(client_frame(0x0A, "pong"), ws::kProtocolError);
    check_error(client_frame(0x08, bytes({0x03, 0xE8})), ws::kProtocolError);
  }
  SECTION("control frames longer than 125 bytes") {
    check_error(client_frame(0x89, std::string(126, 'p')), ws::kProtocolError);
    check_error(client_frame(0x8A, std::string(126, 'p')), ws::kProtocolError);
    check_error(client_frame(0x88, bytes({0x03, 0xE8}) + std::string(124, 'r')), ws::kProtocolError);
    check_error(client_frame(0x89, std::string(70000, 'p')), ws::kProtocolError);
  }
}

TEST_CASE("parse_client_frame rejects payloads over max_payload with 1009 from the header alone", "[ws]") {
  SECTION("7-bit length, one byte over") {
    check_error(client_frame(0x81, std::string(101, 'a')), ws::kTooBig, 100);
    // header and mask key only: the payload has not arrived yet
    auto head = client_frame(0x81, std::string(101, 'a')).substr(0, 6);
    check_error(head, ws::kTooBig, 100);
  }
  SECTION("16-bit length") {
    auto full = client_frame(0x82, pattern(1001));
    check_error(full, ws::kTooBig, 1000);
    check_error(full.substr(0, 8), ws::kTooBig, 1000);  // 4-byte header + mask key
  }
  SECTION("64-bit length, far too big to ever buffer") {
    // length 2^40; only the 10-byte header and the mask key are there
    auto head = bytes({0x82, 0xFF, 0x00, 0x00, 0x01, 0x00, 0x00, 0x00, 0x00, 0x00, 0x37, 0xfa, 0x21, 0x3d});
    check_error(head, ws::kTooBig, 1 << 20);
    // the largest length the header can carry
    head = bytes({0x82, 0xFF, 0x7F, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x37, 0xfa, 0x21, 0x3d});
    check_error(head, ws::kTooBig, 1 << 20);
  }
  SECTION("a continuation frame over the limit") {
    check_error(client_frame(0x80, std::string(65, 'c')).substr(0, 6), ws::kTooBig, 64);
  }
}

// ---------------------------------------------------------------------------------------------
// valid_utf8

TEST_CASE("valid_utf8 accepts well-formed UTF-8", "[ws]") {
  CHECK(ws::valid_utf8(""));
  CHECK(ws::valid_utf8("Hello, world"));
  CHECK(ws::valid_utf8(std::string_view("\0nul\0", 5)));  // NUL is valid UTF-8
  CHECK(ws::valid_utf8("\x7F"));
  CHECK(ws::valid_utf8("\xC3\xA9"));          // é  U+00E9
  CHECK(ws::valid_utf8("\xE2\x82\xAC"));      // €  U+20AC
  CHECK(ws::valid_utf8("\xF0\x9F\x98\x80"));  // 😀 U+1F600
  CHECK(ws::valid_utf8("caf\xC3\xA9 \xE2\x82\xAC 5 \xF0\x9F\x98\x80!"));
  // boundaries
  CHECK(ws::valid_utf8("\xC2\x80"));          // U+0080, smallest 2-byte
  CHECK(ws::valid_utf8("\xDF\xBF"));          // U+07FF
  CHECK(ws::valid_utf8("\xE0\xA0\x80"));      // U+0800, smallest 3-byte
  CHECK(ws::valid_utf8("\xED\x9F\xBF"));      // U+D7FF, just below the surrogates
  CHECK(ws::valid_utf8("\xEE\x80\x80"));      // U+E000, just above
  CHECK(ws::valid_utf8("\xEF\xBF\xBF"));      // U+FFFF
  CHECK(ws::valid_utf8("\xF0\x90\x80\x80"));  // U+10000, smallest 4-byte
  CHECK(ws::valid_utf8("\xF4\x8F\xBF\xBF"));  // U+10FFFF, the largest
}

TEST_CASE("valid_utf8 handles long ASCII runs next to multibyte sequences", "[ws]") {
  const std::string ascii(37, 'a');
  CHECK(ws::valid_utf8(ascii));
  CHECK(ws::valid_utf8(ascii + "\xC3\xA9"));
  CHECK(ws::valid_utf8(ascii + "\xE2\x82\xAC" + ascii));
  CHECK(ws::valid_utf8(ascii + "\xF0\x9F\x98\x80" + ascii + "\xC3\xA9"));
  CHECK(ws::valid_utf8("abcdefgh\xC3\xA9"));           // exactly one 8-byte word first
  CHECK(ws::valid_utf8("abcdefg\xC3\xA9xyzuvwrst"));   // multibyte straddling a word
  CHECK(ws::valid_utf8("\xF0\x9F\x98\x80\xF0\x9F\x98\x80\xF0\x9F\x98\x80"));

  // each invalid byte at every offset after and inside ASCII words
  for (std::size_t lead = 0; lead < 20; ++lead) {
    std::string prefix(lead, 'x');
    INFO("ASCII bytes before: " << lead);
    CHECK(ws::valid_utf8(prefix + "\xC3\xA9" + std::string(9, 'y')));
    CHECK_FALSE(ws::valid_utf8(prefix + "\x80" + std::string(9, 'y')));
    CHECK_FALSE(ws::valid_utf8(prefix + "\xFF" + std::string(9, 'y')));
    CHECK_FALSE(ws::valid_utf8(prefix + "\xED\xA0\x80" + std::string(9, 'y')));
    CHECK_FALSE(ws::valid_utf8(prefix + "\xC3"));  // truncated at the end
    CHECK_FALSE(ws::valid_utf8(prefix + "\xF0\x9F\x98"));
  }
  CHECK_FALSE(ws::valid_utf8(ascii + "\xC0\xAF" + ascii));
  CHECK_FALSE(ws::valid_utf8(std::string(64, 'q') + "\xF4\x90\x80\x80"));
}

TEST_CASE("valid_utf8 rejects malformed UTF-8", "[ws]") {
  CHECK_FALSE(ws::valid_utf8("\x80"));                  // lone continuation byte
  CHECK_FALSE(ws::valid_utf8("\xBF"));
  CHECK_FALSE(ws::valid_utf8("a\x80z"));
  CHECK_FALSE(ws::valid_utf8("\xC3\xA9\x80"));          // continuation after a complete sequence
  CHECK_FALSE(ws::valid_utf8("\xC0\xAF"));              // overlong '/'
  CHECK_FALSE(ws::valid_utf8("\xC1\xBF"));              // overlong U+007F
  CHECK_FALSE(ws::valid_utf8("\xE0\x80\xAF"));          // overlong '/', 3 bytes
  CHECK_FALSE(ws::valid_utf8("\xE0\x9F\xBF"));          // overlong U+07FF
  CHECK_FALSE(ws::valid_utf8("\xF0\x80\x80\xAF"));      // overlong '/', 4 bytes
  CHECK_FALSE(ws::valid_utf8("\xF0\x8F\xBF\xBF"));      // overlong U+FFFF
  CHECK_FALSE(ws::valid_utf8("\xED\xA0\x80"));          // U+D800, a surrogate
  CHECK_FALSE(ws::valid_utf8("\xED\xBF\xBF"));          // U+DFFF
  CHECK_FALSE(ws::valid_utf8("\xED\xA0\xBD\xED\xB8\x80"));  // a CESU-8 surrogate pair
  CHECK_FALSE(ws::valid_utf8("\xF4\x90\x80\x80"));      // U+110000
  CHECK_FALSE(ws::valid_utf8("\xF5\x80\x80\x80"));
  CHECK_FALSE(ws::valid_utf8("\xF8\x88\x80\x80\x80"));  // old 5-byte form
  CHECK_FALSE(ws::valid_utf8("\xFE"));
  CHECK_FALSE(ws::valid_utf8("\xFF"));
  CHECK_FALSE(ws::valid_utf8("\xC3"));                  // truncated at the end
  CHECK_FALSE(ws::valid_utf8("\xE2\x82"));
  CHECK_FALSE(ws::valid_utf8("\xF0\x9F\x98"));
  CHECK_FALSE(ws::valid_utf8("\xC3" "a"));             // lead byte then ASCII
  CHECK_FALSE(ws::valid_utf8("\xE2\x82" "a"));
  CHECK_FALSE(ws::valid_utf8("\xE2\xC3\xA9"));          // lead byte then another lead byte
  // truncated inside a larger buffer (as a frame payload is): the bytes after the view must not count
  CHECK_FALSE(ws::valid_utf8(std::string_view("\xC3\xA9", 1)));
  CHECK_FALSE(ws::valid_utf8(std::string_view("ab\xE2\x82\xAC", 4)));
  CHECK_FALSE(ws::valid_utf8(std::string_view("abcdefghij\xF0\x9F\x98\x80", 13)));
}

}  // namespace tourbus_ws_frame_test
