// Each channel is declared in one place, its descriptor in lib/channels/<name>.cpp: nothing else
// in the library names a channel, and what the descriptors say matches the docs.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "../support.hpp"
#include "channels/channels.hpp"
#include "core/config.hpp"

using namespace tourbus;

namespace {

std::vector<std::unique_ptr<notify::Channel>> all_channels() { return channels::make_all(); }

}  // namespace

TEST_CASE("the catalog lists channels in the documented auto order") {
  auto list = all_channels();
  notify::Catalog catalog;
  for (const auto& c : list) catalog.add(c->descriptor());
  CHECK(catalog.names() == "inapp, webpush, fcm, apns, email, sms, webhook");
  CHECK(catalog.find("sms")->auto_emergencies_only);
  CHECK(catalog.find("webhook")->auto_rank == 0);
  CHECK_FALSE(catalog.find("inapp")->interrupts);
  CHECK(catalog.find("pigeon") == nullptr);
  // docs/api.md states the same order for "auto".
  CHECK_THAT(test::source_file("docs/api.md"), Catch::Contains("inapp, webpush, fcm, apns, email, sms"));
}

TEST_CASE("every channel's config keys exist and are documented") {
  auto doc = test::source_file("docs/config.md");
  for (const auto& c : all_channels()) {
    for (auto key : c->descriptor().config_keys) {
      INFO(key);
      CHECK(config::find_key(key) != nullptr);
      CHECK_THAT(doc, Catch::Contains("### `" + std::string(key) + "`"));
    }
  }
}

TEST_CASE("no file outside lib/channels names a channel") {
  std::set<std::string> names;
  for (const auto& c : all_channels()) names.insert(std::string(c->name()));
  // The same words with other meanings: a user's e-mail field, a device's platform, an SMS
  // provider kind, how a roll-call answer came.
  const std::set<std::pair<std::string, std::string>> other_meaning = {
      {"api/operations.cpp", "email"}, {"api/json_out.cpp", "email"}, {"api/user_ops.cpp", "email"},
      {"api/push_ops.cpp", "fcm"},     {"api/push_ops.cpp", "apns"},  {"core/config.cpp", "webhook"},
      // An answer that came as an SMS reply; the escalation rung that sends one.
      {"api/sms_ops.cpp", "sms"},      {"safety/ladder.hpp", "sms"},
  };
  std::regex literal("\"([a-z]+)\"");
  auto root = std::filesystem::path(TOURBUS_SOURCE_DIR) / "lib";
  int files = 0;
  for (const auto& e : std::filesystem::recursive_directory_iterator(root)) {
    auto rel = std::filesystem::relative(e.path(), root).string();
    if (rel.starts_with("channels/") || (e.path().extension() != ".cpp" && e.path().extension() != ".hpp")) continue;
    ++files;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    auto text = ss.str();
    for (std::sregex_iterator it(text.begin(), text.end(), literal), end; it != end; ++it) {
      auto word = (*it)[1].str();
      if (!names.contains(word) || other_meaning.contains({rel, word})) continue;
      FAIL_CHECK(rel << " names the channel \"" << word << "\": use its descriptor");
    }
  }
  CHECK(files > 50);
}
