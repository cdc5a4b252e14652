// Helpers shared by the unit tests.
#pragma once

#include <cstdlib>
#include <filesystem>
#include <fstream>
#include <sstream>
#include <string>

namespace tourbus::test {

// A directory under the system temp dir, removed with everything in it at the end of a test.
class TempDir {
 public:
  TempDir() {
    std::string tmpl = (std::filesystem::temp_directory_path() / "tourbus-unit-XXXXXX").string();
    path_ = ::mkdtemp(tmpl.data());
  }
  ~TempDir() {
    std::error_code ec;
    std::filesystem::remove_all(path_, ec);
  }
  const std::filesystem::path& path() const { return path_; }
  std::filesystem::path operator/(const std::string& name) const { return path_ / name; }

 private:
  std::filesystem::path path_;
};

// The text of a file of the source tree (docs, man pages, examples), by path from its root.
inline std::string source_file(const std::string& relative) {
  std::ifstream f(std::string(TOURBUS_SOURCE_DIR) + "/" + relative);
  std::stringstream ss;
  ss << f.rdbuf();
  return ss.str();
}

}  // namespace tourbus::test
