// Message templates: files <dir>/<name>.<language>.toml holding category, subject, text and html,
// with {{variable}} placeholders. A recipient's language is tried first, then its base language
// ("pt" for "pt-BR"), then the default. A missing variable is an error, never an empty string;
// values are HTML-escaped in the html part.
#pragma once

#include <filesystem>
#include <map>
#include <optional>
#include <string>
#include <vector>

#include "core/error.hpp"

namespace tourbus::notify {

struct Template {
  std::string name, language, category;
  std::string subject, text, html;  // html may be empty: text only
  std::filesystem::path file;
};

struct Rendered {
  std::string subject, text, html;
  std::string language;  // the one used
};

using Vars = std::map<std::string, std::string>;

class Templates {
 public:
  Templates(std::filesystem::path dir, std::string default_language);

  // Every template file, by name then language. Files that do not parse are reported as errors.
  Result<std::vector<Template>> list() const;
  // The template for a name and a recipient's language (with the fallbacks above).
  Result<Template> find(std::string_view name, std::string_view language) const;
  const std::filesystem::path& dir() const { return dir_; }

 private:
  std::filesystem::path dir_;
  std::string default_language_;
};

// True for names made of a-z, 0-9 and '_' (1-64 characters); only such names reach the file system.
bool valid_template_name(std::string_view name);
// Replaces {{name}} (spaces allowed inside the braces) with vars; `escape_html` for the html part.
Result<std::string> render(std::string_view text, const Vars& vars, bool escape_html, std::string_view where);
Result<Rendered> render(const Template& t, const Vars& vars);
// The variables a template uses, sorted.
std::vector<std::string> variables(const Template& t);

}  // namespace tourbus::notify
