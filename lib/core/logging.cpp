#include "core/logging.hpp"

#include <cstdlib>
#include <deque>
#include <mutex>

#include <spdlog/sinks/stdout_sinks.h>

namespace tourbus::logging {
namespace {

struct State {
  std::mutex mutex;
  spdlog::sink_ptr sink;
  spdlog::level::level_enum level = spdlog::level::info;
};

State& state() {
  static State s;
  return s;
}

void ensure_sink(State& s) {
  if (s.sink) return;
  s.sink = std::make_shared<spdlog::sinks::stderr_sink_mt>();
  bool journald = std::getenv("JOURNAL_STREAM") != nullptr;
  s.sink->set_pattern(journald ? "%l [%n] %v" : "%Y-%m-%dT%H:%M:%S.%e %l [%n] %v");
}

// The shared logger of a part, created on first use.
std::shared_ptr<spdlog::logger> make(std::string_view part) {
  auto& s = state();
  std::lock_guard lock(s.mutex);
  if (auto l = spdlog::get(std::string(part))) return l;
  ensure_sink(s);
  auto l = std::make_shared<spdlog::logger>(std::string(part), s.sink);
  l->set_level(s.level);
  l->flush_on(spdlog::level::trace);
  spdlog::register_logger(l);
  return l;
}

}  // namespace

void init(std::string_view level) {
  auto& s = state();
  {
    std::lock_guard lock(s.mutex);
    ensure_sink(s);
  }
  set_level(level);
}

bool set_level(std::string_view level) {
  auto lvl = spdlog::level::from_str(std::string(level));
  if (lvl == spdlog::level::off && level != "off") return false;
  auto& s = state();
  std::lock_guard lock(s.mutex);
  s.level = lvl;
  spdlog::apply_all([&](const std::shared_ptr<spdlog::logger>& l) { l->set_level(lvl); });
  return true;
}

const std::shared_ptr<spdlog::logger>& get(std::string_view part) {
  // Each thread keeps the loggers it has asked for, so hot paths log without a lock or an
  // allocation (a deque: what was returned stays where it is).
  thread_local std::deque<std::pair<std::string, std::shared_ptr<spdlog::logger>>> known;
  for (const auto& [name, logger] : known)
    if (name == part) return logger;
  return known.emplace_back(std::string(part), make(part)).second;
}

std::string quoted_field(std::string_view text, std::size_t max) {
  std::string out;
  out.reserve(std::min(text.size(), max) + 8);
  for (char c : text.substr(0, max)) {
    auto u = static_cast<unsigned char>(c);
    if (c == '"' || c == '\\') {
      out += '\\';
      out += c;
    } else if (u < 0x20 || u == 0x7f) {
      static constexpr char kHex[] = "0123456789abcdef";
      out += "\\x";
      out += kHex[u >> 4];
      out += kHex[u & 15];
    } else {
      out += c;
    }
  }
  return out;
}

}  // namespace tourbus::logging
