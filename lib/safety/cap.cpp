// CAP 1.2 alerts: one table of elements drives the XML reader (libxml2, hardened), the writer
// (xmlTextWriter, in the schema's order), the JSON form and the rules shared by parse and validate.
#include "safety/cap.hpp"

#include <algorithm>
#include <array>
#include <cstring>
#include <memory>
#include <span>

#include <boost/json.hpp>
#include <libxml/parser.h>
#include <libxml/tree.h>
#include <libxml/xmlerror.h>
#include <libxml/xmlwriter.h>

namespace tourbus::safety::cap {
namespace {

namespace bj = boost::json;

// ---- The rules of one value --------------------------------------------------------------------

enum class Kind {
  text,         // free text: UTF-8 without control characters, kept as sent
  uri,          // like text, trimmed
  token,        // identifier, sender: no white space, commas, < or &
  enumeration,  // one of `values`
  time,         // CAP dateTime
  language,     // xs:language
};

struct Rule {
  Kind kind = Kind::text;
  std::span<const std::string_view> values = {};
};

constexpr std::string_view status_values[] = {"Actual", "Exercise", "System", "Test", "Draft"};
constexpr std::string_view msg_type_values[] = {"Alert", "Update", "Cancel", "Ack", "Error"};
constexpr std::string_view scope_values[] = {"Public", "Restricted", "Private"};
constexpr std::string_view category_values[] = {"Geo",    "Met",   "Safety",    "Security", "Rescue", "Fire",
                                                "Health", "Env",   "Transport", "Infra",    "CBRNE",  "Other"};
constexpr std::string_view response_type_values[] = {"Shelter", "Evacuate", "Prepare",  "Execute", "Avoid",
                                                     "Monitor", "Assess",   "AllClear", "None"};
constexpr std::string_view urgency_values[] = {"Immediate", "Expected", "Future", "Past", "Unknown"};
constexpr std::string_view severity_values[] = {"Extreme", "Severe", "Moderate", "Minor", "Unknown"};
constexpr std::string_view certainty_values[] = {"Observed", "Likely", "Possible", "Unlikely", "Unknown"};

constexpr Rule text_rule{Kind::text};
constexpr Rule category_rule{Kind::enumeration, category_values};
constexpr Rule language_rule{Kind::language};

bool trimmed(Kind k) { return k != Kind::text; }

bool is_space(char c) { return c == ' ' || c == '\t' || c == '\n' || c == '\r'; }
bool is_digit(char c) { return c >= '0' && c <= '9'; }
bool is_alpha(char c) { return (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z'); }
char lower(char c) { return (c >= 'A' && c <= 'Z') ? static_cast<char>(c - 'A' + 'a') : c; }

std::string_view trim(std::string_view s) {
  while (!s.empty() && is_space(s.front())) s.remove_prefix(1);
  while (!s.empty() && is_space(s.back())) s.remove_suffix(1);
  return s;
}

// Valid UTF-8 holding only characters XML 1.0 can carry (no C0 controls but tab, LF and CR).
bool xml_text(std::string_view s) {
  auto u = [&](std::size_t i) { return static_cast<unsigned char>(s[i]); };
  for (std::size_t i = 0; i < s.size();) {
    unsigned c = u(i);
    if (c < 0x80) {
      if (c < 0x20 && c != '\t' && c != '\n' && c != '\r') return false;
      ++i;
      continue;
    }
    std::size_t n = c >= 0xf0 ? 4 : c >= 0xe0 ? 3 : c >= 0xc2 ? 2 : 0;
    if (n == 0 || c > 0xf4 || i + n > s.size()) return false;
    unsigned cp = c & (0x7f >> n);
    for (std::size_t k = 1; k < n; ++k) {
      if ((u(i + k) & 0xc0) != 0x80) return false;
      cp = (cp << 6) | (u(i + k) & 0x3f);
    }
    if ((n == 3 && cp < 0x800) || (n == 4 && (cp < 0x10000 || cp > 0x10ffff)) || (cp >= 0xd800 && cp <= 0xdfff) ||
        cp == 0xfffe || cp == 0xffff)
      return false;
    i += n;
  }
  return true;
}

int two(std::string_view s, std::size_t at) { return (s[at] - '0') * 10 + (s[at + 1] - '0'); }

// YYYY-MM-DDThh:mm:ss+hh:mm (or -hh:mm), a real date and time.
bool cap_time(std::string_view s) {
  constexpr std::string_view shape = "dddd-dd-ddTdd:dd:dd+dd:dd";
  if (s.size() != shape.size()) return false;
  for (std::size_t i = 0; i < s.size(); ++i) {
    if (shape[i] == 'd' ? !is_digit(s[i]) : i == 19 ? (s[i] != '+' && s[i] != '-') : s[i] != shape[i]) return false;
  }
  int year = two(s, 0) * 100 + two(s, 2), month = two(s, 5), day = two(s, 8);
  if (year < 1 || month < 1 || month > 12 || day < 1) return false;
  constexpr int days[] = {31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
  bool leap = (year % 4 == 0 && year % 100 != 0) || year % 400 == 0;
  if (day > days[month - 1] + (month == 2 && leap ? 1 : 0)) return false;
  if (two(s, 11) > 23 || two(s, 14) > 59 || two(s, 17) > 59) return false;
  return two(s, 20) <= 14 && two(s, 23) <= 59;
}

// [a-zA-Z]{1,8}(-[a-zA-Z0-9]{1,8})*
bool language_tag(std::string_view s) {
  std::size_t i = 0, first = 0;
  while (i < s.size() && is_alpha(s[i])) ++i;
  if (i == 0 || i > 8) return false;
  while (i < s.size()) {
    if (s[i++] != '-') return false;
    first = i;
    while (i < s.size() && (is_alpha(s[i]) || is_digit(s[i]))) ++i;
    if (i == first || i - first > 8) return false;
  }
  return true;
}

std::string one_of(std::span<const std::string_view> values) {
  std::string out;
  for (std::size_t i = 0; i < values.size(); ++i) {
    if (i > 0) out += i + 1 == values.size() ? " or " : ", ";
    out += values[i];
  }
  return out;
}

// What is wrong with a non-empty value, as the end of a sentence whose subject the caller writes.
std::optional<std::string> problem(const Rule& rule, std::string_view v) {
  if (!xml_text(v)) return "must be UTF-8 text without control characters";
  switch (rule.kind) {
    case Kind::text:
    case Kind::uri:
      return std::nullopt;
    case Kind::token:
      if (std::ranges::any_of(v, [](char c) { return is_space(c) || c == ',' || c == '<' || c == '&'; }))
        return "must not contain white space, commas, < or &";
      return std::nullopt;
    case Kind::enumeration:
      if (std::ranges::find(rule.values, v) == rule.values.end()) return "must be " + one_of(rule.values);
      return std::nullopt;
    case Kind::time:
      if (!cap_time(v))
        return "must be a date and time like 2026-05-04T16:00:00-07:00 (YYYY-MM-DDThh:mm:ss and a +hh:mm or -hh:mm "
               "offset; CAP does not allow Z)";
      return std::nullopt;
    case Kind::language:
      if (!language_tag(v)) return "must be a language tag like en-US";
      return std::nullopt;
  }
  return std::nullopt;
}

// ---- The elements ------------------------------------------------------------------------------

struct AlertField {
  std::string_view name;
  std::string Alert::*member;
  Rule rule;
  bool required;
};

// In the schema's order (source, code and incidents are not held).
const std::array<AlertField, 10> alert_fields{{
    {"identifier", &Alert::identifier, {Kind::token}, true},
    {"sender", &Alert::sender, {Kind::token}, true},
    {"sent", &Alert::sent, {Kind::time}, true},
    {"status", &Alert::status, {Kind::enumeration, status_values}, true},
    {"msgType", &Alert::msg_type, {Kind::enumeration, msg_type_values}, true},
    {"scope", &Alert::scope, {Kind::enumeration, scope_values}, true},
    {"restriction", &Alert::restriction, {Kind::text}, false},
    {"addresses", &Alert::addresses, {Kind::text}, false},
    {"note", &Alert::note, {Kind::text}, false},
    {"references", &Alert::references, {Kind::text}, false},
}};

// An info element held as a string (`text`) or an optional time (`time`).
struct InfoField {
  std::string_view name;
  std::string Info::*text;
  std::optional<std::string> Info::*time;
  Rule rule;
  bool required;
};

// After language and category, in the schema's order (audience, eventCode, parameter and resource
// are not held).
const std::array<InfoField, 14> info_fields{{
    {"event", &Info::event, nullptr, {Kind::text}, true},
    {"responseType", &Info::response_type, nullptr, {Kind::enumeration, response_type_values}, false},
    {"urgency", &Info::urgency, nullptr, {Kind::enumeration, urgency_values}, true},
    {"severity", &Info::severity, nullptr, {Kind::enumeration, severity_values}, true},
    {"certainty", &Info::certainty, nullptr, {Kind::enumeration, certainty_values}, true},
    {"effective", nullptr, &Info::effective, {Kind::time}, false},
    {"onset", nullptr, &Info::onset, {Kind::time}, false},
    {"expires", nullptr, &Info::expires, {Kind::time}, false},
    {"senderName", &Info::sender_name, nullptr, {Kind::text}, false},
    {"headline", &Info::headline, nullptr, {Kind::text}, false},
    {"description", &Info::description, nullptr, {Kind::text}, false},
    {"instruction", &Info::instruction, nullptr, {Kind::text}, false},
    {"web", &Info::web, nullptr, {Kind::uri}, false},
    {"contact", &Info::contact, nullptr, {Kind::text}, false},
}};

const std::string* info_value(const Info& info, const InfoField& f) {
  if (f.text) return &(info.*f.text);
  const auto& t = info.*f.time;
  return t ? &*t : nullptr;
}

// A rule that ties two fields together, broken: `field` has `value`, which needs `needs`.
struct Missing {
  std::string_view field, needs, why;
  std::string value;

  // `name` writes a field's name as the caller does ("<msgType>" or "msgType").
  template <class Name>
  std::string message(Name name) const {
    return name(field) + " " + value + " needs " + name(needs) + std::string(why);
  }
};

std::optional<Missing> missing(const Alert& a) {
  if (a.msg_type == "Update" && a.references.empty())
    return Missing{"msgType", "references", " (the alerts it updates)", a.msg_type};
  if (a.msg_type == "Cancel" && a.references.empty())
    return Missing{"msgType", "references", " (the alerts it cancels)", a.msg_type};
  if (a.scope == "Private" && a.addresses.empty()) return Missing{"scope", "addresses", "", a.scope};
  return std::nullopt;
}

std::string after_prefix(const std::string& message, std::string_view prefix) {
  return message.starts_with(prefix) ? message.substr(prefix.size()) : message;
}

// ---- XML reading -------------------------------------------------------------------------------

Error at_line(long line, const std::string& what) {
  return Error(Code::invalid_argument, "line " + std::to_string(line) + ": " + what, "cap");
}

void init_libxml() {
  static const bool done = (xmlInitParser(), true);
  (void)done;
}

struct ParseState {
  long doctype_line = 0;
};

// A DOCTYPE stops the parse before anything in it is read.
void on_doctype(void* ctx, const xmlChar*, const xmlChar*, const xmlChar*) {
  auto* ctxt = static_cast<xmlParserCtxtPtr>(ctx);
  auto* state = static_cast<ParseState*>(ctxt->_private);
  state->doctype_line = ctxt->input ? ctxt->input->line : 1;
  xmlStopParser(ctxt);
}

bool is_cap(const xmlNode* n) {
  return n->type == XML_ELEMENT_NODE && n->ns && n->ns->href &&
         ns == reinterpret_cast<const char*>(n->ns->href);
}

std::string_view name_of(const xmlNode* n) { return reinterpret_cast<const char*>(n->name); }
long line_of(const xmlNode* n) { return xmlGetLineNo(n); }

std::string content(const xmlNode* n) {
  xmlChar* c = xmlNodeGetContent(n);
  std::string out = c ? reinterpret_cast<const char*>(c) : "";
  xmlFree(c);
  return out;
}

// The CAP children of an element, in document order.
std::vector<const xmlNode*> children(const xmlNode* parent) {
  std::vector<const xmlNode*> out;
  for (const xmlNode* c = parent->children; c; c = c->next)
    if (is_cap(c)) out.push_back(c);
  return out;
}

std::string tag(std::string_view name) { return "<" + std::string(name) + ">"; }

// The value of a simple element, trimmed as its rule says and checked.
Result<std::string> read_value(const xmlNode* n, const Rule& rule) {
  std::string v = content(n);
  if (trimmed(rule.kind)) v = std::string(trim(v));
  if (v.empty()) return v;
  if (auto p = problem(rule, v)) return at_line(line_of(n), tag(name_of(n)) + " " + *p);
  return v;
}

Error repeated(const xmlNode* n) { return at_line(line_of(n), tag(name_of(n)) + " may appear only once"); }

Status require(const xmlNode* parent, std::string_view name, bool present, const xmlNode* element) {
  if (!element) return at_line(line_of(parent), tag(name_of(parent)) + " has no " + tag(name));
  if (!present) return at_line(line_of(element), tag(name) + " is empty");
  return {};
}

Result<geo::Area> read_area(const xmlNode* node) {
  geo::Area area;
  const xmlNode* desc = nullptr;
  for (const xmlNode* c : children(node)) {
    auto name = name_of(c);
    if (name == "areaDesc") {
      if (desc) return repeated(c);
      desc = c;
      auto v = read_value(c, text_rule);
      if (!v) return v.error();
      area.desc = std::move(*v);
    } else if (name == "polygon" || name == "circle") {
      std::string text(trim(content(c)));
      std::string prefix = tag(name) + ": ";
      if (!xml_text(text)) return at_line(line_of(c), tag(name) + " must be UTF-8 text without control characters");
      if (name == "polygon") {
        auto p = geo::parse_polygon(text);
        if (!p) return at_line(line_of(c), prefix + after_prefix(p.error().message, "polygon: "));
        if (auto s = geo::check(*p); !s) return at_line(line_of(c), prefix + s.error().message);
        area.polygons.push_back(std::move(*p));
      } else {
        auto circle = geo::parse_circle(text);
        if (!circle) return at_line(line_of(c), prefix + after_prefix(circle.error().message, "circle: "));
        if (auto s = geo::check(*circle); !s) return at_line(line_of(c), prefix + s.error().message);
        area.circles.push_back(*circle);
      }
    }  // geocode, altitude, ceiling: not held
  }
  if (auto s = require(node, "areaDesc", !trim(area.desc).empty(), desc); !s) return s.error();
  return area;
}

Result<Info> read_info(const xmlNode* node) {
  Info info;
  std::array<const xmlNode*, info_fields.size()> found{};
  const xmlNode *language = nullptr, *first_category = nullptr;
  for (const xmlNode* c : children(node)) {
    auto name = name_of(c);
    if (name == "language") {
      if (language) return repeated(c);
      language = c;
      auto v = read_value(c, language_rule);
      if (!v) return v.error();
      if (v->empty()) return at_line(line_of(c), "<language> is empty");
      info.language = std::move(*v);
    } else if (name == "category") {
      auto v = read_value(c, category_rule);
      if (!v) return v.error();
      if (v->empty()) return at_line(line_of(c), "<category> is empty");
      if (!first_category) first_category = c;
      info.categories.push_back(std::move(*v));
    } else if (name == "area") {
      auto area = read_area(c);
      if (!area) return area.error();
      info.areas.push_back(std::move(*area));
    } else if (auto f = std::ranges::find(info_fields, name, &InfoField::name); f != info_fields.end()) {
      auto& slot = found[static_cast<std::size_t>(f - info_fields.begin())];
      bool repeatable = name == "responseType";  // CAP allows several; the first is kept
      if (slot && !repeatable) return repeated(c);
      auto v = read_value(c, f->rule);
      if (!v) return v.error();
      if (slot) continue;
      slot = c;
      if (f->text) {
        info.*f->text = std::move(*v);
      } else {
        if (v->empty()) return at_line(line_of(c), tag(name) + " is empty");
        info.*f->time = std::move(*v);
      }
    }  // audience, eventCode, parameter, resource: not held
  }
  if (!first_category) return at_line(line_of(node), "<info> has no <category>");
  for (std::size_t i = 0; i < info_fields.size(); ++i) {
    const auto& f = info_fields[i];
    if (!f.required) continue;
    const std::string* v = info_value(info, f);
    if (auto s = require(node, f.name, v && !trim(*v).empty(), found[i]); !s) return s.error();
  }
  return info;
}

Result<Alert> read_alert(const xmlNode* root) {
  Alert alert;
  std::array<const xmlNode*, alert_fields.size()> found{};
  for (const xmlNode* c : children(root)) {
    auto name = name_of(c);
    if (name == "info") {
      auto info = read_info(c);
      if (!info) return info.error();
      alert.infos.push_back(std::move(*info));
    } else if (auto f = std::ranges::find(alert_fields, name, &AlertField::name); f != alert_fields.end()) {
      auto& slot = found[static_cast<std::size_t>(f - alert_fields.begin())];
      if (slot) return repeated(c);
      slot = c;
      auto v = read_value(c, f->rule);
      if (!v) return v.error();
      alert.*f->member = std::move(*v);
    }  // source, code, incidents, a Signature: not held
  }
  for (std::size_t i = 0; i < alert_fields.size(); ++i) {
    const auto& f = alert_fields[i];
    if (f.required)
      if (auto s = require(root, f.name, !trim(alert.*f.member).empty(), found[i]); !s) return s.error();
  }
  if (auto m = missing(alert)) {
    auto i = std::ranges::find(alert_fields, m->field, &AlertField::name) - alert_fields.begin();
    return at_line(line_of(found[static_cast<std::size_t>(i)]), m->message(tag));  // a required field: found
  }
  return alert;
}

struct CtxtFree {
  void operator()(xmlParserCtxt* c) const { xmlFreeParserCtxt(c); }
};
struct DocFree {
  void operator()(xmlDoc* d) const { xmlFreeDoc(d); }
};

// ---- XML writing -------------------------------------------------------------------------------

const xmlChar* x(std::string_view s) { return reinterpret_cast<const xmlChar*>(s.data()); }

class Writer {
 public:
  Writer() : buf_(xmlBufferCreate()), w_(xmlNewTextWriterMemory(buf_, 0)) {
    xmlTextWriterSetIndent(w_, 1);
    xmlTextWriterSetIndentString(w_, x("  "));
  }
  ~Writer() {
    if (w_) xmlFreeTextWriter(w_);
    xmlBufferFree(buf_);
  }
  Writer(const Writer&) = delete;
  Writer& operator=(const Writer&) = delete;

  xmlTextWriterPtr get() { return w_; }
  // Names are literals from the tables (NUL-terminated); values are copied to terminate them.
  void element(std::string_view name, const std::string& value) { xmlTextWriterWriteElement(w_, x(name), x(value)); }
  void optional(std::string_view name, const std::string& value) {
    if (!value.empty()) element(name, value);
  }
  void start(std::string_view name) { xmlTextWriterStartElement(w_, x(name)); }
  void end() { xmlTextWriterEndElement(w_); }

  std::string finish() {
    xmlTextWriterEndDocument(w_);
    xmlFreeTextWriter(w_);  // flushes into buf_
    w_ = nullptr;
    return std::string(reinterpret_cast<const char*>(xmlBufferContent(buf_)), static_cast<std::size_t>(xmlBufferLength(buf_)));
  }

 private:
  xmlBufferPtr buf_;
  xmlTextWriterPtr w_;
};

// ---- JSON --------------------------------------------------------------------------------------

Error json_type(const std::string& where, std::string_view what) {
  return Error(Code::invalid_json, where + " must be " + std::string(what), "alert");
}
Error json_unknown(const std::string& where) { return Error(Code::unknown_field, where + " is not a CAP field", "alert"); }

// A string or null/absent (empty).
Result<std::string> json_string(const bj::value& v, const std::string& where) {
  if (v.is_null()) return std::string();
  if (!v.is_string()) return json_type(where, "a string");
  return std::string(v.get_string());
}

// An array of strings, or null/absent (empty).
Result<std::vector<std::string>> json_strings(const bj::value& v, const std::string& where) {
  std::vector<std::string> out;
  if (v.is_null()) return out;
  if (!v.is_array()) return json_type(where, "an array of strings");
  for (const auto& item : v.get_array()) {
    if (!item.is_string()) return json_type(where, "an array of strings");
    out.emplace_back(item.get_string());
  }
  return out;
}

Result<const bj::array*> json_objects(const bj::value& v, const std::string& where) {
  static const bj::array empty;
  if (v.is_null()) return &empty;
  if (!v.is_array() || !std::ranges::all_of(v.get_array(), [](const bj::value& i) { return i.is_object(); }))
    return json_type(where, "an array of objects");
  return &v.get_array();
}

Result<geo::Area> area_from_json(const bj::object& o, const std::string& at) {
  geo::Area area;
  for (const auto& [key, v] : o) {
    std::string where = at + std::string(key);
    if (key == "areaDesc") {
      auto s = json_string(v, where);
      if (!s) return s.error();
      area.desc = std::move(*s);
    } else if (key == "polygon" || key == "circle") {
      auto texts = json_strings(v, where);
      if (!texts) return texts.error();
      for (std::size_t i = 0; i < texts->size(); ++i) {
        auto here = where + "[" + std::to_string(i) + "]: ";
        if (key == "polygon") {
          auto p = geo::parse_polygon((*texts)[i]);
          if (!p) return Error(Code::invalid_argument, here + after_prefix(p.error().message, "polygon: "), "alert");
          area.polygons.push_back(std::move(*p));
        } else {
          auto c = geo::parse_circle((*texts)[i]);
          if (!c) return Error(Code::invalid_argument, here + after_prefix(c.error().message, "circle: "), "alert");
          area.circles.push_back(*c);
        }
      }
    } else {
      return json_unknown(where);
    }
  }
  return area;
}

Result<Info> info_from_json(const bj::object& o, const std::string& at) {
  Info info;
  for (const auto& [key, v] : o) {
    std::string where = at + std::string(key);
    if (key == "language") {
      auto s = json_string(v, where);
      if (!s) return s.error();
      if (!v.is_null()) info.language = std::move(*s);
    } else if (key == "category") {
      auto s = json_strings(v, where);
      if (!s) return s.error();
      info.categories = std::move(*s);
    } else if (key == "area") {
      auto areas = json_objects(v, where);
      if (!areas) return areas.error();
      for (std::size_t i = 0; i < (*areas)->size(); ++i) {
        auto area = area_from_json((**areas)[i].get_object(), where + "[" + std::to_string(i) + "].");
        if (!area) return area.error();
        info.areas.push_back(std::move(*area));
      }
    } else if (auto f = std::ranges::find(info_fields, std::string_view(key), &InfoField::name); f != info_fields.end()) {
      auto s = json_string(v, where);
      if (!s) return s.error();
      if (f->text)
        info.*f->text = std::move(*s);
      else if (!v.is_null())
        info.*f->time = std::move(*s);
    } else {
      return json_unknown(where);
    }
  }
  return info;
}

// ---- pick --------------------------------------------------------------------------------------

// Case-insensitive, '_' read as '-' ("pt_BR" is "pt-BR").
bool same_tag(std::string_view a, std::string_view b) {
  auto norm = [](char c) { return c == '_' ? '-' : lower(c); };
  return a.size() == b.size() && std::equal(a.begin(), a.end(), b.begin(), [&](char p, char q) { return norm(p) == norm(q); });
}

std::string_view primary(std::string_view tag) { return tag.substr(0, std::min(tag.find('-'), tag.find('_'))); }

const Info* find_language(const Alert& alert, std::string_view language) {
  language = trim(language);
  if (language.empty()) return nullptr;
  for (const auto& i : alert.infos)
    if (same_tag(i.language, language)) return &i;
  auto p = primary(language);
  for (const auto& i : alert.infos)
    if (same_tag(i.language, p)) return &i;
  for (const auto& i : alert.infos)
    if (same_tag(primary(i.language), p)) return &i;
  return nullptr;
}

}  // namespace

Result<Alert> parse(std::string_view xml) {
  if (xml.size() > max_document_bytes)
    return Error(Code::payload_too_large,
                 "a CAP document may have at most 1 MiB (1048576 bytes), this one has " + std::to_string(xml.size()),
                 "cap");
  init_libxml();
  std::unique_ptr<xmlParserCtxt, CtxtFree> ctxt(xmlNewParserCtxt());
  if (!ctxt) return Error(Code::internal, "cap: out of memory", "cap");
  ParseState state;
  ctxt->_private = &state;
  ctxt->sax->internalSubset = on_doctype;
  // No XML_PARSE_NOENT (entities stay unexpanded), no DTDLOAD / DTDATTR / DTDVALID, no XINCLUDE.
  constexpr int options =
      XML_PARSE_NONET | XML_PARSE_NOERROR | XML_PARSE_NOWARNING | XML_PARSE_NOCDATA | XML_PARSE_BIG_LINES;
  std::unique_ptr<xmlDoc, DocFree> doc(
      xmlCtxtReadMemory(ctxt.get(), xml.data(), static_cast<int>(xml.size()), nullptr, nullptr, options));
  if (state.doctype_line)
    return at_line(state.doctype_line, "a DOCTYPE is not allowed in a CAP document (DTDs and entities are refused)");
  if (!doc || !ctxt->wellFormed) {
    const xmlError* e = xmlCtxtGetLastError(ctxt.get());
    std::string message = e && e->message ? std::string(trim(e->message)) : "not well-formed";
    return at_line(e && e->line > 0 ? e->line : 1, "malformed XML: " + message);
  }
  const xmlNode* root = xmlDocGetRootElement(doc.get());
  if (!root) return at_line(1, "malformed XML: no root element");
  if (name_of(root) != "alert" || !is_cap(root)) {
    std::string found = root->ns && root->ns->href ? reinterpret_cast<const char*>(root->ns->href) : "";
    return at_line(line_of(root), "the root element must be <alert> in the namespace " + std::string(ns) + ", found <" +
                                      std::string(name_of(root)) + ">" +
                                      (found.empty() ? " without a namespace" : " in " + found));
  }
  return read_alert(root);
}

std::string to_xml(const Alert& alert) {
  init_libxml();
  Writer w;
  xmlTextWriterStartDocument(w.get(), nullptr, "UTF-8", nullptr);
  xmlTextWriterStartElementNS(w.get(), nullptr, x("alert"), x(ns));
  for (const auto& f : alert_fields) {
    if (f.required)
      w.element(f.name, alert.*f.member);
    else
      w.optional(f.name, alert.*f.member);
  }
  for (const auto& info : alert.infos) {
    w.start("info");
    w.optional("language", info.language);
    for (const auto& c : info.categories) w.element("category", c);
    for (const auto& f : info_fields) {
      const std::string* v = info_value(info, f);
      if (v && (f.required || !v->empty())) w.element(f.name, *v);
    }
    for (const auto& area : info.areas) {
      w.start("area");
      w.element("areaDesc", area.desc);
      for (const auto& p : area.polygons) w.element("polygon", geo::format_polygon(p));
      for (const auto& c : area.circles) w.element("circle", geo::format_circle(c));
      w.end();
    }
    w.end();
  }
  return w.finish();
}

Status validate(const Alert& alert) {
  auto fail = [](std::string message) { return Error(Code::invalid_argument, std::move(message), "alert"); };
  auto check = [&](const std::string& where, const Rule& rule, const std::string& value, bool required) -> Status {
    std::string_view v = trimmed(rule.kind) ? trim(value) : std::string_view(value);
    if (trim(v).empty()) return required ? Status(fail(where + " is required")) : Status();
    if (v.size() != value.size()) return fail(where + " must not start or end with white space");
    if (auto p = problem(rule, v)) return fail(where + " " + *p);
    return {};
  };
  for (const auto& f : alert_fields)
    if (auto s = check(std::string(f.name), f.rule, alert.*f.member, f.required); !s) return s;
  for (std::size_t i = 0; i < alert.infos.size(); ++i) {
    const auto& info = alert.infos[i];
    std::string at = "info[" + std::to_string(i) + "].";
    if (auto s = check(at + "language", language_rule, info.language, true); !s) return s;
    if (info.categories.empty()) return fail(at + "category is required");
    for (std::size_t k = 0; k < info.categories.size(); ++k)
      if (auto s = check(at + "category[" + std::to_string(k) + "]", category_rule, info.categories[k], true); !s)
        return s;
    for (const auto& f : info_fields) {
      const std::string* v = info_value(info, f);
      if (!v) continue;  // an absent time
      if (f.time && v->empty()) return fail(at + std::string(f.name) + " " + *problem(f.rule, *v));
      if (auto s = check(at + std::string(f.name), f.rule, *v, f.required); !s) return s;
    }
    for (std::size_t j = 0; j < info.areas.size(); ++j) {
      const auto& area = info.areas[j];
      std::string here = at + "area[" + std::to_string(j) + "].";
      if (auto s = check(here + "areaDesc", text_rule, area.desc, true); !s) return s;
      for (std::size_t k = 0; k < area.polygons.size(); ++k)
        if (auto s = geo::check(area.polygons[k]); !s)
          return fail(here + "polygon[" + std::to_string(k) + "]: " + s.error().message);
      for (std::size_t k = 0; k < area.circles.size(); ++k)
        if (auto s = geo::check(area.circles[k]); !s)
          return fail(here + "circle[" + std::to_string(k) + "]: " + s.error().message);
    }
  }
  if (auto m = missing(alert)) return fail(m->message([](std::string_view name) { return std::string(name); }));
  return {};
}

bj::value to_json(const Alert& alert) {
  bj::object o;
  for (const auto& f : alert_fields)
    if (f.required || !(alert.*f.member).empty()) o[f.name] = alert.*f.member;
  bj::array infos;
  for (const auto& info : alert.infos) {
    bj::object i;
    i["language"] = info.language;
    bj::array categories;
    for (const auto& c : info.categories) categories.emplace_back(c);
    i["category"] = std::move(categories);
    for (const auto& f : info_fields) {
      const std::string* v = info_value(info, f);
      if (v && (f.required || f.time || !v->empty())) i[f.name] = *v;
    }
    bj::array areas;
    for (const auto& area : info.areas) {
      bj::object a;
      a["areaDesc"] = area.desc;
      bj::array polygons, circles;
      for (const auto& p : area.polygons) polygons.emplace_back(geo::format_polygon(p));
      for (const auto& c : area.circles) circles.emplace_back(geo::format_circle(c));
      a["polygon"] = std::move(polygons);
      a["circle"] = std::move(circles);
      areas.emplace_back(std::move(a));
    }
    i["area"] = std::move(areas);
    infos.emplace_back(std::move(i));
  }
  o["info"] = std::move(infos);
  return o;
}

Result<Alert> from_json(const bj::value& json) {
  if (!json.is_object()) return json_type("alert", "an object");
  Alert alert;
  for (const auto& [key, v] : json.get_object()) {
    std::string where(key);
    if (key == "info") {
      auto infos = json_objects(v, where);
      if (!infos) return infos.error();
      for (std::size_t i = 0; i < (*infos)->size(); ++i) {
        auto info = info_from_json((**infos)[i].get_object(), "info[" + std::to_string(i) + "].");
        if (!info) return info.error();
        alert.infos.push_back(std::move(*info));
      }
    } else if (auto f = std::ranges::find(alert_fields, std::string_view(key), &AlertField::name); f != alert_fields.end()) {
      auto s = json_string(v, where);
      if (!s) return s.error();
      alert.*f->member = std::move(*s);
    } else {
      return json_unknown(where);
    }
  }
  return alert;
}

const Info& pick(const Alert& alert, std::string_view language, std::string_view fallback) {
  if (const Info* i = find_language(alert, language)) return *i;
  if (const Info* i = find_language(alert, fallback)) return *i;
  return alert.infos.front();
}

}  // namespace tourbus::safety::cap
