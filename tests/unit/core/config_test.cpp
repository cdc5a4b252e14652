#include <catch2/catch.hpp>

#include <fstream>
#include <set>
#include <sstream>

#include "../support.hpp"
#include "core/config.hpp"

using namespace tourbus;
using tourbus::test::TempDir;

namespace {

std::filesystem::path write(const TempDir& dir, const std::string& text) {
  auto p = dir / "tourbus.toml";
  std::ofstream(p) << text;
  return p;
}

}  // namespace

TEST_CASE("defaults are valid and match the documented embedded set-up") {
  config::Config c;
  REQUIRE(config::validate(c).ok());
  CHECK(c.listen == "127.0.0.1:3001");
  CHECK(c.state_dir == "./tourbus-data");
  CHECK(c.socket_path() == std::filesystem::path("./tourbus-data/tourbusd.sock"));
  CHECK(c.database_path() == std::filesystem::path("./tourbus-data/tourbus.db"));
}

TEST_CASE("a config file sets values over the base") {
  TempDir dir;
  auto file = write(dir, "state_dir = \"/srv/tb\"\n[server]\nlisten = \"[::1]:4000\"\nmax_body_bytes = 2048\n[log]\nlevel = \"debug\"\n");
  auto c = config::load_file(file);
  REQUIRE(c.ok());
  CHECK(c->state_dir == "/srv/tb");
  CHECK(c->listen == "[::1]:4000");
  CHECK(c->max_body_bytes == 2048);
  CHECK(c->log_level == "debug");
  CHECK(c->token_ttl_days == 90);  // untouched keys keep the base value
}

TEST_CASE("config errors name the file, the line and the key") {
  TempDir dir;
  SECTION("unknown key") {
    auto file = write(dir, "[server]\nlisten = \"127.0.0.1:1\"\nlisen = \"x\"\n");
    auto c = config::load_file(file);
    REQUIRE_FALSE(c.ok());
    CHECK(c.error().code == Code::unknown_field);
    CHECK_THAT(c.error().message, Catch::Contains(file.string() + ":3") && Catch::Contains("server.lisen"));
  }
  SECTION("unknown table") {
    auto c = config::load_file(write(dir, "\n[bogus]\nx = 1\n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains(":3") && Catch::Contains("bogus.x"));
  }
  SECTION("wrong type") {
    auto c = config::load_file(write(dir, "[server]\nmax_body_bytes = \"big\"\n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains(":2") && Catch::Contains("server.max_body_bytes") &&
                                      Catch::Contains("expected an integer"));
  }
  SECTION("out of range") {
    auto c = config::load_file(write(dir, "[store]\nmax_batch = 0\n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains("store.max_batch") && Catch::Contains("out of range"));
  }
  SECTION("not one of the choices") {
    auto c = config::load_file(write(dir, "[log]\nlevel = \"loud\"\n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains("log.level") && Catch::Contains("'loud'"));
  }
  SECTION("bad listen address") {
    auto c = config::load_file(write(dir, "[server]\nlisten = \"localhost\"\n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains("server.listen"));
  }
  SECTION("TOML syntax error") {
    auto c = config::load_file(write(dir, "[server]\n\nlisten = \n"));
    REQUIRE_FALSE(c.ok());
    CHECK_THAT(c.error().message, Catch::Contains(":3"));
  }
}

TEST_CASE("parse_listen accepts IPv4, IPv6 and port 0, refuses the rest") {
  CHECK(config::parse_listen("127.0.0.1:3001")->second == 3001);
  CHECK(config::parse_listen("[::1]:0")->first == "::1");
  CHECK_FALSE(config::parse_listen("127.0.0.1").ok());
  CHECK_FALSE(config::parse_listen("127.0.0.1:70000").ok());
  CHECK_FALSE(config::parse_listen("127.0.0.1:").ok());
  CHECK_FALSE(config::parse_listen("[::1:80").ok());
}

TEST_CASE("changed_keys lists exactly the keys that differ") {
  config::Config a, b;
  b.log_level = "debug";
  b.max_batch = 7;
  auto changed = config::changed_keys(a, b);
  CHECK(std::set<std::string_view>(changed.begin(), changed.end()) == std::set<std::string_view>{"log.level", "store.max_batch"});
}

TEST_CASE("every config key is documented in the man page, docs/config.md and examples/tourbus.toml") {
  auto man = tourbus::test::source_file("man/tourbus.toml.5");
  auto doc = tourbus::test::source_file("docs/config.md");
  auto example = tourbus::test::source_file("examples/tourbus.toml");
  for (const auto& key : config::keys()) {
    INFO(key.name);
    CHECK_FALSE(key.help.empty());
    auto leaf = std::string(key.name.substr(key.name.rfind('.') + 1));
    CHECK(doc.find(std::string(key.name)) != std::string::npos);
    // roff escapes '-' but not '.' or '_'; the man page names keys in full.
    CHECK(man.find(std::string(key.name)) != std::string::npos);
    CHECK(example.find(leaf + " = " + config::default_as_toml(key)) != std::string::npos);
  }
}

TEST_CASE("the PostgreSQL password stays out of cluster.postgres") {
  config::Config c;
  c.cluster_postgres = "host=db.example dbname=tourbus user=tourbus";
  CHECK(config::validate(c).ok());
  c.cluster_postgres = "postgresql://tourbus@db.example:5432/tourbus";  // a port is not a password
  CHECK(config::validate(c).ok());
  c.cluster_postgres = "host=db.example dbname=password_archive user=tourbus";
  CHECK(config::validate(c).ok());
  for (const char* dsn : {"host=db.example password=s3cret dbname=tourbus", "host=db PASSWORD = s3cret",
                          "postgresql://tourbus:s3cret@db.example/tourbus", "postgresql://db.example/tourbus?password=s3cret"}) {
    INFO(dsn);
    c.cluster_postgres = dsn;
    auto st = config::validate(c);
    REQUIRE_FALSE(st.ok());
    CHECK(st.error().field == "cluster.postgres");
    CHECK_THAT(st.error().message, Catch::Contains("cluster.postgres_password"));
  }
}
