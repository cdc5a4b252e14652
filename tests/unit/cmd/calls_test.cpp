// The CLI calls operations by name only: every name it uses is in the operation table, and no
// route is written by hand in cmd/.
#include <catch2/catch.hpp>

#include <filesystem>
#include <fstream>
#include <regex>
#include <set>
#include <sstream>

#include "api/operation.hpp"

using namespace tourbus;

namespace {

std::vector<std::pair<std::string, std::string>> cli_sources() {
  std::vector<std::pair<std::string, std::string>> out;
  for (const auto& e : std::filesystem::directory_iterator(std::string(TOURBUS_SOURCE_DIR) + "/cmd")) {
    auto ext = e.path().extension();
    if (ext != ".cpp" && ext != ".hpp") continue;
    std::ifstream f(e.path());
    std::stringstream ss;
    ss << f.rdbuf();
    out.emplace_back(e.path().filename().string(), ss.str());
  }
  return out;
}

}  // namespace

TEST_CASE("every operation the CLI names is in the operation table") {
  // Names passed to a call as literals, chosen by a ternary, or paired with a subcommand's name.
  std::regex named_re(
      R"re((?:(?:call|upload|download|text|summary)\(\s*|std::pair\{"[a-z]+", )"([a-z_.]+)"\s*[,)}]|[?:] "([a-z]+\.[a-z_]+)")re");
  int named = 0;
  for (const auto& [file, text] : cli_sources()) {
    INFO(file);
    for (std::sregex_iterator it(text.begin(), text.end(), named_re), end; it != end; ++it) {
      auto name = (*it)[1].matched ? (*it)[1].str() : (*it)[2].str();
      INFO(name);
      CHECK(api::find_operation(name) != nullptr);
      ++named;
    }
  }
  CHECK(named > 40);
}

TEST_CASE("the CLI writes no routes by hand") {
  for (const auto& [file, text] : cli_sources()) {
    INFO(file);
    CHECK(text.find("\"/v1") == std::string::npos);
    CHECK(text.find("\"v1\"") == std::string::npos);
  }
}
