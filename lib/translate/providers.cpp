#include "translate/providers.hpp"

#include <initializer_list>

#include <boost/json/parse.hpp>
#include <boost/json/serialize.hpp>

#include "channels/http.hpp"
#include "translate/language.hpp"

namespace tourbus::translate {
namespace {

using boost::json::object;

std::string trim_slash(std::string url) {
  while (!url.empty() && url.back() == '/') url.pop_back();
  return url;
}

// A failed call as one line: no answer, or the status and the start of the body.
std::string failure(const channels::HttpResponse& res) {
  if (res.status == 0) return res.curl_error.empty() ? "no answer" : res.curl_error;
  auto body = res.body.substr(0, 200);
  for (auto& c : body)
    if (c == '\n' || c == '\r') c = ' ';
  return "HTTP " + std::to_string(res.status) + (body.empty() ? "" : ": " + body);
}

const boost::json::value* field(const boost::json::value& v, std::string_view key) {
  auto* o = v.if_object();
  return o ? o->if_contains(key) : nullptr;
}

// One call to an engine with translate.timeout_ms: the answer's JSON, or why there is none.
struct Answer {
  long status = 0;
  std::optional<boost::json::value> json;
  std::string error;  // empty when the call answered 200 with JSON
  std::string body;
};

Answer exchange(channels::HttpRequest req, const config::Config& c, std::atomic<bool>& reachable) {
  req.timeout_ms = c.translate_timeout_ms;
  auto res = channels::perform(req, c);
  reachable = res.status != 0;
  Answer a{res.status, std::nullopt, {}, res.body};
  if (res.status != 200) {
    a.error = failure(res);
    return a;
  }
  boost::system::error_code ec;
  auto v = boost::json::parse(res.body, ec);
  if (ec) a.error = "unexpected answer: " + res.body.substr(0, 200);
  else a.json = std::move(v);
  return a;
}

// The string at `path` in an answer ("responseData", "translatedText"), as an attempt.
Attempt text_at(const Answer& a, std::initializer_list<std::string_view> path) {
  if (!a.json) return {false, {}, a.error};
  const boost::json::value* v = &*a.json;
  for (auto key : path) {
    v = key.empty() ? (v->is_array() && !v->as_array().empty() ? &v->as_array()[0] : nullptr) : field(*v, key);
    if (!v) break;
  }
  if (!v || !v->is_string()) return {false, {}, "unexpected answer: " + a.body.substr(0, 200)};
  return {true, std::string(v->as_string()), {}};
}

// An engine that lists its pairs: asked on first use, then every 10 minutes (PairCache).
class Listing : public Provider {
 public:
  bool supports(std::string_view from, std::string_view to, const config::Config& c) override {
    return cache_.get([&](auto& out) { return list(out, c); }, reachable_).contains({std::string(from), std::string(to)});
  }
  std::vector<std::string> pairs() override {
    std::vector<std::string> out;
    for (const auto& [a, b] : cache_.peek()) out.push_back(a + ">" + b);
    return out;
  }

 protected:
  // Fills `out` with the engine's pairs (primary subtags); false when it could not be asked.
  virtual bool list(std::set<std::pair<std::string, std::string>>& out, const config::Config& c) = 0;

 private:
  PairCache cache_;
};

class Apertium final : public Listing {
 public:
  explicit Apertium(std::string url) : url_(trim_slash(std::move(url))) {}
  std::string_view name() const override { return "apertium"; }

  Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) override {
    channels::HttpRequest req;
    req.url = url_ + "/translate";
    req.headers = {"Content-Type: application/x-www-form-urlencoded"};
    req.body = "q=" + channels::url_encode(text) + "&langpair=" + std::string(iso3(from)) + "%7C" +
               std::string(iso3(to)) + "&markUnknown=no";
    return text_at(exchange(std::move(req), c, reachable_), {"responseData", "translatedText"});
  }

 private:
  // GET /list?q=pairs: {"responseData": [{"sourceLanguage": "eng", "targetLanguage": "spa"}, ...]}
  bool list(std::set<std::pair<std::string, std::string>>& out, const config::Config& c) override {
    channels::HttpRequest req;
    req.method = "GET";
    req.url = url_ + "/list?q=pairs";
    auto a = exchange(std::move(req), c, reachable_);
    const boost::json::value* list = a.json ? field(*a.json, "responseData") : nullptr;
    if (!list || !list->is_array()) return false;
    for (const auto& p : list->as_array()) {
      auto* s = field(p, "sourceLanguage");
      auto* t = field(p, "targetLanguage");
      if (!s || !t || !s->is_string() || !t->is_string()) continue;
      auto from = iso1(std::string_view(s->as_string())), to = iso1(std::string_view(t->as_string()));
      if (!from.empty() && !to.empty()) out.emplace(std::string(from), std::string(to));
    }
    return true;
  }

  std::string url_;
};

class LibreTranslate final : public Listing {
 public:
  LibreTranslate(std::string url, std::string key) : url_(trim_slash(std::move(url))), key_(std::move(key)) {}
  std::string_view name() const override { return "libretranslate"; }

  Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) override {
    object body{{"q", text}, {"source", from}, {"target", to}, {"format", "text"}};
    if (!key_.empty()) body["api_key"] = key_;
    channels::HttpRequest req;
    req.url = url_ + "/translate";
    req.headers = {"Content-Type: application/json", "Accept: application/json"};
    req.body = boost::json::serialize(body);
    return text_at(exchange(std::move(req), c, reachable_), {"translatedText"});
  }

 private:
  // GET /languages: [{"code": "en", "targets": ["es", ...]}, ...]
  bool list(std::set<std::pair<std::string, std::string>>& out, const config::Config& c) override {
    channels::HttpRequest req;
    req.method = "GET";
    req.url = url_ + "/languages";
    auto a = exchange(std::move(req), c, reachable_);
    if (!a.json || !a.json->is_array()) return false;
    for (const auto& l : a.json->as_array()) {
      auto* code = field(l, "code");
      auto* targets = field(l, "targets");
      if (!code || !code->is_string() || !targets || !targets->is_array()) continue;
      auto from = primary(std::string_view(code->as_string()));
      for (const auto& t : targets->as_array()) {
        auto to = t.is_string() ? primary(std::string_view(t.as_string())) : std::string();
        if (!from.empty() && !to.empty() && to != from) out.emplace(from, to);
      }
    }
    return true;
  }

  std::string url_, key_;
};

// The languages of DeepL API v2 (source and target; English and Portuguese targets take a variant).
constexpr std::string_view kDeepl[] = {"bg", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hu", "id", "it",
                                       "ja", "ko", "lt", "lv", "nb", "nl", "pl", "pt", "ro", "ru", "sk", "sl", "sv",
                                       "tr", "uk", "zh", "ar"};

bool deepl_knows(std::string_view l) {
  for (auto k : kDeepl)
    if (k == l) return true;
  return false;
}

std::string upper(std::string_view s) {
  std::string out(s);
  for (auto& c : out) c = static_cast<char>(std::toupper(static_cast<unsigned char>(c)));
  return out;
}

class Deepl final : public Provider {
 public:
  Deepl(std::string url, std::string key) : url_(trim_slash(std::move(url))), key_(std::move(key)) {}
  std::string_view name() const override { return "deepl"; }

  bool supports(std::string_view from, std::string_view to, const config::Config&) override {
    return !key_.empty() && from != to && deepl_knows(from) && deepl_knows(to);
  }

  std::vector<std::string> pairs() override {
    if (key_.empty()) return {};
    return {"* between " + std::to_string(std::size(kDeepl)) + " languages"};
  }

  Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) override {
    std::string target = to == "en" ? "EN-GB" : to == "pt" ? "PT-PT" : upper(to);
    object body{{"text", boost::json::array{boost::json::value(text)}}, {"source_lang", upper(from)}, {"target_lang", target}};
    channels::HttpRequest req;
    req.url = url_ + "/v2/translate";
    req.headers = {"Content-Type: application/json", "Authorization: DeepL-Auth-Key " + key_};
    req.body = boost::json::serialize(body);
    auto a = exchange(std::move(req), c, reachable_);
    if (a.status == 456) return {false, {}, "HTTP 456: DeepL quota exceeded"};
    if (a.status == 403) return {false, {}, "HTTP 403: DeepL refused the key"};
    return text_at(a, {"translations", "", "text"});
  }

 private:
  std::string url_, key_;
};

}  // namespace

std::unique_ptr<Provider> make_apertium(std::string url) { return std::make_unique<Apertium>(std::move(url)); }
std::unique_ptr<Provider> make_libretranslate(std::string url, std::string key) {
  return std::make_unique<LibreTranslate>(std::move(url), std::move(key));
}
std::unique_ptr<Provider> make_deepl(std::string url, std::string key) {
  return std::make_unique<Deepl>(std::move(url), std::move(key));
}

}  // namespace tourbus::translate
