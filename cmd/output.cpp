#include "output.hpp"

#include <algorithm>
#include <iostream>

#include "core/json.hpp"
#include <fmt/format.h>

namespace tourbus::cli {

int fail(const Globals& g, const Error& e) {
  std::cerr << "tourbus: " << e.message << "\n";
  if (g.json) {
    boost::json::object err{{"code", code_name(e.code)}, {"message", e.message}};
    if (!e.field.empty()) err["field"] = e.field;
    std::cout << json::dump(boost::json::object{{"error", err}}) << "\n";
  }
  return info(e.code).exit_code;
}

std::optional<double> number_of(const boost::json::object& o, std::string_view key) {
  const auto* v = o.if_contains(key);
  if (!v) return std::nullopt;
  if (v->is_double()) return v->as_double();
  if (v->is_int64()) return static_cast<double>(v->as_int64());
  if (v->is_uint64()) return static_cast<double>(v->as_uint64());
  return std::nullopt;
}

std::string show(const boost::json::value& v) {
  if (v.is_null()) return "-";
  if (v.is_string()) return std::string(v.as_string());
  if (v.is_bool()) return v.as_bool() ? "yes" : "no";
  if (v.is_double()) return fmt::format("{}", v.as_double());
  if (v.is_array()) {
    std::string out;
    for (const auto& e : v.as_array()) out += (out.empty() ? "" : ", ") + show(e);
    return out.empty() ? "-" : out;
  }
  return json::dump(v);
}

namespace {

// Display width of UTF-8 text, counting code points (good enough for names and places).
std::size_t width(const std::string& s) {
  return static_cast<std::size_t>(std::count_if(s.begin(), s.end(), [](char c) { return (c & 0xc0) != 0x80; }));
}

}  // namespace

void print_table(const std::vector<std::string>& headers, const std::vector<std::vector<std::string>>& rows) {
  std::vector<std::size_t> w(headers.size());
  for (std::size_t i = 0; i < headers.size(); ++i) w[i] = width(headers[i]);
  for (const auto& r : rows)
    for (std::size_t i = 0; i < r.size() && i < w.size(); ++i) w[i] = std::max(w[i], width(r[i]));
  auto line = [&](const std::vector<std::string>& cells) {
    std::string out;
    for (std::size_t i = 0; i < cells.size(); ++i) {
      out += cells[i];
      if (i + 1 < cells.size()) out += std::string(w[i] - width(cells[i]) + 2, ' ');
    }
    std::cout << out << "\n";
  };
  line(headers);
  for (const auto& r : rows) line(r);
}

void print_fields(const boost::json::object& o, const std::vector<std::string>& keys) {
  std::size_t w = 0;
  for (const auto& k : keys) w = std::max(w, k.size());
  for (const auto& k : keys) {
    auto it = o.find(k);
    std::cout << k << ":" << std::string(w - k.size() + 1, ' ') << (it == o.end() ? "-" : show(it->value())) << "\n";
  }
}

int print_object(const Globals& g, const boost::json::value& v, const std::function<void(const boost::json::object&)>& human) {
  if (g.json) std::cout << json::dump(v) << "\n";
  else if (!g.quiet && v.is_object()) human(v.as_object());
  return exit_code::ok;
}

int print_list(const Globals& g, const boost::json::value& v, std::string_view key, const std::vector<std::string>& headers,
               const std::function<std::vector<std::string>(const boost::json::object&)>& row) {
  const auto& items = v.as_object().at(key).as_array();
  if (g.json) {
    for (const auto& item : items) std::cout << json::dump(item) << "\n";
    return exit_code::ok;
  }
  if (g.quiet) return exit_code::ok;
  std::vector<std::vector<std::string>> rows;
  for (const auto& item : items) rows.push_back(row(item.as_object()));
  print_table(headers, rows);
  return exit_code::ok;
}

std::string message_content(const boost::json::object& m) {
  std::string text = m.at("deleted").as_bool() ? "(deleted)" : show(m.at("text"));
  std::string tag;
  if (m.at("kind") == "location" && m.contains("location")) {
    const auto& l = m.at("location").as_object();
    tag = "[location " + show(l.at("lat")) + "," + show(l.at("lon")) +
          (l.at("label").is_null() ? "" : " " + show(l.at("label"))) + "]";
  } else if (m.at("kind") == "file" && !m.at("deleted").as_bool()) {
    const auto* f = m.if_contains("file");
    tag = f && f->is_object() ? "[file " + show(f->at("name")) + ", " + show(f->at("size")) + " bytes, id " + show(f->at("id")) + "]"
                              : std::string("[file expired]");
  }
  if (tag.empty()) return text;
  return text.empty() ? tag : tag + " " + text;
}

std::string translation_label(const boost::json::value& from, std::string_view to, const boost::json::value& pivot) {
  std::string route = from.is_string() ? std::string(from.as_string()) : std::string("?");
  if (pivot.is_string()) route += "→" + std::string(pivot.as_string());
  return route + "→" + std::string(to) + " (machine)";
}

std::vector<std::string> translation_lines(const boost::json::object& m) {
  std::vector<std::string> out;
  const auto* t = m.if_contains("translations");
  if (!t || !t->is_object()) return out;
  const boost::json::value none;
  const auto* from = m.if_contains("lang");
  for (const auto& [lang, tr] : t->as_object()) {
    if (!tr.is_object()) continue;
    const auto* pivot = tr.as_object().if_contains("pivot");
    out.push_back("↳ " + translation_label(from ? *from : none, lang, pivot ? *pivot : none) + ": " + show(tr.at("text")));
  }
  return out;
}

int run_call(const Globals& g, const std::function<Result<boost::json::value>(Client&)>& call,
             const std::function<int(const boost::json::value&)>& print) {
  Client client(find_socket(g), g.as);
  auto r = call(client);
  if (!r) return fail(g, r.error());
  return print(*r);
}

}  // namespace tourbus::cli
