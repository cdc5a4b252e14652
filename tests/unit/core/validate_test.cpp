#include <catch2/catch.hpp>

#include "core/validate.hpp"

using namespace tourbus;

TEST_CASE("handles are folded to lower case and limited to a safe alphabet") {
  CHECK(*validate::handle("Anna.Rossi") == "anna.rossi");
  CHECK(*validate::handle("g-7_x") == "g-7_x");
  CHECK_FALSE(validate::handle("a").ok());
  CHECK_FALSE(validate::handle("-anna").ok());
  CHECK_FALSE(validate::handle("anna rossi").ok());
  CHECK_FALSE(validate::handle("../etc").ok());
  CHECK_FALSE(validate::handle(std::string(33, 'a')).ok());
}

TEST_CASE("display names and free text are trimmed UTF-8 without control characters") {
  CHECK(*validate::display_name("  Zoë Müller ") == "Zoë Müller");
  CHECK(*validate::display_name("東京ガイド") == "東京ガイド");
  CHECK_FALSE(validate::display_name("").ok());
  CHECK_FALSE(validate::display_name("   ").ok());
  CHECK_FALSE(validate::display_name("bell\x07").ok());
  CHECK_FALSE(validate::display_name("\xff\xfe").ok());
  CHECK(validate::text(std::string(100, 'x'), 100).ok());
  CHECK_FALSE(validate::text(std::string(101, 'x'), 100).ok());
}

TEST_CASE("email addresses") {
  CHECK(*validate::email(" anna@example.com ") == "anna@example.com");
  CHECK(validate::email("a.b+tag@mail.example.co.uk").ok());
  CHECK_FALSE(validate::email("anna").ok());
  CHECK_FALSE(validate::email("anna@localhost").ok());
  CHECK_FALSE(validate::email("an na@example.com").ok());
  CHECK_FALSE(validate::email("anna@@example.com").ok());
}

TEST_CASE("phone numbers must be possible E.164 numbers") {
  CHECK(*validate::phone("+39 333 123 4567") == "+393331234567");
  CHECK(*validate::phone("+1 (212) 555-0123") == "+12125550123");
  CHECK(*validate::phone("+44 20 7946 0958") == "+442079460958");
  CHECK(*validate::phone("+81-3-1234-5678") == "+81312345678");
  SECTION("no international prefix") { CHECK_FALSE(validate::phone("3331234567").ok()); }
  SECTION("too short or too long") {
    CHECK_FALSE(validate::phone("+39 12").ok());
    CHECK_FALSE(validate::phone("+39 1234567890123456").ok());
  }
  SECTION("unassigned country code") {
    CHECK_FALSE(validate::phone("+999 1234 5678").ok());
    CHECK_FALSE(validate::phone("+0 1234 5678").ok());
  }
  SECTION("impossible North American numbers") {
    CHECK_FALSE(validate::phone("+1 112 555 0123").ok());  // area code cannot start with 1
    CHECK_FALSE(validate::phone("+1 212 555 012").ok());   // nine digits
  }
  SECTION("letters") { CHECK_FALSE(validate::phone("+39 333 CALL ME").ok()); }
  CHECK(validate::redact_phone("+393331234567") == "**********567");
}

TEST_CASE("language tags are BCP 47 with normalised case") {
  CHECK(*validate::language("en") == "en");
  CHECK(*validate::language("PT-br") == "pt-BR");
  CHECK(*validate::language("zh-hant-tw") == "zh-Hant-TW");
  CHECK(*validate::language("es-419") == "es-419");
  CHECK_FALSE(validate::language("english").ok());
  CHECK_FALSE(validate::language("e").ok());
  CHECK_FALSE(validate::language("en_US").ok());
}

TEST_CASE("time zones come from the IANA database and never touch a path") {
  CHECK(validate::time_zone("Europe/Rome").ok());
  CHECK(validate::time_zone("America/Argentina/Buenos_Aires").ok());
  CHECK(validate::time_zone("UTC").ok());
  CHECK_FALSE(validate::time_zone("Mars/Olympus_Mons").ok());
  CHECK_FALSE(validate::time_zone("../../etc/passwd").ok());
  CHECK_FALSE(validate::time_zone("").ok());
}

TEST_CASE("quiet hours are HH:MM-HH:MM and may wrap midnight") {
  auto q = validate::quiet_hours("22:00-07:30");
  REQUIRE(q.ok());
  CHECK(q->start_minute == 22 * 60);
  CHECK(q->end_minute == 7 * 60 + 30);
  CHECK(validate::format_quiet_hours(*q) == "22:00-07:30");
  CHECK_FALSE(validate::quiet_hours("24:00-07:00").ok());
  CHECK_FALSE(validate::quiet_hours("22:00").ok());
  CHECK_FALSE(validate::quiet_hours("08:00-08:00").ok());
}
