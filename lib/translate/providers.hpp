// Translation engines behind one interface: Apertium APy (offline, a sidecar on loopback),
// a LibreTranslate-compatible API and DeepL API v2. Each call blocks (libcurl) and is made on the
// translator's worker threads, never on the event loop. Languages are primary subtags ("es").
#pragma once

#include <atomic>
#include <chrono>
#include <memory>
#include <mutex>
#include <set>
#include <string>
#include <string_view>
#include <utility>
#include <vector>

#include "core/config.hpp"

namespace tourbus::translate {

struct Attempt {
  bool ok = false;
  std::string text;   // the translation, when ok
  std::string error;  // why not: "timeout", "HTTP 456: quota exceeded", ...
};

class Provider {
 public:
  virtual ~Provider() = default;
  virtual std::string_view name() const = 0;
  // Whether the engine offers the pair. Engines that list their pairs are asked (then every
  // 10 minutes); nothing is known while they cannot be reached: `reachable` says so.
  virtual bool supports(std::string_view from, std::string_view to, const config::Config& c) = 0;
  virtual Attempt translate(const std::string& text, std::string_view from, std::string_view to, const config::Config& c) = 0;
  // The pairs known so far, as "from>to" (for status and the CLI); never asks the engine.
  virtual std::vector<std::string> pairs() = 0;
  bool reachable() const { return reachable_; }

 protected:
  std::atomic<bool> reachable_{true};
};

// A pair list fetched from the engine, kept for 10 minutes (30 seconds after a failure).
class PairCache {
 public:
  // `fetch` returns the pairs, or false when the engine could not be asked.
  template <class Fetch>
  std::set<std::pair<std::string, std::string>> get(Fetch&& fetch, std::atomic<bool>& reachable) {
    std::lock_guard lock(mutex_);
    auto now = std::chrono::steady_clock::now();
    if (now >= next_) {
      std::set<std::pair<std::string, std::string>> fresh;
      bool ok = fetch(fresh);
      reachable = ok;
      if (ok) pairs_ = std::move(fresh);
      next_ = now + (ok ? std::chrono::minutes(10) : std::chrono::seconds(30));
    }
    return pairs_;
  }
  // What is known now, without asking the engine.
  std::set<std::pair<std::string, std::string>> peek() {
    std::lock_guard lock(mutex_);
    return pairs_;
  }

 private:
  std::mutex mutex_;
  std::chrono::steady_clock::time_point next_{};
  std::set<std::pair<std::string, std::string>> pairs_;
};

// translate.apertium_url: GET /list?q=pairs, POST /translate (form: q, langpair=eng|spa, markUnknown=no).
std::unique_ptr<Provider> make_apertium(std::string url);
// translate.libretranslate_url (+ _key): GET /languages, POST /translate {q, source, target, format}.
std::unique_ptr<Provider> make_libretranslate(std::string url, std::string key);
// translate.deepl_url + deepl_key: POST /v2/translate with Authorization: DeepL-Auth-Key; the
// languages DeepL documents (no list call: it costs nothing to know them).
std::unique_ptr<Provider> make_deepl(std::string url, std::string key);

}  // namespace tourbus::translate
