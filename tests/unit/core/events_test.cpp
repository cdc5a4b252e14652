#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include <boost/json/parse.hpp>

#include "../support.hpp"
#include "core/events.hpp"

using namespace tourbus;

TEST_CASE("an event is encoded once and each framing is made once") {
  auto e = events::push("typing", boost::json::object{{"conversation", 3}, {"user", "anna"}});
  auto v = boost::json::parse(e->json());
  CHECK(v.at("event") == "typing");
  CHECK(v.at("data").at("user") == "anna");
  CHECK_FALSE(v.as_object().contains("ref"));
  int made = 0;
  auto frame = [&](const std::string& json) {
    ++made;
    return "[" + json + "]";
  };
  const auto& first = e->framed(events::Framing::websocket, frame);
  const auto& again = e->framed(events::Framing::websocket, frame);
  CHECK(first.get() == again.get());
  CHECK(made == 1);
  CHECK(*first == "[" + e->json() + "]");
  e->framed(events::Framing::socketio, frame);
  CHECK(made == 2);  // another transport, its own framing

  boost::json::value ref = 7;
  auto reply = events::answer("reply", boost::json::object{{"ok", true}}, &ref);
  CHECK(boost::json::parse(reply->json()).at("ref") == 7);
  CHECK_THROWS_AS(events::push("no.such.push", nullptr), std::logic_error);
}

TEST_CASE("docs/protocol.md documents exactly the declared push events") {
  auto doc = test::source_file("docs/protocol.md");
  auto start = doc.find("\n## Server pushes\n");
  REQUIRE(start != std::string::npos);
  auto end = doc.find("\n## ", start + 1);
  auto section = doc.substr(start, end - start);
  std::regex heading("\n### `([a-z._]+)`");
  std::set<std::string> documented, declared;
  for (std::sregex_iterator it(section.begin(), section.end(), heading), e; it != e; ++it) documented.insert((*it)[1].str());
  for (const auto& p : events::push_events()) {
    INFO(p.name);
    CHECK_FALSE(p.recipients.empty());
    CHECK_FALSE(p.summary.empty());
    // the summary table of the section has a row for it
    CHECK(section.find("| [`" + std::string(p.name) + "`]") != std::string::npos);
    declared.insert(std::string(p.name));
  }
  CHECK(documented == declared);
}

TEST_CASE("the library publishes only declared push events") {
  std::set<std::string> declared;
  for (const auto& p : events::push_events()) declared.insert(std::string(p.name));
  std::regex pushed(R"re(events::push\(\s*"([a-z._]+)")re");
  int seen = 0;
  for (const auto& f : std::filesystem::recursive_directory_iterator(std::string(TOURBUS_SOURCE_DIR) + "/lib")) {
    if (f.path().extension() != ".cpp") continue;
    std::ifstream in(f.path());
    std::stringstream ss;
    ss << in.rdbuf();
    auto text = ss.str();
    for (std::sregex_iterator it(text.begin(), text.end(), pushed), e; it != e; ++it) {
      INFO(f.path().string() + ": " + (*it)[1].str());
      CHECK(declared.contains((*it)[1].str()));
      ++seen;
    }
  }
  CHECK(seen >= 8);
}
