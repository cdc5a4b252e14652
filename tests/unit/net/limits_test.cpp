#include <catch2/catch.hpp>

#include <boost/asio/ip/address.hpp>

#include "core/rate.hpp"
#include "net/limits.hpp"

using tourbus::TokenBucket;
using tourbus::net::address_key;
namespace ip = boost::asio::ip;

TEST_CASE("clients are limited by IPv4 address and by IPv6 /64") {
  CHECK(address_key(ip::make_address("192.0.2.7")) == "192.0.2.7");
  CHECK(address_key(ip::make_address("::ffff:192.0.2.7")) == "192.0.2.7");
  CHECK(address_key(ip::make_address("2001:db8:1:2::1")) == "2001:db8:1:2::/64");
  CHECK(address_key(ip::make_address("2001:db8:1:2:aaaa:bbbb:cccc:dddd")) == "2001:db8:1:2::/64");
  CHECK(address_key(ip::make_address("2001:db8:1:3::1")) == "2001:db8:1:3::/64");
  CHECK(address_key(ip::make_address("::1")) == "::/64");
}

TEST_CASE("a token bucket gives its burst at once, then the rate") {
  auto t0 = TokenBucket::Clock::now();
  TokenBucket b(3);
  for (int i = 0; i < 3; ++i) CHECK(b.take(2, 3, t0));
  CHECK_FALSE(b.take(2, 3, t0));
  CHECK_FALSE(b.take(2, 3, t0 + std::chrono::milliseconds(400)));  // 0.8 of a token back
  CHECK(b.take(2, 3, t0 + std::chrono::milliseconds(600)));        // 1.2 back: one taken
  CHECK_FALSE(b.take(2, 3, t0 + std::chrono::milliseconds(600)));
  // never more than the burst, however long it rested
  auto later = t0 + std::chrono::hours(1);
  CHECK(b.full(2, 3, later));
  for (int i = 0; i < 3; ++i) CHECK(b.take(2, 3, later));
  CHECK_FALSE(b.take(2, 3, later));
  // a lower rate after a reload applies from then on
  CHECK_FALSE(b.take(0.5, 3, later + std::chrono::seconds(1)));
  CHECK(b.take(0.5, 3, later + std::chrono::seconds(3)));
}
