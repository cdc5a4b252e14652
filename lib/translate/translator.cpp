#include "translate/translator.hpp"

#include <algorithm>

#include "core/time.hpp"
#include "translate/protect.hpp"

namespace tourbus::translate {

struct Translator::Engine {
  std::unique_ptr<Provider> provider;
  std::mutex mutex;
  int failures = 0;             // in a row
  std::int64_t skip_until = 0;  // steady ms
  std::uint64_t ok = 0, failed = 0;
  std::string last_error;
  std::int64_t last_error_at = 0;
};

// The engines one config names, made once and kept until the config changes them.
struct Translator::Engines {
  std::string signature;  // the keys they were made from
  std::vector<std::unique_ptr<Engine>> list;
  Engine* find(std::string_view name) {
    for (auto& e : list)
      if (e->provider->name() == name) return e.get();
    return nullptr;
  }
};

namespace {

std::int64_t steady_ms() {
  return std::chrono::duration_cast<std::chrono::milliseconds>(std::chrono::steady_clock::now().time_since_epoch()).count();
}

std::string trim(std::string_view s) {
  while (!s.empty() && s.front() == ' ') s.remove_prefix(1);
  while (!s.empty() && s.back() == ' ') s.remove_suffix(1);
  return std::string(s);
}

}  // namespace

std::vector<std::string> engines_for(const config::Config& c, std::string_view from, std::string_view to) {
  // The most specific route wins: from>to, then from>*, then *>to, then *>*.
  int best = -1;
  std::string_view chosen;
  for (auto entry : config::split_list(c.translate_routes)) {
    auto eq = entry.find('=');
    auto gt = entry.find('>');
    if (eq == std::string_view::npos || gt == std::string_view::npos || gt > eq) continue;
    auto a = trim(entry.substr(0, gt)), b = trim(entry.substr(gt + 1, eq - gt - 1));
    if ((a != from && a != "*") || (b != to && b != "*")) continue;
    int rank = (a != "*") * 2 + (b != "*");
    if (rank > best) {
      best = rank;
      chosen = entry.substr(eq + 1);
    }
  }
  std::vector<std::string> out;
  if (best < 0) {
    for (auto name : config::split_list(c.translate_providers)) out.emplace_back(name);
    return out;
  }
  while (!chosen.empty()) {
    auto bar = chosen.find('|');
    auto name = trim(chosen.substr(0, bar));
    if (!name.empty()) out.push_back(name);
    if (bar == std::string_view::npos) break;
    chosen.remove_prefix(bar + 1);
  }
  return out;
}

Translator::Translator(config::Holder& config) : config_(config) {}
Translator::~Translator() = default;

bool Translator::enabled() const {
  auto c = config_.get();
  return !config::split_list(c->translate_providers).empty() || !config::split_list(c->translate_routes).empty();
}

std::shared_ptr<Translator::Engines> Translator::engines(const config::Config& c) {
  auto signature = c.translate_apertium_url + '\n' + c.translate_libretranslate_url + '\n' + c.translate_libretranslate_key +
                   '\n' + c.translate_deepl_url + '\n' + c.translate_deepl_key;
  std::lock_guard lock(mutex_);
  if (!engines_ || engines_->signature != signature) {
    auto e = std::make_shared<Engines>();
    e->signature = std::move(signature);
    auto add = [&](std::unique_ptr<Provider> p) {
      auto engine = std::make_unique<Engine>();
      engine->provider = std::move(p);
      e->list.push_back(std::move(engine));
    };
    if (!c.translate_apertium_url.empty()) add(make_apertium(c.translate_apertium_url));
    if (!c.translate_libretranslate_url.empty()) add(make_libretranslate(c.translate_libretranslate_url, c.translate_libretranslate_key));
    if (!c.translate_deepl_key.empty()) add(make_deepl(c.translate_deepl_url, c.translate_deepl_key));
    engines_ = std::move(e);
  }
  return engines_;
}

std::optional<Outcome> Translator::cached(const std::string& key) {
  std::lock_guard lock(mutex_);
  auto it = index_.find(key);
  if (it == index_.end()) return std::nullopt;
  lru_.splice(lru_.begin(), lru_, it->second);
  return it->second->second;
}

void Translator::remember(const std::string& key, const Outcome& o, std::size_t capacity) {
  if (capacity == 0) return;
  std::lock_guard lock(mutex_);
  if (auto it = index_.find(key); it != index_.end()) {
    it->second->second = o;
    lru_.splice(lru_.begin(), lru_, it->second);
    return;
  }
  lru_.emplace_front(key, o);
  index_[key] = lru_.begin();
  while (lru_.size() > capacity) {
    index_.erase(lru_.back().first);
    lru_.pop_back();
  }
}

Outcome Translator::translate(const std::string& text, std::string_view from, std::string_view to,
                              std::span<const std::string> terms) {
  auto config = config_.get();
  const auto& c = *config;
  auto guarded = protect(text, terms);
  auto key = std::string(from) + '>' + std::string(to) + '\n' + guarded.text;
  if (auto hit = cached(key)) {
    if (auto back = restore(hit->text, guarded.spans)) {
      ++counters_.cache_hits;
      hit->text = std::move(*back);
      hit->cached = true;
      return *hit;
    }
  }
  auto engines = this->engines(c);
  Outcome out;
  bool any_route = false, unknown = false;
  std::string errors;
  auto note = [&](std::string_view name, const std::string& why) {
    if (!errors.empty()) errors += "; ";
    errors += std::string(name) + ": " + why;
  };
  for (const auto& name : engines_for(c, from, to)) {
    auto* engine = engines->find(name);
    if (!engine) continue;  // named but not configured (no URL or key)
    auto& p = *engine->provider;
    // Direct first, then a chain through each pivot the engine has both legs of.
    std::vector<std::string> vias{""};
    bool direct = p.supports(from, to, c);
    if (!p.reachable()) {
      unknown = true;
      note(name, "unreachable");
      continue;
    }
    if (!direct) vias.clear();
    for (auto v : config::split_list(c.translate_pivots)) {
      if (direct) break;
      if (v != from && v != to && p.supports(from, v, c) && p.supports(v, to, c)) vias.emplace_back(v);
    }
    if (vias.empty()) continue;
    any_route = true;
    {
      std::lock_guard lock(engine->mutex);
      if (steady_ms() < engine->skip_until) {
        note(name, "skipped after failing (" + engine->last_error + ")");
        continue;
      }
    }
    for (const auto& via : vias) {
      // A chain's first leg is an ordinary translation into the pivot: from the cache when that
      // language was just asked for (a tour chat in Spanish and Italian asks en>es once).
      Attempt a;
      auto leg_key = std::string(from) + '>' + via + '\n' + guarded.text;
      if (auto hit = via.empty() ? std::nullopt : cached(leg_key); hit && hit->provider == name) {
        a = Attempt{true, hit->text, {}};
      } else {
        a = p.translate(guarded.text, from, via.empty() ? to : std::string_view(via), c);
        if (a.ok && !via.empty())
          remember(leg_key, Outcome{Outcome::Kind::translated, a.text, std::string(name), {}, {}, false},
                   static_cast<std::size_t>(c.translate_cache_entries));
      }
      if (a.ok && !via.empty()) a = p.translate(a.text, via, to, c);
      std::lock_guard lock(engine->mutex);
      if (!a.ok) {
        ++engine->failed;
        ++engine->failures;
        engine->last_error = a.error;
        engine->last_error_at = timeutil::now_ms();
        auto wait = std::min<std::int64_t>(c.translate_retry_max_ms, c.translate_retry_base_ms << std::min(engine->failures - 1, 20));
        engine->skip_until = steady_ms() + wait;
        note(name, a.error);
        break;  // the engine failed: on to the next one
      }
      ++engine->ok;
      engine->failures = 0;
      engine->skip_until = 0;
      auto back = restore(a.text, guarded.spans);
      if (!back) {
        note(name, via.empty() ? "lost a protected term" : "lost a protected term via " + via);
        continue;
      }
      out.kind = Outcome::Kind::translated;
      out.provider = std::string(name);
      out.pivot = via;
      out.text = a.text;
      remember(key, out, static_cast<std::size_t>(c.translate_cache_entries));
      out.text = std::move(*back);
      ++counters_.translated;
      return out;
    }
  }
  if (!any_route && !unknown) {
    ++counters_.unsupported;
    out.kind = Outcome::Kind::unsupported;
    out.error = "no engine translates " + std::string(from) + " to " + std::string(to);
    return out;
  }
  ++counters_.failed;
  out.kind = Outcome::Kind::failed;
  out.error = errors.empty() ? "no engine answered" : errors;
  return out;
}

std::vector<Health> Translator::health() {
  auto config = config_.get();
  auto engines = this->engines(*config);
  std::vector<Health> out;
  for (auto& e : engines->list) {
    Health h;
    h.name = std::string(e->provider->name());
    h.pairs = e->provider->pairs();
    h.reachable = e->provider->reachable();
    std::lock_guard lock(e->mutex);
    h.ok = e->ok;
    h.failed = e->failed;
    h.last_error = e->last_error;
    h.last_error_at = e->last_error_at;
    h.backing_off = steady_ms() < e->skip_until;
    out.push_back(std::move(h));
  }
  return out;
}

}  // namespace tourbus::translate
