#include "translate/providers.hpp"

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

std::optional<boost::json::value> parse(const std::string& body) {
  boost::system::error_code ec;
  auto v = boost::json::parse(body, ec);
  if (ec) return std::nullopt;
  return v;
}

const boost::json::value* field(const boost::json::value& v, std::string_view key) {
  auto* o = v.if_object();
  return o ? o->if_contains(key) : nullptr;
}

std::vector<std::string> listed(PairCache& cache) {
  std::vector<std::string> out;
  for (const auto& [a, b] : cache.peek()) out.push_back(a + ">" + b);
  return out;
}

class Apertium final : public Provider {
 public:
  explicit Apertium(std::string url) : url_(trim_slash(std::move(url))) {}
  std::string_view name() const override { return "apertium"; }

  bool supports(std::string_view from, std::string_view to, const config::Config& c) override {
    return known(c).contains({std::string(from), std::string(to)});
  }

  std::vector<std::string> pairs() override { return listed(cache_); }

  Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) override {
    channels::HttpRequest req;
    req.method = "POST";
    req.url = url_ + "/translate";
    req.headers = {"Content-Type: application/x-www-form-urlencoded"};
    req.body = "q=" + channels::url_encode(text) + "&langpair=" + std::string(iso3(from)) + "%7C" +
               std::string(iso3(to)) + "&markUnknown=no";
    req.timeout_ms = c.translate_timeout_ms;
    auto res = channels::perform(req, c);
    reachable_ = res.status != 0;
    if (res.status != 200) return {false, {}, failure(res)};
    auto v = parse(res.body);
    const boost::json::value* data = v ? field(*v, "responseData") : nullptr;
    const boost::json::value* out = data ? field(*data, "translatedText") : nullptr;
    if (!out || !out->is_string()) return {false, {}, "unexpected answer: " + res.body.substr(0, 200)};
    return {true, std::string(out->as_string()), {}};
  }

 private:
  std::set<std::pair<std::string, std::string>> known(const config::Config& c) {
    return cache_.get(
        [&](auto& out) {
          channels::HttpRequest req;
          req.method = "GET";
          req.url = url_ + "/list?q=pairs";
          req.timeout_ms = c.translate_timeout_ms;
          auto res = channels::perform(req, c);
          if (res.status != 200) return false;
          auto v = parse(res.body);
          const boost::json::value* list = v ? field(*v, "responseData") : nullptr;
          if (!list || !list->is_array()) return false;
          for (const auto& p : list->as_array()) {
            auto* s = field(p, "sourceLanguage");
            auto* t = field(p, "targetLanguage");
            if (!s || !t || !s->is_string() || !t->is_string()) continue;
            auto a = iso1(std::string_view(s->as_string())), b = iso1(std::string_view(t->as_string()));
            if (!a.empty() && !b.empty()) out.emplace(std::string(a), std::string(b));
          }
          return true;
        },
        reachable_);
  }

  std::string url_;
  PairCache cache_;
};

class LibreTranslate final : public Provider {
 public:
  LibreTranslate(std::string url, std::string key) : url_(trim_slash(std::move(url))), key_(std::move(key)) {}
  std::string_view name() const override { return "libretranslate"; }

  bool supports(std::string_view from, std::string_view to, const config::Config& c) override {
    return known(c).contains({std::string(from), std::string(to)});
  }

  std::vector<std::string> pairs() override { return listed(cache_); }

  Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) override {
    object body{{"q", text}, {"source", from}, {"target", to}, {"format", "text"}};
    if (!key_.empty()) body["api_key"] = key_;
    channels::HttpRequest req;
    req.url = url_ + "/translate";
    req.headers = {"Content-Type: application/json", "Accept: application/json"};
    req.body = boost::json::serialize(body);
    req.timeout_ms = c.translate_timeout_ms;
    auto res = channels::perform(req, c);
    reachable_ = res.status != 0;
    if (res.status != 200) return {false, {}, failure(res)};
    auto v = parse(res.body);
    const boost::json::value* out = v ? field(*v, "translatedText") : nullptr;
    if (!out || !out->is_string()) return {false, {}, "unexpected answer: " + res.body.substr(0, 200)};
    return {true, std::string(out->as_string()), {}};
  }

 private:
  // GET /languages: [{"code": "en", "targets": ["es", ...]}, ...]
  std::set<std::pair<std::string, std::string>> known(const config::Config& c) {
    return cache_.get(
        [&](auto& out) {
          channels::HttpRequest req;
          req.method = "GET";
          req.url = url_ + "/languages";
          req.timeout_ms = c.translate_timeout_ms;
          auto res = channels::perform(req, c);
          if (res.status != 200) return false;
          auto v = parse(res.body);
          if (!v || !v->is_array()) return false;
          for (const auto& l : v->as_array()) {
            auto* code = field(l, "code");
            auto* targets = field(l, "targets");
            if (!code || !code->is_string() || !targets || !targets->is_array()) continue;
            auto a = primary(std::string_view(code->as_string()));
            for (const auto& t : targets->as_array())
              if (t.is_string() && !a.empty()) {
                auto b = primary(std::string_view(t.as_string()));
                if (!b.empty() && b != a) out.emplace(a, b);
              }
          }
          return true;
        },
        reachable_);
  }

  std::string url_, key_;
  PairCache cache_;
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
    req.timeout_ms = c.translate_timeout_ms;
    auto res = channels::perform(req, c);
    reachable_ = res.status != 0;
    if (res.status == 456) return {false, {}, "HTTP 456: DeepL quota exceeded"};
    if (res.status == 403) return {false, {}, "HTTP 403: DeepL refused the key"};
    if (res.status != 200) return {false, {}, failure(res)};
    auto v = parse(res.body);
    const boost::json::value* list = v ? field(*v, "translations") : nullptr;
    if (!list || !list->is_array() || list->as_array().empty()) return {false, {}, "unexpected answer: " + res.body.substr(0, 200)};
    auto* out = field(list->as_array()[0], "text");
    if (!out || !out->is_string()) return {false, {}, "unexpected answer: " + res.body.substr(0, 200)};
    return {true, std::string(out->as_string()), {}};
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
