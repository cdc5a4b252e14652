#include "notify/templates.hpp"

#include <algorithm>
#include <set>

#include <toml++/toml.h>

#include "notify/model.hpp"

namespace tourbus::notify {

namespace {

bool valid_language(std::string_view l) {
  if (l.size() < 2 || l.size() > 10) return false;
  return std::ranges::all_of(l, [](char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || c == '-'; });
}

Result<Template> load(const std::filesystem::path& file, std::string name, std::string language) {
  toml::table t;
  try {
    t = toml::parse_file(file.string());
  } catch (const toml::parse_error& e) {
    return Error(Code::invalid_argument, "template " + file.filename().string() + ":" +
                                             std::to_string(e.source().begin.line) + ": " + std::string(e.description()));
  }
  Template out{std::move(name), std::move(language), "", "", "", "", file};
  for (auto&& [key, value] : t) {
    auto k = std::string(key.str());
    auto* s = value.as_string();
    if (!s) return Error(Code::invalid_argument, "template " + file.filename().string() + ": " + k + " must be a string");
    if (k == "category") out.category = s->get();
    else if (k == "subject") out.subject = s->get();
    else if (k == "text") out.text = s->get();
    else if (k == "html") out.html = s->get();
    else return Error(Code::invalid_argument, "template " + file.filename().string() + ": unknown key '" + k +
                                                  "' (category, subject, text, html)");
  }
  if (!is_category(out.category))
    return Error(Code::invalid_argument, "template " + file.filename().string() + ": category must be one of "
                                         "transactional, reminder, review, marketing, emergency");
  if (out.text.empty()) return Error(Code::invalid_argument, "template " + file.filename().string() + ": text is required");
  return out;
}

void escape_into(std::string& out, std::string_view v) {
  for (char c : v) {
    switch (c) {
      case '&': out += "&amp;"; break;
      case '<': out += "&lt;"; break;
      case '>': out += "&gt;"; break;
      case '"': out += "&quot;"; break;
      case '\'': out += "&#39;"; break;
      default: out += c;
    }
  }
}

// Calls f(name) for each placeholder; returns the text with f's results spliced in.
template <class F>
Result<std::string> substitute(std::string_view text, std::string_view where, F&& f) {
  std::string out;
  std::size_t pos = 0;
  for (;;) {
    auto open = text.find("{{", pos);
    if (open == std::string_view::npos) break;
    auto close = text.find("}}", open + 2);
    if (close == std::string_view::npos)
      return Error(Code::invalid_argument, std::string(where) + ": '{{' without '}}'");
    out.append(text.substr(pos, open - pos));
    auto name = text.substr(open + 2, close - open - 2);
    while (!name.empty() && name.front() == ' ') name.remove_prefix(1);
    while (!name.empty() && name.back() == ' ') name.remove_suffix(1);
    if (name.empty() || !std::ranges::all_of(name, [](char c) { return std::isalnum(static_cast<unsigned char>(c)) || c == '_' || c == '.'; }))
      return Error(Code::invalid_argument, std::string(where) + ": '{{" + std::string(name) + "}}' is not a variable name");
    auto piece = f(std::string(name));
    if (!piece) return piece.error();
    out += *piece;
    pos = close + 2;
  }
  out.append(text.substr(pos));
  return out;
}

}  // namespace

bool valid_template_name(std::string_view name) {
  return !name.empty() && name.size() <= 64 &&
         std::ranges::all_of(name, [](char c) { return (c >= 'a' && c <= 'z') || (c >= '0' && c <= '9') || c == '_'; });
}

Templates::Templates(std::filesystem::path dir, std::string default_language)
    : dir_(std::move(dir)), default_language_(std::move(default_language)) {}

Result<std::vector<Template>> Templates::list() const {
  std::vector<Template> out;
  std::error_code ec;
  std::filesystem::directory_iterator it(dir_, ec);
  if (ec) return Error(Code::not_found, "no templates directory " + dir_.string() + " (" + ec.message() + ")");
  for (const auto& entry : it) {
    auto file = entry.path().filename().string();
    if (!file.ends_with(".toml")) continue;
    auto stem = file.substr(0, file.size() - 5);
    auto dot = stem.find('.');
    if (dot == std::string::npos) continue;
    auto name = stem.substr(0, dot), language = stem.substr(dot + 1);
    if (!valid_template_name(name) || !valid_language(language)) continue;
    auto t = load(entry.path(), name, language);
    if (!t) return t.error();
    out.push_back(std::move(*t));
  }
  std::ranges::sort(out, [](const Template& a, const Template& b) { return std::tie(a.name, a.language) < std::tie(b.name, b.language); });
  return out;
}

Result<Template> Templates::find(std::string_view name, std::string_view language) const {
  if (!valid_template_name(name))
    return Error(Code::invalid_argument, "template: names are made of a-z, 0-9 and _", "template");
  std::vector<std::string> tries;
  if (valid_language(language)) {
    tries.emplace_back(language);
    if (auto dash = language.find('-'); dash != std::string_view::npos) tries.emplace_back(language.substr(0, dash));
  }
  tries.push_back(default_language_);
  for (const auto& l : tries) {
    // Only validated names reach the path: [a-z0-9_] and a language of letters and '-'.
    auto file = dir_ / (std::string(name) + "." + l + ".toml");
    std::error_code ec;
    if (!std::filesystem::is_regular_file(file, ec)) continue;
    return load(file, std::string(name), l);
  }
  // Name the languages looked for, each once: the asked one (if any) and the default.
  std::string looked;
  for (const auto& l : tries)
    if (looked.find("'" + l + "'") == std::string::npos) looked += (looked.empty() ? "" : " or ") + ("'" + l + "'");
  return Error(Code::not_found,
               "template: no template '" + std::string(name) + "' in " + dir_.string() + " in language " + looked,
               "template");
}

Result<std::string> render(std::string_view text, const Vars& vars, bool escape_html, std::string_view where) {
  return substitute(text, where, [&](const std::string& name) -> Result<std::string> {
    auto it = vars.find(name);
    if (it == vars.end())
      return Error(Code::invalid_argument, std::string(where) + ": no value for variable '" + name + "'", "vars");
    if (!escape_html) return it->second;
    std::string out;
    escape_into(out, it->second);
    return out;
  });
}

Result<Rendered> render(const Template& t, const Vars& vars) {
  auto where = "template " + t.name + "." + t.language;
  Rendered r;
  r.language = t.language;
  auto subject = render(t.subject, vars, false, where);
  if (!subject) return subject.error();
  auto text = render(t.text, vars, false, where);
  if (!text) return text.error();
  auto html = render(t.html, vars, true, where);
  if (!html) return html.error();
  return Rendered{std::move(*subject), std::move(*text), std::move(*html), t.language};
}

std::vector<std::string> variables(const Template& t) {
  std::set<std::string> names;
  for (const auto* part : {&t.subject, &t.text, &t.html})
    (void)substitute(*part, "", [&](const std::string& name) -> Result<std::string> {
      names.insert(name);
      return std::string();
    });
  return {names.begin(), names.end()};
}

}  // namespace tourbus::notify
