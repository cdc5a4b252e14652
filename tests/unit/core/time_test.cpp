#include <catch2/catch.hpp>

#include "core/time.hpp"

using namespace tourbus::timeutil;

TEST_CASE("RFC 3339 times with an offset or Z are read as instants") {
  CHECK(*parse_time("2026-12-01T08:00:00Z", "UTC") == 1796112000000);
  CHECK(*parse_time("2026-12-01T09:00:00+01:00", "Asia/Tokyo") == 1796112000000);  // the offset wins over the zone
  CHECK(*parse_time("2026-12-01T08:00Z", "UTC") == 1796112000000);
  CHECK(*parse_time("2026-12-01T08:00:00.250Z", "UTC") == 1796112000250);
}

TEST_CASE("local times are read in the given zone, across DST") {
  CHECK(*parse_time("2026-12-01T09:00", "Europe/Rome") == 1796112000000);  // CET, UTC+1
  CHECK(*parse_time("2026-07-01 09:00", "Europe/Rome") == *parse_time("2026-07-01T07:00:00Z", "UTC"));  // CEST
  SECTION("a time skipped by the spring change does not exist") {
    auto r = parse_time("2026-03-29T02:30", "Europe/Rome");
    REQUIRE_FALSE(r.ok());
    CHECK_THAT(r.error().message, Catch::Contains("does not exist"));
  }
  SECTION("an unknown zone is an error") { CHECK_FALSE(parse_time("2026-12-01T09:00", "Nowhere/City").ok()); }
}

TEST_CASE("garbage is refused with a hint") {
  for (auto text : {"tomorrow", "2026-13-01T09:00", "2026-12-01", "2026-12-01T25:00", "2026-12-01T09:00+25:00"}) {
    INFO(text);
    auto r = parse_time(text, "UTC");
    CHECK_FALSE(r.ok());
  }
}

TEST_CASE("formatting: UTC with Z, local with the zone's offset") {
  CHECK(format_utc(1796112000000) == "2026-12-01T08:00:00Z");
  CHECK(format_utc(1796112000250) == "2026-12-01T08:00:00.250Z");
  CHECK(format_utc(0) == "1970-01-01T00:00:00Z");
  CHECK(format_utc(-1) == "1969-12-31T23:59:59.999Z");
  CHECK(format_utc(1709251199001) == "2024-02-29T23:59:59.001Z");  // a leap day
  CHECK(format_utc(1796112000050) == "2026-12-01T08:00:00.050Z");
  CHECK(format_utc(-62167219200000) == "0000-01-01T00:00:00Z");
  CHECK(format_utc(253402300800000) == "10000-01-01T00:00:00Z");  // beyond four digits
  CHECK(format_local(1796112000000, "Europe/Rome") == "2026-12-01T09:00:00+01:00");
  CHECK(format_local(1796112000000, "Asia/Kolkata") == "2026-12-01T13:30:00+05:30");
}
