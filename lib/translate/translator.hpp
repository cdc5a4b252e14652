// The translator: picks the engines for a language pair (translate.routes, else
// translate.providers), tries them in order with pivot chains through translate.pivots where an
// engine lacks the direct pair, protects what must not be translated, caches results, and keeps
// each engine's health (an engine that failed is skipped for a while, doubling up to
// translate.retry_max_ms, so a hanging one costs one timeout, not one per message).
// translate() blocks: call it on a worker thread. Thread-safe.
#pragma once

#include <atomic>
#include <cstdint>
#include <list>
#include <memory>
#include <mutex>
#include <span>
#include <string>
#include <string_view>
#include <unordered_map>
#include <vector>

#include "core/config.hpp"
#include "translate/providers.hpp"

namespace tourbus::translate {

struct Outcome {
  enum class Kind { translated, unsupported, failed };
  Kind kind = Kind::failed;
  std::string text;      // translated: with protected spans back in place
  std::string provider;  // which engine
  std::string pivot;     // the language in between on a pivot chain; empty: direct
  std::string error;     // failed: each engine's reason, "apertium: timeout; deepl: HTTP 456 ..."
  bool cached = false;
};

struct Health {
  std::string name;
  bool reachable = true;
  bool backing_off = false;  // skipped after failures until it is due again
  std::uint64_t ok = 0, failed = 0;
  std::string last_error;
  std::int64_t last_error_at = 0;  // ms since the epoch
  std::vector<std::string> pairs;
};

struct Counters {
  std::atomic<std::uint64_t> translated{0}, cache_hits{0}, failed{0}, unsupported{0};
};

// The engines to try for a pair, by name, from translate.routes ("en>it=deepl|apertium, *>de=deepl")
// or else translate.providers.
std::vector<std::string> engines_for(const config::Config& c, std::string_view from, std::string_view to);

class Translator {
 public:
  explicit Translator(config::Holder& config);
  ~Translator();

  Outcome translate(const std::string& text, std::string_view from, std::string_view to, std::span<const std::string> terms);
  std::vector<Health> health();
  const Counters& counters() const { return counters_; }
  // Whether any engine is configured (translate.providers or translate.routes name one).
  bool enabled() const;

 private:
  struct Engine;
  struct Engines;
  std::shared_ptr<Engines> engines(const config::Config& c);
  std::optional<Outcome> cached(const std::string& key);
  void remember(const std::string& key, const Outcome& o, std::size_t capacity);

  config::Holder& config_;
  std::mutex mutex_;
  std::shared_ptr<Engines> engines_;
  std::list<std::pair<std::string, Outcome>> lru_;
  std::unordered_map<std::string, std::list<std::pair<std::string, Outcome>>::iterator> index_;
  Counters counters_;
};

}  // namespace tourbus::translate
